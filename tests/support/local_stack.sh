#!/usr/bin/env bash
# Sourced by deploy/demo.sh and bench/e2e_benchmark.sh: installs and builds, then starts a
# fresh local stack in a state folder. After `start_local_stack STATE PARTITIONS`:
#   dsn, pg_port    the throwaway PostgreSQL (database "starstream"; LOCAL_PG_DURABLE=1 keeps fsync)
#   bootstrap       the mock Kafka cluster (3 brokers, topic product_view with PARTITIONS partitions)
#   kafka_pid       its process, stopped by the caller's EXIT trap
# Run from the repository root.

build_project() {
  bash deploy/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j "$(nproc)" >/dev/null
}

start_local_stack() {
  local state=$1 partitions=$2
  tests/support/local_postgres.sh stop "$state/pg" 2>/dev/null || true
  rm -rf "$state"
  mkdir -p "$state"
  chmod 755 "$(dirname "$state")" "$state"
  dsn=$(tests/support/local_postgres.sh start "$state/pg")
  pg_port=$(cat "$state/pg/port")
  build/tests/starstream-mock-kafka --brokers 3 --partitions "$partitions" --bootstrap-file "$state/bootstrap" \
    >"$state/mock-kafka.log" 2>&1 &
  kafka_pid=$!
  for _ in $(seq 100); do [ -s "$state/bootstrap" ] && break; sleep 0.1; done
  [ -s "$state/bootstrap" ] || { echo "mock Kafka did not start; see $state/mock-kafka.log" >&2; return 1; }
  bootstrap=$(cat "$state/bootstrap")
  export dsn pg_port bootstrap kafka_pid
}
