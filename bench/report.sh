#!/usr/bin/env bash
# Report benchmark: a monthly SLA report (October 2026, Europe/Berlin) for 1,000 endpoints in 100
# components from rollups on SQLite, in JSON, CSV and HTML: in process (build + render, medians of 7 runs),
# then the `watchpost report` command end to end (process start, configuration, store, render, write).
#
#   bench/report.sh [--endpoints N] [--components C]
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
cargo build --release -q -p watchpost-bench --bin report_bench
cargo build --release -q --bin watchpost
db=/tmp/watchpost-report-bench.db
trap 'rm -f "$db" "$db-wal" "$db-shm" "$db.toml" /tmp/watchpost-report-bench.out' EXIT
cmd=(target/release/report_bench --db "$db" "${args[@]}")
echo "\$ ${cmd[*]}"
"${cmd[@]}"
echo
echo "| command format | wall per run (s), 5 runs | user+sys per run (s), median |"
echo "|---|---|---|"
for format in json csv html; do
  walls=() cpus=()
  for _ in 1 2 3 4 5; do
    TIMEFORMAT='%R %U %S'
    t=$( { time target/release/watchpost report --config "$db.toml" --sla bench --period 2026-10 --format "$format" \
      --out /tmp/watchpost-report-bench.out 2>/dev/null; } 2>&1 )
    read -r real user sys <<<"$t"
    walls+=("$real")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')")
  done
  med=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n 3p)
  echo "| watchpost report --format $format | ${walls[*]} | $med |"
done
