#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds, starts a throwaway
# PostgreSQL (.state/demo/pg, free loopback port) and librdkafka's mock Kafka cluster,
# produces realistic product_view events, runs starstreamd until every event is in the star
# schema, then prints the nine reports and where to look next.
# Knobs (environment): EVENTS (default 200000), PARTITIONS (24), SEED (42).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-200000}
partitions=${PARTITIONS:-24}
seed=${SEED:-42}
state="$(pwd)/.state/demo"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
echo "== built build/daemon/starstreamd"
# A fresh database on every run: the demo is repeatable.
start_local_stack "$state" "$partitions"
trap 'kill "$kafka_pid" 2>/dev/null || true' EXIT
port=$pg_port
echo "== PostgreSQL 15 on 127.0.0.1:$port (data in $state/pg)"
echo "== mock Kafka: 3 brokers, topic product_view with $partitions partitions at $bootstrap"

echo "== producing $events events (0.5 % malformed, 0.5 % duplicates) ..."
build/bench/starstream-generate --events "$events" --seed "$seed" --brokers "$bootstrap" \
  --jsonl "$state/events.jsonl" --malformed-share 0.005 --duplicate-share 0.005 --out-of-order-seconds 30 \
  | tee "$state/generator.json"

echo "== running starstreamd until caught up (log: $state/starstreamd.log) ..."
start_ms=$(($(date +%s%N) / 1000000))
build/daemon/starstreamd run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" \
  --source.stop_when_caught_up=true --log.progress_interval_ms=2000 2>&1 | tee "$state/starstreamd.log" | grep -E "progress|stopped|error|critical" || true
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))

psql_cmd=(psql -X -h 127.0.0.1 -p "$port" -U postgres -d starstream)
facts=$("${psql_cmd[@]}" -qAtc "SELECT count(*) FROM fact_event")
dead=$("${psql_cmd[@]}" -qAtc "SELECT count(*) FROM starstream.dead_letter")
dups=$("${psql_cmd[@]}" -qAtc "SELECT coalesce(sum(duplicates), 0) FROM starstream.batch")
echo "== star schema: $facts facts, $dead dead letters, $dups duplicates dropped, daemon ran $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s"

for report in sql/reports/*.sql; do
  echo
  echo "== $(basename "$report"): $(sed -n '1s/^-- //p' "$report")"
  "${psql_cmd[@]}" -q -f "$report" | sed -n "1,30p"  # sed reads all: no SIGPIPE under pipefail
done

cat <<TXT

== Where to look next
  The database is still running. Query it:   ${psql_cmd[*]}
  Dead letters and why:                      SELECT reason, count(*) FROM starstream.dead_letter GROUP BY 1;
  Checkpoint (next offset per partition):    SELECT * FROM starstream.progress ORDER BY partition;
  A report for another day:                  ${psql_cmd[*]} -v day=2026-01-31 -f sql/reports/01_top_products_today.sql
  Daemon log:                                $state/starstreamd.log
  Configuration reference:                   config/starstreamd.conf.example
  Stop the database:                         tests/support/local_postgres.sh stop $state/pg
TXT
