#!/usr/bin/env bash
# Sourced by deploy/demo.sh and the bench/ scripts: installs and builds, then starts a
# fresh local stack in a state folder. After `start_local_stack STATE PARTITIONS [TOPIC...]`:
#   dsn, pg_port    the throwaway PostgreSQL (database "starstream"; LOCAL_PG_DURABLE=1 keeps fsync)
#   bootstrap       the mock Kafka cluster (3 brokers, each TOPIC (default product_view) with PARTITIONS partitions)
#   kafka_pid       its process, stopped by the caller's EXIT trap
#   bench_psql      psql -qAt on the database, as an array: "${bench_psql[@]}" -c "SELECT ..."
# `produce_bench_events STATE EVENTS SPAN_SECONDS [PARTITIONING]` then fills the topic the way the
# benchmarks do (0.5 % malformed, 0.5 % duplicates; JSONL in STATE/events.jsonl) and migrates the
# database. PARTITIONING: device (default: keyed by device id), round_robin or random (unkeyed).
# Run from the repository root.

build_project() {
  bash deploy/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j "$(nproc)" >/dev/null
}

start_local_stack() {
  local state=$1 partitions=$2 topic topic_flags=()
  shift 2
  for topic in "${@:-product_view}"; do topic_flags+=(--topic "$topic"); done
  tests/support/local_postgres.sh stop "$state/pg" 2>/dev/null || true
  rm -rf "$state"
  mkdir -p "$state"
  chmod 755 "$(dirname "$state")" "$state"
  dsn=$(tests/support/local_postgres.sh start "$state/pg")
  pg_port=$(cat "$state/pg/port")
  build/tests/starstream-mock-kafka --brokers 3 --partitions "$partitions" "${topic_flags[@]}" --bootstrap-file "$state/bootstrap" \
    >"$state/mock-kafka.log" 2>&1 &
  kafka_pid=$!
  for _ in $(seq 100); do [ -s "$state/bootstrap" ] && break; sleep 0.1; done
  [ -s "$state/bootstrap" ] || { echo "mock Kafka did not start; see $state/mock-kafka.log" >&2; return 1; }
  bootstrap=$(cat "$state/bootstrap")
  export dsn pg_port bootstrap kafka_pid
  # shellcheck disable=SC2034  # read by the scripts that source this file
  bench_psql=(psql -X -qAt -h 127.0.0.1 -p "$pg_port" -U postgres -d starstream)
}

produce_bench_events() {
  local state=$1 events=$2 span_seconds=$3 partitioning=${4:-device}
  build/bench/starstream-generate --events "$events" --span-seconds "$span_seconds" --brokers "$bootstrap" --jsonl "$state/events.jsonl" \
    --malformed-share 0.005 --duplicate-share 0.005 --partitioning "$partitioning" >"$state/generator.json"
  build/daemon/starstreamd migrate --postgres.dsn="$dsn" >/dev/null 2>&1
}

# Sustained events/s of a run that stopped when caught up: the records of every batch but the
# last (a partial batch that waits for the trigger interval), from partition assignment (after
# the group join, read from LOG) to their commit. Prints the rate.
sustained_events_per_s() {
  local log=$1 assigned_ms full_records last_full_ms
  assigned_ms=$(date -d "$(grep -m1 "kafka assigned" "$log" | cut -d' ' -f1)" +%s%3N)
  read -r full_records last_full_ms < <("${bench_psql[@]}" -F ' ' -c \
    "SELECT sum(records), (extract(epoch FROM max(committed_at)) * 1000)::bigint FROM starstream.batch
     WHERE batch_id < (SELECT max(batch_id) FROM starstream.batch)")
  echo $((full_records * 1000 / (last_full_ms - assigned_ms)))
}

# `spec_bench_run LOG MESSAGES COLUMNS [DAEMON FLAGS...]`: one measured run of a spec pipeline's
# benchmark: `starstreamd run` with the flags, from start until caught up (log in LOG) under
# /usr/bin/time; fails unless the batches committed MESSAGES records; prints the figures (with
# the load average: neighbours share the cores) and appends a row to bench/spec_results.md:
# | date | COLUMNS | elapsed ms | events/s | sustained events/s | peak RSS MiB |.
# DAEMON (environment): the starstreamd binary to run (default build/daemon/starstreamd), to
# compare a saved build with this one alternately, as bench/e2e_benchmark.sh does.
spec_bench_run() {
  local log=$1 messages=$2 columns=$3 start_ms elapsed_ms committed rss_kb sustained rate
  shift 3
  start_ms=$(($(date +%s%N) / 1000000))
  /usr/bin/time -v -o "$log.time" "${DAEMON:-build/daemon/starstreamd}" run --postgres.dsn="$dsn" --kafka.bootstrap.servers="$bootstrap" \
    --source.stop_when_caught_up=true --http.port=0 "$@" >"$log" 2>&1
  elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
  committed=$("${bench_psql[@]}" -c "SELECT sum(records) FROM starstream.batch")
  [ "$committed" = "$messages" ] || { echo "only $committed of $messages messages committed; see $log" >&2; return 1; }
  pg_profile_print
  rss_kb=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$log.time")
  sustained=$(sustained_events_per_s "$log")
  rate=$((messages * 1000 / elapsed_ms))
  echo "messages=$messages elapsed_ms=$elapsed_ms events_per_s=$rate sustained_events_per_s=$sustained peak_rss_mib=$((rss_kb / 1024)) load=$(cut -d' ' -f1 /proc/loadavg)"
  echo "| $(date -u +%F) | $columns | $elapsed_ms | $rate | $sustained | $((rss_kb / 1024)) |" >>bench/spec_results.md
}

# PG_PROFILE=1: which statements take the PostgreSQL time. pg_profile_setup before
# start_local_stack loads pg_stat_statements; pg_profile_reset after it empties it;
# pg_profile_print (stderr) lists the 40 statements with the most execution time.
pg_profile_setup() {
  [ "${PG_PROFILE:-0}" = 1 ] && export LOCAL_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements ${LOCAL_PG_OPTIONS:-}"
  return 0
}
pg_profile_reset() {
  [ "${PG_PROFILE:-0}" = 1 ] && "${bench_psql[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" >/dev/null
  return 0
}
pg_profile_print() {
  [ "${PG_PROFILE:-0}" = 1 ] && "${bench_psql[@]}" -F ' | ' -c "SELECT round(total_exec_time)::int AS ms, calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 40" >&2
  return 0
}
