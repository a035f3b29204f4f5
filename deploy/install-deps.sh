#!/usr/bin/env bash
# Installs the Debian bookworm packages starstream builds, runs and tests with. This script and
# deploy/runtime-packages.txt are the only lists of them: the Dockerfile's stages run it too, so
# the image, CMakeLists.txt and a development machine cannot drift apart
# (tests/integration/test_container_image.py builds the image from them).
#   install-deps.sh            everything: build, runtime, the tests' servers and tools (the README's commands)
#   install-deps.sh --build    compiler and -dev packages only (the Dockerfile's build stage)
#   install-deps.sh --runtime  deploy/runtime-packages.txt only (the Dockerfile's runtime stage)
# Idempotent: installs only what is missing, so the README's commands can call it every time.
set -euo pipefail
here=$(dirname "$0")

# What CMakeLists.txt finds (pkg_check_modules, find_package): one -dev package each.
build_packages=(
  g++ cmake make pkg-config
  librdkafka-dev libpq-dev libboost-dev libboost-program-options-dev
  libspdlog-dev nlohmann-json3-dev prometheus-cpp-dev libsimdjson-dev
  libxxhash-dev libgeoip-dev libyaml-cpp-dev libgtest-dev libre2-dev libpsl-dev libmaxminddb-dev
  libhowardhinnant-date-dev libssl-dev
)

# Servers, clients and checkers of the demo, the tests and the benchmarks (never in the image).
tool_packages=(
  postgresql-15 postgresql-client-15 python3 python3-kafka python3-psycopg2 python3-geoip kcat
  python3-ua-parser geoip-bin mmdb-bin libmaxmind-db-writer-perl
  openssl  # the test CA and broker certificate of the SASL_SSL tests
  time shellcheck prometheus systemd docker-compose python3-yaml
  podman mmdebstrap  # the container image test: a local base image and a real build, no Docker engine
)

# The runtime list without comments and blank lines.
runtime_packages() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/runtime-packages.txt"
}

# (process substitution hides a failure from set -e: a missing list must stop here)
[ "${1:-}" = --build ] || [ -r "$here/runtime-packages.txt" ] || { echo "install-deps.sh: $here/runtime-packages.txt is missing" >&2; exit 1; }
case "${1:-}" in
  --build) packages=("${build_packages[@]}") ;;
  --runtime) mapfile -t packages < <(runtime_packages) ;;
  "") mapfile -t packages < <(runtime_packages); packages+=("${build_packages[@]}" "${tool_packages[@]}") ;;
  *) echo "usage: $0 [--build | --runtime]" >&2; exit 2 ;;
esac

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
