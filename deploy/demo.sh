#!/usr/bin/env bash
# The main job on the embedded default, two pipelines at once: installs what is missing, builds,
# starts a throwaway PostgreSQL (.state/demo/pg, free loopback port) and librdkafka's mock Kafka
# cluster (topics product_view and commerce_events), produces realistic product_view events,
# generates a REES46-style commerce CSV and loads it with starstream-load, runs starstreamd with
# both pipelines until every event is in the star schema, then prints the nine product_view
# reports, the four commerce reports, the loader's rejects and where to look next.
# Knobs (environment): EVENTS (product_view messages, default 200000), COMMERCE_EVENTS (commerce
# CSV rows, default 100000), COMMERCE_DAYS (days the commerce events span, default 3: about the
# REES46 sample's 30,000 events a day), PARTITIONS (per topic, 24), SEED (42).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-200000}
commerce_events=${COMMERCE_EVENTS:-100000}
commerce_days=${COMMERCE_DAYS:-3}
partitions=${PARTITIONS:-24}
seed=${SEED:-42}
state="$(pwd)/.state/demo"
disorder_seconds=120  # commerce events move back in time by up to this (out of order)

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
echo "== built build/daemon/starstreamd"
# A fresh database on every run: the demo is repeatable.
start_local_stack "$state" "$partitions" product_view commerce_events
trap 'kill "$kafka_pid" 2>/dev/null || true' EXIT
port=$pg_port
echo "== PostgreSQL 15 on 127.0.0.1:$port (data in $state/pg)"
echo "== mock Kafka: 3 brokers, topics product_view and commerce_events with $partitions partitions each at $bootstrap"

echo "== producing $events product_view events (0.5 % malformed, 0.5 % duplicates) ..."
build/bench/starstream-generate --events "$events" --seed "$seed" --brokers "$bootstrap" \
  --jsonl "$state/events.jsonl" --malformed-share 0.005 --duplicate-share 0.005 --out-of-order-seconds 30 \
  | tee "$state/generator.json"

# The commerce events end now, so that the daemon's watermark and the reports see a live shop.
commerce_start=$(($(date +%s) - commerce_days * 86400))
echo "== generating $commerce_events commerce events over $commerce_days days (1 % malformed rows, 1 % resent duplicates) into $state/commerce.csv ..."
build/bench/starstream-generate --event-type commerce --events "$commerce_events" --seed "$seed" --start-time "$commerce_start" \
  --span-seconds $((commerce_days * 86400)) --csv "$state/commerce.csv" --malformed-share 0.01 --duplicate-share 0.01 \
  --same-second-share 0.005 --out-of-order-seconds "$disorder_seconds" | tee "$state/commerce-generator.json"
echo "== loading them into commerce_events with starstream-load (keyed by user; rejected rows in $state/commerce.rejects.jsonl) ..."
build/bench/starstream-load --brokers "$bootstrap" --topic commerce_events --key user --rejects "$state/commerce.rejects.jsonl" \
  "$state/commerce.csv" | tee "$state/loader.json"

echo "== running starstreamd (pipelines product_view and commerce_events) until caught up (log: $state/starstreamd.log) ..."
# Each pipeline has its own consumer in the group and leaves it once caught up; the mock cluster
# then holds the other pipeline's rebalance until the leaver's session times out (45 s by default),
# hence a short session timeout here, as the integration tests of two pipelines have.
start_ms=$(($(date +%s%N) / 1000000))
build/daemon/starstreamd run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" --pipelines.run=product_view,commerce_events \
  --kafka.session.timeout.ms=6000 --kafka.heartbeat.interval.ms=1000 \
  --source.stop_when_caught_up=true --log.progress_interval_ms=2000 2>&1 | tee "$state/starstreamd.log" | grep -E "progress|stopped|error|critical" || true
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))

psql_cmd=(psql -X -h 127.0.0.1 -p "$port" -U postgres -d starstream)
count() { "${psql_cmd[@]}" -qAtc "$1"; }
dead_letters="SELECT count(*) FROM starstream.dead_letter WHERE topic ="
echo "== star schema: product_view $(count "SELECT count(*) FROM fact_event") facts and $(count "$dead_letters 'product_view'") dead letters;" \
  "commerce $(count "SELECT count(*) FROM fact_commerce_event") facts, $(count "$dead_letters 'commerce_events'") dead letters and" \
  "$(count "SELECT count(*) FROM customer_profile") customer profiles; $(count "SELECT coalesce(sum(duplicates), 0) FROM starstream.batch")" \
  "duplicates dropped; daemon ran $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s"

# print_report FILE [PSQL ARGS...]: the report's first line as its title, then its first 30 lines
# and how many more there are.
print_report() {
  local report=$1 output lines
  shift
  echo
  echo "== $(basename "$report"): $(sed -n '1s/^-- //p' "$report")"
  output=$("${psql_cmd[@]}" -q "$@" -f "$report")
  lines=$(wc -l <<<"$output")
  head -n 30 <<<"$output"
  if [ "$lines" -gt 30 ]; then echo "   ... $((lines - 30)) more lines: ${psql_cmd[*]} $* -f $report"; fi
}

# The reporting day whose hourly windows are final: today's, except in the first hour after
# midnight (then no 1 h window of today has closed yet and the trending report would be empty).
day=$(count "SELECT ((SELECT watermark FROM starstream.window_watermark) - interval '1 hour') AT TIME ZONE
  coalesce((SELECT value FROM starstream.setting WHERE name = 'reporting_time_zone'), 'UTC')")
day=${day%% *}
for report in sql/reports/*.sql; do print_report "$report" ${day:+-v day="$day"}; done

# The commerce reports take a range: the generated span (its first events moved back by the
# disorder), today included.
commerce_from=$(date -u -d "@$((commerce_start - disorder_seconds))" +%F)
commerce_to=$(date -u +%F)
echo
echo "== commerce reports from $commerce_from to $commerce_to (sql/reports/commerce/)"
for report in sql/reports/commerce/*.sql; do print_report "$report" -v from="$commerce_from" -v to="$commerce_to"; done

echo
echo "== starstream-load: $(grep -o '"sent":[0-9]*' "$state/loader.json" | cut -d: -f2) rows sent," \
  "$(grep -o '"rejected":[0-9]*' "$state/loader.json" | cut -d: -f2) rejected (never sent; each with its line and reason in $state/commerce.rejects.jsonl):"
grep -o '"rejected_by_reason":{[^}]*}' "$state/loader.json" | sed 's/^"rejected_by_reason":{//; s/}$//' | tr ',' '\n' | tr -d '"' |
  awk -F: 'NF == 2 { printf "   %-22s %s\n", $1, $2 }'

cat <<TXT

== Where to look next
  The database is still running. Query it:   ${psql_cmd[*]}
  Dead letters and why:                      SELECT topic, reason, count(*) FROM starstream.dead_letter GROUP BY 1, 2;
  Checkpoint (next offset per partition):    SELECT * FROM starstream.progress ORDER BY topic, partition;
  A report for another day:                  ${psql_cmd[*]} -v day=2026-01-31 -f sql/reports/01_top_products_today.sql
  Customer profiles and segments:            SELECT segment, count(*) FROM customer_profile GROUP BY 1 ORDER BY 2 DESC;
  A commerce report for another range:       ${psql_cmd[*]} -v from=$commerce_from -v to=$commerce_from -f sql/reports/commerce/commerce_funnel.sql
  Daemon log:                                $state/starstreamd.log
  Configuration reference:                   config/starstreamd.conf.example
  Stop the database:                         tests/support/local_postgres.sh stop $state/pg
TXT
