#!/usr/bin/env python3
"""Aggregator shards on InfluxDB (issue 19, figure 3): the minute cycle of 10,000 endpoints at 5 s closed by
1, 2 and 4 aggregators (`aggregator.shard = "i/K"`), each against the same real influxd (Debian 1.6,
started here on loopback). For each K: raw points each shard reads per minute (each should read 1/K of
them: the shard's selection is a condition on the `endpoint` tag that influxd applies), the median
minute-cycle wall and CPU time of one shard, and the CPU influxd spent per closed minute, all shards
together.

    bench/shards.py [--endpoints 10000] [--cycles 5] [--shards 1,2,4]

Runs bench/src/rollup_bench.rs with --influx for each K on a fresh database; the influxd data goes to a
temporary directory and is removed.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import benchlib
from influx import create_db, start_influxd
from status import cpu_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--shards", default="1,2,4")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "watchpost-bench", "--bin", "rollup_bench"], check=True, cwd=root)
    binary = os.path.join(root, "target", "release", "rollup_bench")
    print(f"| shards ({args.endpoints:,} endpoints, influxd) | raw points read per shard per minute | "
          f"minute cycle of one shard (median wall / CPU) | influxd CPU for the whole run |")
    print("|---|---|---|---|")
    for k in args.shards.split(","):
        # A fresh influxd per K: its CPU is then this K's alone, and no database is dropped under it.
        with tempfile.TemporaryDirectory() as tmp:
            server, url = start_influxd(tmp)
            try:
                create_db(url, "watchpost")
                before = cpu_s(server.pid)
                out = subprocess.run([binary, "--endpoints", str(args.endpoints), "--history-days", "0", "--cycles",
                                      str(args.cycles), "--shards", k, "--influx", url],
                                     capture_output=True, text=True, env={**os.environ, "RUST_BACKTRACE": "0"})
                if out.returncode != 0:
                    raise SystemExit(f"rollup_bench failed:\n{out.stderr[-2000:]}")
                server_cpu = cpu_s(server.pid) - before
            finally:
                benchlib.stop(server)
        line = next(l for l in out.stdout.splitlines() if l.startswith("minute cycle"))
        # "minute cycle (N endpoints, K shard(s), P raw points read per shard, ...): median W s wall, C s CPU ..."
        read = line.split(", ")[2].split()[0]
        wall = line.split("median ")[1].split(" s wall")[0]
        cpu = line.split("s wall, ")[1].split(" s CPU")[0]
        print(f"| {k} | {int(read):,} | {wall} s / {cpu} s | {server_cpu:.1f} s (writes of the run included) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
