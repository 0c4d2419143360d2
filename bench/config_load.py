#!/usr/bin/env python3
"""Configuration load time (issue 18): `watchpost check-config` on files of 1,000 to 100,000 endpoints.

Each file is what a large fleet writes: one `[[endpoints]]` table per endpoint (id, URL, component, one
assertion), one `[[statuspage.components]]` per 100 endpoints. `check-config` parses, validates and prints
the summary (a line per endpoint), so the figure is the whole start-up cost of reading the configuration.
Reports the median wall time and peak RSS of --runs runs per size, and the time per 1,000 endpoints (flat
when loading is linear).

    bench/config_load.py [--sizes 1000,10000,50000,100000] [--runs 3] [--binary target/release/watchpost]

Builds the release binary unless --binary is given. Takes about a minute; files go to a temporary directory
and are removed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import benchlib

def write_config(path: str, n: int) -> None:
    with open(path, "w") as f:
        f.write('[agent]\nregion = "eu"\n\n[store]\npath = "data/watchpost.db"\n\n[statuspage]\nlisten = "127.0.0.1:8080"\n\n')
        for c in range(max(1, n // 100)):
            f.write(f'[[statuspage.components]]\nid = "c{c}"\nname = "Component {c}"\n\n')
        for i in range(n):
            f.write(f'[[endpoints]]\nid = "e{i}"\nurl = "http://10.0.{i // 250 % 256}.{i % 250 + 1}:8080/health"\n'
                    f'component = "c{i // 100}"\nassert = [{{ status = 200 }}]\n\n')

def measure(binary: str, path: str) -> tuple[float, int]:
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", binary, "check-config", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"check-config failed on {path}:\n{out.stderr[-2000:]}")
    wall, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb)

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,50000,100000", help="endpoint counts, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per size (the median is reported)")
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    args = ap.parse_args()
    binary = benchlib.release_binary(args.binary)
    print("| endpoints | file | check-config wall (median of %d) | per 1,000 endpoints | peak RSS |" % args.runs)
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            path = os.path.join(tmp, f"e{n}.toml")
            write_config(path, n)
            runs = [measure(binary, path) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            size = os.path.getsize(path)
            print(f"| {n:,} | {size / 2**20:.1f} MiB | {wall:.2f} s | {wall / n * 1000 * 1000:.1f} ms | {rss / 1024:.0f} MiB |",
                  flush=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
