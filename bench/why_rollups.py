#!/usr/bin/env python3
"""Why rollups: an hourly p95 table for 100 endpoints over 7 days, from Watchpost's hour rollups versus
InfluxQL percentile() over the same raw points, in one influxd started here (loopback, a temporary data
directory, removed at the end). The data set has the shape of ../shared/bench-anchors/influxdb_ingest_query.py
(24.2 M points); the driver is bench/src/p95_bench.rs.

    bench/why_rollups.py [--days 7] [--runs 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from influx import ROOT, create_db, log, start_influxd  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "watchpost-bench", "--bin", "p95_bench"], cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="watchpost-p95-bench-")
    proc, url = start_influxd(d)
    try:
        create_db(url, "watchpost")
        argv = [os.path.join(ROOT, "target", "release", "p95_bench"), url, "watchpost", str(a.days), str(a.runs)]
        log("$", " ".join(argv[0:1] + ["URL"] + argv[2:]))
        subprocess.run(argv, check=True, timeout=3 * 3600)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
