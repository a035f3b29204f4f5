#!/usr/bin/env bash
# starstream-load's throughput (bench/results.md, "Loader"): a generated Kaggle-style commerce
# CSV (bench/loader/commerce_csv.py, every row valid) loaded into librdkafka's mock cluster
# (3 brokers, lz4, idempotent producer), from start until every delivery report is in.
# Prints the loader's JSON summary and peak RSS.
#   bash bench/loader_benchmark.sh          # 2,000,000 rows, 24 partitions, keyed by user
# Knobs (environment): ROWS, PARTITIONS, KEY (user, session, none), FORMAT (csv, or jsonl: the
# same rows in the seed producer's JSON shape).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-2000000}
partitions=${PARTITIONS:-24}
key=${KEY:-user}
format=${FORMAT:-csv}
state="$(pwd)/.state/bench-loader"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target starstream-load starstream-mock-kafka >/dev/null
mkdir -p "$state"
input="$state/events-$rows.$format"
[ -s "$input" ] || /usr/bin/python3 bench/loader/commerce_csv.py --rows "$rows" --format "$format" --out "$input"

rm -f "$state/bootstrap"
build/tests/starstream-mock-kafka --brokers 3 --partitions "$partitions" --topic commerce_events \
  --bootstrap-file "$state/bootstrap" >"$state/mock-kafka.log" 2>&1 &
kafka_pid=$!
trap 'kill "$kafka_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$state/bootstrap" ] && break; sleep 0.1; done
[ -s "$state/bootstrap" ] || { echo "mock Kafka did not start; see $state/mock-kafka.log" >&2; exit 1; }
bootstrap=$(cat "$state/bootstrap")

/usr/bin/time -v -o "$state/time.txt" build/bench/starstream-load --brokers "$bootstrap" --topic commerce_events --key "$key" \
  --rejects "$state/rejects.jsonl" "$input"
echo "peak_rss_mib=$(($(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$state/time.txt") / 1024))"
