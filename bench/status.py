#!/usr/bin/env python3
"""`watchpost status` against history length (issue 19): 10,000 endpoints with 1 hour, 1 day and 30 days
of rollups (bench/src/status_fixture.rs), on SQLite and on a real influxd (Debian 1.6, started here on
loopback), and, for comparison, the same endpoints with only raw points (no aggregator: status sums the raw
points, as every status did before issue 19).

Reports the median wall time and peak RSS of --runs runs of `watchpost status --format json` per store, and
for influxd the CPU time influxd spent answering them (median per run).

    bench/status.py [--endpoints 10000] [--runs 3] [--stores sqlite,influxdb] [--cases 1 2 ...] [--binary target/release/watchpost]

Builds the release binaries unless --binary is given. Fixtures go to a temporary directory and are removed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import benchlib
from influx import create_db, start_influxd


def fixture(tmp: str, name: str, args: list[str], influx: str | None, database: str) -> str:
    db = os.path.join(tmp, name, "w.db")
    extra = ["--influx", influx, "--database", database] if influx else []
    subprocess.run(["cargo", "run", "-q", "--release", "-p", "watchpost-bench", "--bin", "status_fixture", "--",
                    "--db", db] + extra + args, check=True)
    return db + ".toml"


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(binary: str, config: str, server_pid: int | None) -> tuple[float, int, float]:
    before = cpu_s(server_pid) if server_pid else 0.0
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", binary, "status", "--config", config, "--format", "json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Exit 1 says an endpoint is down (one in ten of the fixture's is): the run itself succeeded.
    if out.returncode not in (0, 1):
        raise SystemExit(f"status failed on {config}:\n{out.stderr[-2000:]}")
    wall, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb), (cpu_s(server_pid) - before) if server_pid else 0.0


def drop_database(url: str, name: str) -> None:
    import urllib.parse
    import urllib.request
    q = urllib.parse.quote(f"DROP DATABASE {name}")
    urllib.request.urlopen(urllib.request.Request(f"{url}/query?q={q}", method="POST"), timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stores", default="sqlite,influxdb", help="comma-separated: sqlite, influxdb")
    ap.add_argument("--cases", type=int, nargs="+", help="only these cases, by number: 1 h, 1 d, 30 d of rollups, "
                    "10 and 60 min of raw points only (1-5; default all)")
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    args = ap.parse_args()
    binary = benchlib.release_binary(args.binary)
    n = str(args.endpoints)
    cases = [
        ("rollups, 1 h of history", ["--endpoints", n, "--days", str(1 / 24)]),
        ("rollups, 1 day of history", ["--endpoints", n, "--days", "1"]),
        ("rollups, 30 days of history", ["--endpoints", n, "--days", "30"]),
        ("raw points only, 10 min (no aggregator)", ["--endpoints", n, "--no-rollups", "--raw-minutes", "10"]),
        ("raw points only, 60 min (no aggregator)", ["--endpoints", n, "--no-rollups", "--raw-minutes", "60"]),
    ]
    print(f"| store ({args.endpoints:,} endpoints) | history | `watchpost status` wall (median of {args.runs}) | peak RSS | influxd CPU per call |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for store in args.stores.split(","):
            server, url = (None, None)
            if store == "influxdb":
                os.makedirs(os.path.join(tmp, "influxd"))
                server, url = start_influxd(os.path.join(tmp, "influxd"))
            try:
                for i, (label, fargs) in enumerate(cases):
                    if args.cases and i + 1 not in args.cases:
                        continue
                    # A database per case: one created right after the last was dropped was sometimes
                    # "not found" by influxd 1.6.
                    database = f"watchpost{i}"
                    if url:
                        create_db(url, database)
                    config = fixture(tmp, f"{store}{i}", fargs, url, database)
                    runs = [measure(binary, config, server.pid if server else None) for _ in range(args.runs)]
                    wall = statistics.median(r[0] for r in runs)
                    rss = max(r[1] for r in runs)
                    server_cpu = f"{statistics.median(r[2] for r in runs):.2f} s" if server else "-"
                    print(f"| {store} | {label} | {wall:.2f} s | {rss / 1024:.0f} MiB | {server_cpu} |", flush=True)
                    if url:
                        drop_database(url, database)
            finally:
                if server:
                    benchlib.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
