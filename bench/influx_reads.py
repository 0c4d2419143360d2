#!/usr/bin/env python3
"""What a read costs influxd 1.6 (issue 19): by series opened, not by points returned.

Writes N series (default 20,000, half in each of two regions) every 5 s for MINUTES minutes into a fresh
influxd as `probe` (a series per endpoint and region with the fields a plain HTTP probe writes, as Watchpost writes it) and the same points as `feed`
(one series per region, the series key as fields, as Watchpost's write log does), then times reads of the
same windows from each, with influxd's CPU from /proc. Bounded: fixed counts, fixed sizes, stops itself.

Usage: bench/influx_reads.py [--series 20000] [--minutes 5]
"""
import argparse
import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from influx import create_db, start_influxd  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=20000)
    ap.add_argument("--minutes", type=int, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="watchpost-influx-reads-")
    proc, url = start_influxd(d)
    try:
        run(proc, url, a.series, a.minutes)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(proc, url, N, MIN):
    create_db(url, "w")
    STEP = 5
    now = int(time.time()) * 10**9
    t0 = now - MIN * 60 * 10**9
    def w(lines):
        urllib.request.urlopen(urllib.request.Request(f"{url}/write?db=w", data="\n".join(lines).encode(), method="POST"), timeout=300)
    lines = []
    feed = []
    for s in range(0, MIN * 60, STEP):
        for i in range(N):
            ts = t0 + s * 10**9 + (i * 250_000)  # spread over the 5 s
            reg = "eu" if i % 2 else "us"
            lines.append(f'probe,endpoint=e-{i//2:05d},region={reg},environment=production latency_ms={1.5+i%7},connect_ms={0.2+i%3},ttfb_ms={1.1+i%5},ok=true,confirmed_down=false,status_code=200i,availability=1 {ts}')
            feed.append(f'feed,region={reg} endpoint="e-{i//2:05d}",latency_ms={1.5+i%7},ok=true,confirmed_down=false {ts + (i%2)}')
            if len(lines) >= 50000:
                w(lines)
                w(feed)
                lines, feed = [], []
    w(lines)
    w(feed)
    print(f"written {N} series x {MIN} min into probe and feed", file=sys.stderr)
    def cpu():
        f = open(f"/proc/{proc.pid}/stat").read().split(")")[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    def q(text):
        u = f"{url}/query?db=w&epoch=ns&q=" + urllib.parse.quote(text)
        body = urllib.request.urlopen(u, timeout=300).read()
        v = json.loads(body)
        return sum(len(s["values"]) for r in v["results"] for s in r.get("series", []))
    def bench(name, make, reps):
        c0, t, rows = cpu(), time.time(), 0
        for r in range(reps):
            rows += q(make(r))
        c1 = cpu()
        print(f"{name}: {reps} queries, {rows/reps:.0f} rows each, influxd {1000*(c1-c0)/reps:.1f} CPU-ms/query, {1e6*(c1-c0)/max(rows,1):.1f} CPU-us/row, wall {1000*(time.time()-t)/reps:.0f} ms", flush=True)
    end = t0 + MIN*60*10**9
    time.sleep(3)
    W = lambda a, b: f"time > {a} AND time <= {b}"
    bench("probe 0.5 s window", lambda r: f"SELECT * FROM probe WHERE {W(end - (r+2)*5*10**8 - 5*10**8, end - (r+2)*5*10**8)} GROUP BY *", 40)
    bench("probe 5.5 s window", lambda r: f"SELECT * FROM probe WHERE {W(end - (r+2)*5*10**8 - 55*10**8, end - (r+2)*5*10**8)} GROUP BY *", 20)
    bench("probe 60 s window", lambda r: f"SELECT * FROM probe WHERE {W(end - (r+2)*60*10**9, end - (r+1)*60*10**9)} GROUP BY *", 4)
    bench("probe 60 s window, 3 fields", lambda r: f"SELECT availability, ok, latency_ms FROM probe WHERE {W(end - (r+2)*60*10**9, end - (r+1)*60*10**9)} GROUP BY *", 4)
    bench("feed 0.5 s window", lambda r: f"SELECT * FROM feed WHERE {W(end - (r+2)*5*10**8 - 5*10**8, end - (r+2)*5*10**8)} GROUP BY *", 40)
    bench("feed 60 s window", lambda r: f"SELECT * FROM feed WHERE {W(end - (r+2)*60*10**9, end - (r+1)*60*10**9)} GROUP BY *", 4)
    bench("probe 0.5 s, region=eu", lambda r: f"SELECT * FROM probe WHERE region='eu' AND {W(end - (r+2)*5*10**8 - 5*10**8, end - (r+2)*5*10**8)} GROUP BY *", 40)
    # write cost
    c0 = cpu()
    lines = [f'probe,endpoint=e-{i//2:05d},region={"eu" if i%2 else "us"},environment=production latency_ms=2,ok=true,confirmed_down=false,status_code=200i,availability=1 {end + 10**9 + i*1000}' for i in range(N)]
    for rep in range(5):
        w([l.replace(f" {end}", f" {end}") for l in lines[rep*4000:(rep+1)*4000]])
    c1 = cpu()
    print(f"write: {1e6*(c1-c0)/20000:.1f} CPU-us/point (batches of 4,000)")

if __name__ == "__main__":
    main()
