#!/usr/bin/env bash
# Several instances in one consumer group, and the cost of bisection (issue 12).
# Events are produced beforehand into the mock Kafka (spread over PARTITIONS, event time over
# SPAN_SECONDS); then INSTANCES starstreamd processes in one group consume until every message
# is committed, on a durable PostgreSQL (fsync on). With REJECT_PER_MILLE=n, a CHECK constraint
# on fact_event refuses about n per mille of the events (chosen by a hash of the event id, so the
# generator knows nothing of it): every batch then goes through bisection.
#   bash bench/instances_benchmark.sh                      # 1 instance, 400,000 events, 48 partitions
#   INSTANCES=3 bash bench/instances_benchmark.sh
#   REJECT_PER_MILLE=1 bash bench/instances_benchmark.sh   # 0.1 % rejected by Postgres
# Prints one line; bench/results.md ("Instances and bisection") keeps the runs worth keeping
# (its "All runs" table belongs to e2e_benchmark.sh, whose columns differ).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-400000}
partitions=${PARTITIONS:-48}
instances=${INSTANCES:-1}
reject=${REJECT_PER_MILLE:-0}
span_seconds=${SPAN_SECONDS:-54000}
state="$(pwd)/.state/bench-instances"
read -r -a extra <<<"${EXTRA:-}"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
LOCAL_PG_DURABLE=1 start_local_stack "$state" "$partitions"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "$kafka_pid" 2>/dev/null || true
  tests/support/local_postgres.sh stop "$state/pg"
}
trap cleanup EXIT

produce_bench_events "$state" "$events" "$span_seconds"
if [ "$reject" != 0 ]; then
  "${bench_psql[@]}" -c "ALTER TABLE fact_event ADD CONSTRAINT bench_rejects CHECK (abs(hashtext(event_id::text)) % 1000 >= $reject)"
fi

start_ms=$(($(date +%s%N) / 1000000))
for i in $(seq "$instances"); do
  build/daemon/starstreamd run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" --kafka.group.id=bench \
    --instance.id="bench-$i" --http.port=0 "${extra[@]}" >"$state/starstreamd-$i.log" 2>&1 &
  pids+=($!)
done
# Done when every message is committed (facts, dead letters and duplicates counted per batch).
while [ "$("${bench_psql[@]}" -c "SELECT coalesce(sum(records), 0) FROM starstream.batch")" != "$events" ]; do
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "an instance exited; see $state" >&2; exit 1; }; done
  sleep 0.2
done
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
rejected=$("${bench_psql[@]}" -c "SELECT count(*) FROM starstream.dead_letter WHERE sqlstate IS NOT NULL")
batches=$("${bench_psql[@]}" -c "SELECT count(*) || ' batches from ' || count(DISTINCT instance_id) || ' instances' FROM starstream.batch")
rate=$((events * 1000 / elapsed_ms))
echo "instances=$instances reject_per_mille=$reject events=$events elapsed_ms=$elapsed_ms events_per_s=$rate rejected=$rejected ($batches)"
