"""Enrichment against independent references (issue 3): 20,000 generated events through
starstreamd, then every fact's country, browser and OS compared with what Python computes on its
own (the GeoIP bindings and geoiplookup over geoip-database, python3-ua-parser over uap-core's
rules), and the city database, store, referrer, product and time-zone rules checked row by row.
A second class checks what later runs do to dimensions: corrections in place (SCD type 1), no
rewrite of unchanged rows, and a refused change of the reporting time zone."""
import json
import os
import re
import shutil
import subprocess
import unittest
import zoneinfo

import expectations as expect
import harness

EVENTS = 20_000
START = 1588500000  # 2020-05-03 10:00 UTC
ZONE = "Asia/Ho_Chi_Minh"  # the replay's shop clock, UTC+7: dates differ from UTC's for 7 hours a day
MAKE_MMDB = os.path.join(harness.SOURCE_DIR, "tests", "support", "make_city_mmdb.pl")


def rate(pairs):
    """Share of (got, want) pairs that agree, and the first few that do not."""
    pairs = list(pairs)
    misses = [p for p in pairs if p[0] != p[1]]
    return 1 - len(misses) / len(pairs), misses[:5]


class Enrichment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-enrich-", 8, EVENTS, start_time=START, span_seconds=20 * 3600)
        cls.events, _ = expect.read_jsonl(cls.jsonl)
        cls.city_networks = cls.write_city_database()
        cls.dsn = cls.pg.create_database("enrich")
        cls.daemon = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, **{
            "source.stop_when_caught_up": "true", "time.reporting_time_zone": ZONE,
            "enrichment.city_database": cls.mmdb})
        cls.facts = {row[0]: row[1:] for row in harness.query(cls.dsn, """
            SELECT f.event_id::text, l.country_code, l.region, l.city, u.browser_family, u.os_family, f.date_key, f.hour
            FROM fact_event f JOIN dim_location l USING (location_key) JOIN dim_user_agent u USING (user_agent_key)""")}

    @classmethod
    def write_city_database(cls):
        """A city database covering 40 of the events' IPv4 addresses, 5 of them with a country that
        disagrees with geoip-database's; returns {ip: (country, region, city)} as written."""
        ips = sorted({e["ip"] for e in cls.events if e.get("ip") and ":" not in e["ip"] and expect.country(e["ip"]) != "ZZ"})[:40]
        networks = {}
        for i, ip in enumerate(ips):
            country = expect.country(ip) if i >= 5 else "AQ"
            networks[ip] = (country, f"Region {i}", f"City {i}")
        cls.mmdb = os.path.join(cls.tmp, "city.mmdb")
        document = [{"network": f"{ip}/32", "country": c, "region": r, "city": city} for ip, (c, r, city) in networks.items()]
        subprocess.run(["perl", MAKE_MMDB, cls.mmdb], input=json.dumps(document), text=True, check=True)
        return networks

    def test_daemon_exits_cleanly(self):
        self.assertEqual(self.daemon.returncode, 0, self.daemon.stderr[-3000:])
        self.assertEqual(len(self.facts), len(self.events))

    def test_country_browser_and_os_agree_row_by_row(self):
        checks = {
            "country": lambda e, f: (f[0], expect.country(e.get("ip"))),
            "browser": lambda e, f: (f[3], expect.user_agent(e.get("user_agent"))[0]),
            "os": lambda e, f: (f[4], expect.user_agent(e.get("user_agent"))[1]),
        }
        for name, check in checks.items():
            agreement, misses = rate(check(e, self.facts[e["id"].lower()]) for e in self.events)
            print(f"{name}: {agreement:.4%} of {len(self.events)} facts agree with the independent reference")
            self.assertGreaterEqual(agreement, 0.99, f"{name}: first disagreements (ours, reference): {misses}")

    def test_geoiplookup_agrees_on_a_sample_of_addresses(self):
        stored = dict(harness.query(self.dsn, "SELECT DISTINCT host(f.ip), l.country_code FROM fact_event f JOIN dim_location l USING (location_key)"
                                              " WHERE f.ip IS NOT NULL AND family(f.ip) = 4 ORDER BY 1 LIMIT 60"))
        for ip, ours in stored.items():
            out = subprocess.run(["geoiplookup", ip], capture_output=True, text=True, check=True).stdout
            match = re.search(r"Country Edition: ([A-Z0-9-]{2}),", out)
            theirs = match.group(1) if match and match.group(1) not in expect.PSEUDO_COUNTRIES else "ZZ"
            self.assertEqual(ours, theirs, f"{ip}: {out}")

    def test_city_database_fills_region_and_city_when_countries_agree(self):
        by_ip = {e["ip"]: self.facts[e["id"].lower()] for e in self.events if e.get("ip") in self.city_networks}
        self.assertEqual(len(by_ip), len(self.city_networks))
        for ip, (country, region, city) in self.city_networks.items():
            fact = by_ip[ip]
            if country == "AQ":  # the city database disagrees with geoip-database: keep the country only
                self.assertEqual((fact[1], fact[2]), ("", ""), ip)
                self.assertEqual(fact[0], expect.country(ip))
            else:
                self.assertEqual(fact[:3], (country, region, city), ip)
        # dim_location is a geography: one row per (country, region, city), never NULL
        rows, distinct = harness.query(self.dsn, "SELECT count(*), count(DISTINCT (country_code, region, city)) FROM dim_location")[0]
        self.assertEqual(rows, distinct)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_event WHERE location_key IS NULL"), 0)

    def test_dates_and_hours_are_in_the_reporting_time_zone(self):
        zone = zoneinfo.ZoneInfo(ZONE)
        agreement, misses = rate(((f[5], f[6]), (expect.date_key(e["time_stamp"], zone), expect.hour_of(e["time_stamp"], zone)))
                                 for e in self.events for f in [self.facts[e["id"].lower()]])
        self.assertEqual(agreement, 1.0, misses)
        self.assertEqual(harness.scalar(self.dsn, "SELECT value FROM starstream.setting WHERE name = 'reporting_time_zone'"), ZONE)
        row = harness.query(self.dsn, "SELECT iso_week, weekday, weekday_name, is_weekend, quarter FROM dim_date WHERE date_key = 20200503")[0]
        self.assertEqual(row, (18, 7, "Sunday", True, 2))

    def test_stores_are_registrable_domains_with_their_tld_country(self):
        want = expect.earliest(self.events, lambda e: e["store_id"], lambda e: expect.registrable_domain(expect.host(e.get("current_url"))))
        got = {s: (d, c) for s, d, c in harness.query(self.dsn, "SELECT store_id, domain, country_code FROM dim_store")}
        self.assertEqual(set(got), set(want))
        tld_country = {"uk": "GB"}
        for store, domain in want.items():
            tld = domain.rsplit(".", 1)[-1]
            country = tld_country.get(tld, tld.upper()) if len(tld) == 2 and tld != "eu" else None
            self.assertEqual(got[store], (domain, country), store)
        self.assertTrue(any(expect.host(e.get("current_url")).startswith("staging.") for e in self.events))
        self.assertIn(("shop.co.uk", "GB"), got.values())
        self.assertIn(("shop.com", None), got.values())

    def test_referrers_are_registrable_domains_with_channels(self):
        want = {expect.referrer(e) for e in self.events}
        got = set(harness.query(self.dsn, "SELECT domain, channel FROM dim_referrer"))
        self.assertEqual(got, want)
        self.assertEqual({c for _, c in got}, {"direct", "search", "social", "email", "internal", "other"})
        self.assertIn(("google.com", "email"), got)  # mail.google.com: same domain as search, another member

    def test_products_come_from_viewing_product_id_and_stay_inferred_until_seen(self):
        want_urls = expect.earliest(self.events, lambda e: e.get("product_id"), lambda e: expect.canonical_url(e.get("current_url")))
        products = {p: (url, inferred) for p, url, inferred in harness.query(self.dsn, "SELECT product_id, product_url, is_inferred FROM dim_product")}
        viewed_only = {e["viewing_product_id"] for e in self.events if e["collection"] == "product_view_all_recommend_clicked"} - set(want_urls)
        self.assertTrue(viewed_only, "the run should contain products seen only through viewing_product_id")
        for p in viewed_only:
            self.assertEqual(products[p], (None, True), p)
        for p, url in want_urls.items():
            self.assertEqual(products[p], (url, False), p)
            self.assertNotIn("?", url)
        clicks = harness.query(self.dsn, """
            SELECT count(*), count(p.product_key) FROM fact_event f JOIN dim_collection c USING (collection_key)
            LEFT JOIN dim_product p USING (product_key) WHERE c.collection = 'product_view_all_recommend_clicked'""")[0]
        self.assertGreater(clicks[0], 0)
        self.assertEqual(clicks[0], clicks[1])


