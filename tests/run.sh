#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian packages), builds, runs every unit
# and integration test with CTest. Integration tests start their own PostgreSQL and mock
# Kafka on loopback and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
cd build
ctest --output-on-failure --timeout 1500 "$@"
