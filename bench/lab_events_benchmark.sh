#!/usr/bin/env bash
# A spec pipeline end to end: lab events (EVENTS.md section 3, tests/support/lab_events.py:
# unkeyed, out of order, 2.5 % duplicates, 1 % malformed) produced beforehand into the mock
# Kafka, then `starstreamd --pipelines.run=lab_events` (pipelines/lab_events.yaml alone: an SCD
# type 2 item dimension, a user dimension, the fact, revenue per minute with exact distinct
# buyers) from start to caught up on a durable PostgreSQL (fsync on). Reports events/s (wall and
# sustained, as bench/e2e_benchmark.sh) and peak RSS; appends a row to bench/spec_results.md.
#   bash bench/lab_events_benchmark.sh      # 200,000 events over 24 partitions
# Knobs (environment): EVENTS, PARTITIONS, MAX_RECORDS (batch.max_records), EXTRA (more daemon flags),
# PG_PROFILE=1 (the statements that took the most PostgreSQL time).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-200000}
partitions=${PARTITIONS:-24}
max_records=${MAX_RECORDS:-25000}
state="$(pwd)/.state/bench-lab"
read -r -a extra <<<"${EXTRA:-}"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
pg_profile_setup
LOCAL_PG_DURABLE=1 start_local_stack "$state" "$partitions" lab_events
pg_profile_reset
trap 'kill "$kafka_pid" 2>/dev/null || true; tests/support/local_postgres.sh stop "$state/pg"' EXIT

/usr/bin/python3 tests/support/lab_events.py --events "$events" --partitions "$partitions" --out "$state" >"$state/generator.json"
messages=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$state/generator.json")
for ((p = 0; p < partitions; p++)); do
  kcat -P -b "$bootstrap" -t lab_events -p "$p" -l "$state/p$p.jsonl"
done
build/daemon/starstreamd migrate --postgres.dsn="$dsn" >/dev/null 2>&1

spec_bench_run "$state/starstreamd.log" "$messages" "lab_events (spec) | $messages | $partitions | $max_records | ${EXTRA:-}" \
  --pipelines.run=lab_events --batch.max_records="$max_records" --time.allowed_out_of_orderness_ms=$((40 * 86400 * 1000)) "${extra[@]}"