class LaterRuns(unittest.TestCase):
    """Dimensions over several runs on the same stack: a replay rewrites nothing, a newer
    regexes.yaml corrects user agents in place, a new reporting time zone is refused."""

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-enrich-later-", 4, 2000, start_time=START, span_seconds=3600)
        cls.dsn = cls.pg.create_database("later")
        cls.first = cls.run(1)

    @classmethod
    def run(cls, number, **keys):
        return harness.run_daemon(cls.dsn, cls.kafka.bootstrap, group=f"later-{number}", **{"source.stop_when_caught_up": "true", **keys})

    def replay(self, **keys):
        """Produces the same 2,000 events again (same ids: duplicates) and consumes them."""
        harness.generate(2000, os.path.join(self.tmp, "again.jsonl"), brokers=self.kafka.bootstrap, start_time=START, span_seconds=3600)
        return self.run(os.urandom(4).hex(), **keys)

    def row_versions(self):
        """{(table, natural key): xmin}: a rewritten row gets a new xmin."""
        versions = {}
        for table, key in [("dim_store", "store_id"), ("dim_product", "product_id"), ("dim_location", "location_key"),
                           ("dim_user_agent", "user_agent_key"), ("dim_referrer", "referrer_key"), ("dim_collection", "collection")]:
            for natural, xmin in harness.query(self.dsn, f"SELECT {key}::text, xmin::text FROM {table}"):
                versions[(table, natural)] = xmin
        return versions

    def test_later_runs(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr[-3000:])
        facts = harness.scalar(self.dsn, "SELECT count(*) FROM fact_event")

        # 1. A replay of the same events changes no dimension row (IS DISTINCT FROM skips them).
        before = self.row_versions()
        replay = self.replay()
        self.assertEqual(replay.returncode, 0, replay.stderr[-3000:])
        self.assertEqual(self.row_versions(), before)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_event"), facts)

        # 2. A newer rule file corrects the parse in place: same keys, new attributes (SCD type 1).
        regexes = os.path.join(self.tmp, "regexes.yaml")
        with open("/usr/share/uap-core/regexes.yaml") as src, open(regexes, "w") as dst:
            for line in src:
                dst.write(line)
                if line.startswith("user_agent_parsers:"):
                    dst.write("  - regex: '(Chrome)/(\\d+)\\.(\\d+)\\.(\\d+)'\n    family_replacement: 'Chrome (corrected)'\n")
        keys_before = dict(harness.query(self.dsn, "SELECT user_agent, user_agent_key FROM dim_user_agent"))
        corrected = self.replay(**{"enrichment.user_agent_regexes": regexes})
        self.assertEqual(corrected.returncode, 0, corrected.stderr[-3000:])
        rows = harness.query(self.dsn, "SELECT user_agent, user_agent_key, browser_family FROM dim_user_agent")
        self.assertEqual({ua: key for ua, key, _ in rows}, keys_before)
        chrome = [(ua, family) for ua, _, family in rows if re.search(r"Chrome/\d+\.\d+\.\d+", ua)]
        self.assertTrue(chrome)
        for ua, family in chrome:
            self.assertEqual(family, "Chrome (corrected)", ua)

        # 3. Another reporting time zone is refused while facts exist, naming the key; nothing is written.
        batches = harness.scalar(self.dsn, "SELECT count(*) FROM starstream.batch")
        refused = self.run("zone", **{"time.reporting_time_zone": "Europe/Berlin"})
        self.assertEqual(refused.returncode, 2, refused.stderr[-3000:])
        self.assertIn("time.reporting_time_zone", refused.stderr)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM starstream.batch"), batches)
        self.assertEqual(harness.scalar(self.dsn, "SELECT value FROM starstream.setting WHERE name = 'reporting_time_zone'"), "UTC")


if __name__ == "__main__":
    unittest.main(verbosity=2)
