#!/usr/bin/env bash
# Store benchmark: batched writes into the embedded SQLite store, then the "latest state of every endpoint"
# and "one endpoint, last hour" queries over what was written. Prints the command beside the figures.
#
#   bench/store.sh                          # 10,000 endpoints x 24 h at 60 s = 14.4 M points (about 1 min)
#   bench/store.sh --endpoints 1000 --hours 24 --interval-s 5
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
((${#args[@]})) || args=(--endpoints 10000 --hours 24 --interval-s 60)
cargo build --release -q -p watchpost-bench
db=$(mktemp -d)/store-bench.db
echo "## Store benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Command: \`bench/store.sh ${args[*]}\` (batches of 5,000 points, slot by slot across endpoints, as the agent writes)"
echo
./target/release/store_bench "${args[@]}" --db "$db" | sed 's/^/    /'
rm -rf "$(dirname "$db")"
