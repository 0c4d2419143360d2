#!/usr/bin/env bash
# Rollup benchmark: the aggregator's minute cycle for 10,000 endpoints at 5 s (120,000 new points a minute)
# on SQLite, with 1 day and with 30 days of history retained, in one sitting; and the hour-closing cycle.
# History is one point per endpoint every 5 minutes (30 days of 10,000 endpoints: 86 M rows, about 5 GB in
# /tmp); the measured minutes are at full density. Prints each command with its figures.
#
#   bench/rollups.sh [--endpoints N] [--cycles C]
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=10000
cycles=5
while (($#)); do
  case "$1" in
    --endpoints) endpoints=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    *) echo "usage: bench/rollups.sh [--endpoints N] [--cycles C]" >&2; exit 2 ;;
  esac
done
cargo build --release -q -p watchpost-bench --bin rollup_bench
db=/tmp/watchpost-rollup-bench.db
trap 'rm -f "$db" "$db-wal" "$db-shm"' EXIT
for days in 1 30; do
  cmd=(target/release/rollup_bench --endpoints "$endpoints" --history-days "$days" --history-every-s 300 --cycles "$cycles" --db "$db")
  echo "\$ ${cmd[*]}"
  "${cmd[@]}" 2>/dev/null
  echo
done
