#!/usr/bin/env bash
# Installs the Debian bookworm packages starstream builds, tests and runs with.
# Idempotent: installs only what is missing, so the README's commands can call it every time.
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config
  # libraries
  librdkafka-dev libpq-dev libpqxx-dev libboost-dev libboost-program-options-dev
  libspdlog-dev nlohmann-json3-dev prometheus-cpp-dev libsimdjson-dev
  libxxhash-dev libgeoip-dev libyaml-cpp-dev libgtest-dev libre2-dev libpsl-dev libmaxminddb-dev
  libhowardhinnant-date-dev libssl-dev
  # reference data
  uap-core geoip-database publicsuffix tzdata
  # servers and independent clients used by the demo and the tests
  postgresql-15 postgresql-client-15 python3 python3-kafka python3-psycopg2 python3-geoip kcat
  python3-ua-parser geoip-bin mmdb-bin libmaxmind-db-writer-perl
  openssl  # the test CA and broker certificate of the SASL_SSL tests
  # benchmarks and checks
  time shellcheck prometheus systemd docker-compose python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
