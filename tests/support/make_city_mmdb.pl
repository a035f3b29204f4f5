#!/usr/bin/perl
# Builds a small MaxMind-format city database for tests, with libmaxmind-db-writer-perl.
# Usage: make_city_mmdb.pl OUT.mmdb < networks.json
# networks.json: [{"network": "93.184.216.0/24", "country": "US", "region": "California", "city": "Los Angeles"}, ...]
# Records have the GeoLite2-City shape: country.iso_code, subdivisions[0].names.en, city.names.en.
use strict;
use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb < networks.json\n";
my $networks = decode_json(do { local $/; <STDIN> });

my %types = (
    country => 'map', iso_code => 'utf8_string', city => 'map', names => 'map', en => 'utf8_string',
    subdivisions => ['array', 'map'],
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 28,
    database_type         => 'GeoLite2-City',
    languages             => ['en'],
    description           => { en => 'starstream test city database' },
    map_key_type_callback => sub { $types{ $_[0] } },
);
for my $n (@$networks) {
    $tree->insert_network($n->{network}, {
        country      => { iso_code => $n->{country} },
        subdivisions => [ { names => { en => $n->{region} } } ],
        city         => { names => { en => $n->{city} } },
    });
}
open my $fh, '>:raw', $out or die "cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot write $out: $!\n";
