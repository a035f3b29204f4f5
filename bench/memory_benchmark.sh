#!/usr/bin/env bash
# Memory under continuous production: the generator produces EVENTS at RATE messages/s while
# starstreamd consumes them (windows on, unkeyed, wide event-time span), and the daemon's
# resident set (VmRSS) is sampled every second until everything produced is committed.
# Memory is flat when the last quarter of the run peaks no higher than the first quarter
# (nothing grows with the events consumed): the script prints both peaks and the overall one.
#   bash bench/memory_benchmark.sh          # 5,000,000 events at 20,000/s over 48 partitions
# RATE must stay below what the daemon sustains: the mock cluster keeps only about 17,000 events
# per partition (DESIGN.md), so a backlog beyond that is deleted under the consumer (offset gaps,
# reported as a failure here).
# Knobs (environment): EVENTS, RATE, PARTITIONS, SPAN_SECONDS (default 172800: 48 h of event time),
# PARTITIONING (default round_robin), EXTRA (more daemon flags).
# Samples go to .state/memory/rss.csv (seconds since start, RSS KiB, events committed); appends a
# row to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-5000000}
rate=${RATE:-20000}
partitions=${PARTITIONS:-48}
span_seconds=${SPAN_SECONDS:-172800}
partitioning=${PARTITIONING:-round_robin}
state="$(pwd)/.state/memory"
read -r -a extra <<<"${EXTRA:-}"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
LOCAL_PG_DURABLE=1 start_local_stack "$state" "$partitions"
cleanup() {
  kill "${daemon_pid:-}" "${generator_pid:-}" "$kafka_pid" 2>/dev/null || true
  tests/support/local_postgres.sh stop "$state/pg"
}
trap cleanup EXIT
build/daemon/starstreamd migrate --postgres.dsn="$dsn" >/dev/null
psql_at=(/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$pg_port" -U postgres -d starstream -qAt)
http_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

build/bench/starstream-generate --events "$events" --rate "$rate" --span-seconds "$span_seconds" --brokers "$bootstrap" \
  --malformed-share 0.005 --duplicate-share 0.005 --partitioning "$partitioning" >"$state/generator.json" &
generator_pid=$!
build/daemon/starstreamd run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" --http.port="$http_port" \
  "${extra[@]}" >"$state/starstreamd.log" 2>&1 &
daemon_pid=$!

start=$(date +%s)
echo "seconds,rss_kib,committed" >"$state/rss.csv"
committed=0 previous=-1 unchanged=0
# Until the generator is done and every event it produced is committed, or nothing more was
# committed for 30 s after it finished (offset gaps), or the daemon died.
while kill -0 "$daemon_pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status")
  committed=$("${psql_at[@]}" -c "SELECT coalesce(sum(records), 0) FROM starstream.batch")
  echo "$(($(date +%s) - start)),$rss,$committed" >>"$state/rss.csv"
  if ! kill -0 "$generator_pid" 2>/dev/null; then
    [ "$committed" -ge "$events" ] && break
    if [ "$committed" = "$previous" ]; then unchanged=$((unchanged + 1)); else unchanged=0; fi
    [ "$unchanged" -ge 30 ] && break
  fi
  previous=$committed
  sleep 1
done
wait "$generator_pid"
kill -0 "$daemon_pid" 2>/dev/null || { echo "starstreamd stopped early; see $state/starstreamd.log" >&2; exit 1; }
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
gaps=$("${psql_at[@]}" -c "SELECT count(*) FROM starstream.offset_gap")
[ "$committed" -eq "$events" ] || { echo "only $committed of $events events committed ($gaps offset gaps: RATE above what the daemon sustains?)" >&2; exit 1; }

elapsed=$(($(date +%s) - start))
read -r first_mib last_mib peak_mib samples < <(awk -F, 'NR > 1 {rss[++n] = $2}
  END {q = int(n / 4); if (q < 1) q = 1
       for (i = 1; i <= n; i++) { if (i <= q && rss[i] > f) f = rss[i]; if (i > n - q && rss[i] > l) l = rss[i]; if (rss[i] > p) p = rss[i] }
       printf "%d %d %d %d\n", f / 1024, l / 1024, p / 1024, n}' "$state/rss.csv")
echo "events=$events rate=$rate elapsed_s=$elapsed events_per_s=$((events / elapsed)) rss_first_quarter_peak_mib=$first_mib rss_last_quarter_peak_mib=$last_mib rss_peak_mib=$peak_mib samples=$samples"
echo "| $(date -u +%F) | memory | $events at $rate/s | $partitions | ${EXTRA:-} (span $span_seconds s, $partitioning) | $((elapsed * 1000)) | $((events / elapsed)) | first quarter peak $first_mib, last quarter peak $last_mib | $peak_mib | |" >>bench/results.md
