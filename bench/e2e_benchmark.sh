#!/usr/bin/env bash
# End-to-end benchmark: events produced beforehand into the mock Kafka, then starstreamd from
# start to caught up (every message committed to the star schema), on a durable PostgreSQL
# (fsync on). Reports sustained events/s, the daemon's peak RSS, and the ceiling measured in
# the same run: a binary COPY of the same fact rows straight into a copy of fact_event.
#   bash bench/e2e_benchmark.sh            # 400,000 events over 48 partitions
# Knobs (environment): EVENTS, PARTITIONS, MAX_RECORDS (batch.max_records), EXTRA (more daemon flags),
# SPAN_SECONDS (event time the events cover; default 3600, 15x the real shop's density; 54000 is real),
# PARTITIONING (device: keyed by device id, the default; round_robin or random: unkeyed).
# DAEMON: the starstreamd binary to run (default build/daemon/starstreamd; a saved copy compares two
# builds alternately in one session).
# PRE_SQL: statements run after the schema is migrated, before starstreamd starts (e.g. a table setting to try).
# PG_PROFILE=1 prints the statements that took the most PostgreSQL time (pg_stat_statements).
# Appends a row to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-400000}
partitions=${PARTITIONS:-48}
max_records=${MAX_RECORDS:-25000}
span_seconds=${SPAN_SECONDS:-3600}
state="$(pwd)/.state/bench"
read -r -a extra <<<"${EXTRA:-}"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
pg_profile_setup
LOCAL_PG_DURABLE=1 start_local_stack "$state" "$partitions"
pg_profile_reset
trap 'kill "$kafka_pid" 2>/dev/null || true; tests/support/local_postgres.sh stop "$state/pg"' EXIT

produce_bench_events "$state" "$events" "$span_seconds" "${PARTITIONING:-device}"
[ -z "${PRE_SQL:-}" ] || "${bench_psql[@]}" -c "$PRE_SQL"

# LOAD=1: 50 HTTP clients hammer /metrics and /status during the run (ingestion cost of scrapes).
http_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
extra+=("--http.port=$http_port")
if [ "${LOAD:-0}" = 1 ]; then
  /usr/bin/python3 - "$http_port" >"$state/load.txt" 2>&1 <<'PY' &
import http.client, sys, threading, time
port, deadline, counts = int(sys.argv[1]), time.monotonic() + 60, {"ok": 0, "bad": 0}
def client():
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for i in range(100):
                conn.request("GET", "/metrics" if i % 2 else "/status")
                r = conn.getresponse(); r.read()
                counts["ok" if r.status == 200 else "bad"] += 1
            conn.close()
        except OSError:
            time.sleep(0.05)
threads = [threading.Thread(target=client) for _ in range(50)]
[t.start() for t in threads]; [t.join() for t in threads]
print(counts)
PY
  load_pid=$!
fi
start_ms=$(($(date +%s%N) / 1000000))
${MALLOC_ENV:+env $MALLOC_ENV} /usr/bin/time -v -o "$state/time.txt" "${DAEMON:-build/daemon/starstreamd}" run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" \
  --source.stop_when_caught_up=true --batch.max_records="$max_records" "${extra[@]}" >"$state/starstreamd.log" 2>&1
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
[ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
committed=$("${bench_psql[@]}" -c "SELECT sum(records) FROM starstream.batch")
facts=$("${bench_psql[@]}" -c "SELECT count(*) FROM fact_event")
rss_kb=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$state/time.txt")
[ "$committed" = "$events" ] || { echo "only $committed of $events events committed; see $state/starstreamd.log" >&2; exit 1; }

pg_profile_print

# Ceiling: the same fact rows, binary COPY straight into a table shaped like fact_event.
"${bench_psql[@]}" -c "COPY fact_event TO '$state/pg/facts.bin' (FORMAT binary)"
"${bench_psql[@]}" -c "CREATE TABLE fact_ceiling (LIKE fact_event INCLUDING ALL)"
copy_start=$(($(date +%s%N) / 1000000))
"${bench_psql[@]}" -c "COPY fact_ceiling FROM '$state/pg/facts.bin' (FORMAT binary)"
copy_ms=$(($(date +%s%N) / 1000000 - copy_start))

rate=$((events * 1000 / elapsed_ms))
sustained=$(sustained_events_per_s "$state/starstreamd.log")
ceiling=$((facts * 1000 / copy_ms))
summary="| $(date -u +%F) | $events | $partitions | $max_records | ${EXTRA:-}${LOAD:+ (LOAD=1: 50 HTTP clients)}${SPAN_SECONDS:+ (span ${SPAN_SECONDS} s)}${PARTITIONING:+ ($PARTITIONING)}${DAEMON:+ (DAEMON=$DAEMON)} | $elapsed_ms | $rate | $sustained | $((rss_kb / 1024)) | $ceiling |"
echo "events=$events elapsed_ms=$elapsed_ms events_per_s=$rate sustained_events_per_s=$sustained peak_rss_mib=$((rss_kb / 1024)) copy_ceiling_rows_per_s=$ceiling"
echo "$summary" >>bench/results.md
