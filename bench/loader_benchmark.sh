#!/usr/bin/env bash
# starstream-load's throughput (bench/results.md, "Loader"): a Kaggle-style commerce CSV from
# `starstream-generate --event-type commerce` (seed 1, every row valid) loaded into librdkafka's
# mock cluster (3 brokers, lz4, idempotent producer), from start until every delivery report is in.
# Prints the loader's JSON summary and peak RSS.
#   bash bench/loader_benchmark.sh          # 2,000,000 rows, 24 partitions, keyed by user
# Knobs (environment): ROWS, PARTITIONS, KEY (user, session, none), FORMAT (csv, or jsonl: the
# same rows as the generator's JSON messages, the seed producer's shape).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-2000000}
partitions=${PARTITIONS:-24}
key=${KEY:-user}
format=${FORMAT:-csv}
state="$(pwd)/.state/bench-loader"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target starstream-load starstream-generate starstream-mock-kafka >/dev/null
mkdir -p "$state"
input="$state/events-$rows.$format"
[ -s "$input" ] || build/bench/starstream-generate --event-type commerce --events "$rows" --seed 1 --start-time 1600000000 \
  --span-seconds 2592000 --"$format" "$input" >/dev/null

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
