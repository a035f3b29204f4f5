#!/usr/bin/env bash
# What the customer profiles cost: pipelines/commerce_events.yaml end to end with and without its
# global window customer_profile_state (and so its view customer_profile), alternating, on the
# same messages. A commerce CSV (starstream-generate --event-type commerce, the REES46 sample's
# 30 days from 2020-09-24; 1 % malformed rows, 1 % resent duplicates, same-second view + cart
# pairs, out of order by up to 2 min) is loaded once by starstream-load (keyed by user) into the
# mock Kafka; each run then starts from an empty database (durable PostgreSQL, fsync on) and runs
# `starstreamd --pipelines.run=commerce_events` from start to caught up. "on" and "off" are two spec
# folders written here from the spec: "on" the spec as it is, "off" the same spec without that
# window; both pass through the same YAML round trip, so the window is their only difference.
# Runs go on, off, then off, on, ... (the order alternates, so that a slowing neighbour on the
# shared cores weighs on both). Reports events/s (wall and sustained, as bench/e2e_benchmark.sh)
# and peak RSS per run; appends a row per run to bench/spec_results.md.
#   bash bench/commerce_profiles_benchmark.sh      # 200,000 rows, 24 partitions, 3 rounds of on + off
# Knobs (environment): EVENTS, PARTITIONS, ROUNDS, MAX_RECORDS (batch.max_records), EXTRA (more
# daemon flags), PG_PROFILE=1 (the statements that took the most PostgreSQL time, per run),
# COMPARE=product_scd1: "off" is instead the spec with dim_commerce_product as SCD type 0 (inserted
# once, never rewritten), which shows what SCD type 1 by event time costs (its rows rewritten as
# later events arrive).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-200000}
compare=${COMPARE:-profiles}
partitions=${PARTITIONS:-24}
rounds=${ROUNDS:-3}
max_records=${MAX_RECORDS:-25000}
state="$(pwd)/.state/bench-commerce"
read -r -a extra <<<"${EXTRA:-}"

# shellcheck source=tests/support/local_stack.sh
source tests/support/local_stack.sh
build_project
pg_profile_setup
LOCAL_PG_DURABLE=1 start_local_stack "$state" "$partitions" commerce_events
trap 'kill "$kafka_pid" 2>/dev/null || true; tests/support/local_postgres.sh stop "$state/pg"' EXIT

build/bench/starstream-generate --event-type commerce --events "$events" --seed 1 --start-time 1600905600 --span-seconds $((30 * 86400)) \
  --csv "$state/commerce.csv" --malformed-share 0.01 --duplicate-share 0.01 --same-second-share 0.005 --out-of-order-seconds 120 \
  >"$state/generator.json"
build/bench/starstream-load --brokers "$bootstrap" --topic commerce_events --key user --rejects "$state/rejects.jsonl" \
  "$state/commerce.csv" >"$state/loader.json"
messages=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$state/loader.json")

/usr/bin/python3 - pipelines/commerce_events.yaml "$state/specs-on" "$state/specs-off" "$compare" <<'PY'
import os, sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
for folder, drop in ((sys.argv[2], False), (sys.argv[3], True)):
    if drop and sys.argv[4] == "product_scd1":
        spec["dimensions"]["dim_commerce_product"]["policy"] = "scd0"
    elif drop:
        del spec["windows"]["customer_profile_state"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "commerce_events.yaml"), "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)
PY

# run_once MODE ROUND: one run from an empty database on the spec folder specs-MODE.
run_once() {
  local mode=$1 round=$2
  "${bench_psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS starstream WITH (FORCE)" -c "CREATE DATABASE starstream" >/dev/null
  pg_profile_reset
  build/daemon/starstreamd migrate --postgres.dsn="$dsn" --pipelines.dir="$state/specs-$mode" >/dev/null 2>&1
  echo -n "round=$round $compare=$mode "
  spec_bench_run "$state/starstreamd-$mode-$round.log" "$messages" \
    "commerce_events (spec), $compare $mode | $messages | $partitions | $max_records | round $round ${EXTRA:-}" \
    --kafka.group.id="bench-commerce-$mode-$round" --pipelines.dir="$state/specs-$mode" --pipelines.run=commerce_events \
    --batch.max_records="$max_records" "${extra[@]}"
}

for ((round = 1; round <= rounds; round++)); do
  if ((round % 2)); then order=(on off); else order=(off on); fi
  for mode in "${order[@]}"; do run_once "$mode" "$round"; done
done
