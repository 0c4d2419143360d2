#!/usr/bin/env python3
"""InfluxDB benchmark: Watchpost's writer against curl posting the same bodies, the spool, and the store queries.

In one sitting, against one Debian `influxd` (1.6) started here on loopback with its data in a temporary
directory (the same settings as the test harness and ../shared/bench-anchors/influxdb_ingest_query.py:
no usage reporting, no _internal store, no query log):
  * writer: `influx_bench write` generates SERIES x SLOTS probe points, encodes them into the writer's gzip
    bodies of 5,000 lines (timed), saves them, and writes the same points through InfluxStore (timed);
    then one curl process posts those saved bodies with keep-alive (the anchor's method) into a fresh
    database: the ceiling. Interleaved ours, curl, ours, curl, ... REPS times; medians and the ratio, and
    influxd's CPU per 1,000 points for each (ours also writes the write log, packed: the difference is
    what the log costs influxd).
  * spool: appends of 5,000-point batches with an fsync each, then replay into influxd;
  * queries: the store conformance queries on a day of points for 10,000 endpoints (60 s interval:
    14.4 M points), SQLite and InfluxDB side by side.
Prints a markdown report (also bench/results/influx-<time>.md). Traffic stays on 127.0.0.1.

Usage: bench/influx.py [--series 10000] [--slots 200] [--reps 3] [--query-hours 24] [--query-interval 60]
                      [--queries-only | --writer-only]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "influx_bench")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_influxd(d, log_level="warn", snapshot_size=None):
    """influxd on free loopback ports with its data in `d`; `log_level` "info" logs each compaction and
    cache snapshot (what `bench/fullstack.py --compactions` reads); `snapshot_size` ("128m") sets
    `cache-snapshot-memory-size` (influxd's default is 25m)."""
    snapshot = f'  cache-snapshot-memory-size = "{snapshot_size}"\n' if snapshot_size else ""
    port, rpc = free_port(), free_port()
    conf = os.path.join(d, "influxd.conf")
    with open(conf, "w") as f:
        f.write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{d}/meta"\n'
                f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n{snapshot}'
                f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
                f'[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n[logging]\n  level = "{log_level}"\n')
    proc = subprocess.Popen(["influxd", "run", "-config", conf], stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "influxd.log"), "w"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/ping", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    sys.exit("influxd did not start (apt-get install influxdb)")


def admin(url, statement):
    """Runs an administrative InfluxQL statement (they need a POST)."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/query?q=" + urllib.parse.quote(statement), method="POST"), timeout=30)


def create_db(url, name):
    admin(url, f"CREATE DATABASE {name}")


def count(url, db):
    q = urllib.parse.quote('SELECT count("latency_ms") FROM "probe"')
    v = json.load(urllib.request.urlopen(f"{url}/query?db={db}&q={q}", timeout=300))
    return v["results"][0]["series"][0]["values"][0][1]


def run_json(argv, timeout):
    log("$", " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in argv))
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def curl_ceiling(url, db, bodies):
    files = sorted(os.listdir(bodies))
    argv = ["curl", "-s", "--max-time", "600"]
    for i, f in enumerate(files):
        if i:
            argv.append("--next")
        argv += ["-o", "/dev/null", "-w", "%{http_code}\\n", "-H", "Content-Encoding: gzip", "--data-binary", "@" + os.path.join(bodies, f),
                 f"{url}/write?db={db}&precision=ns"]
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    codes = p.stdout.split()
    if any(c != "204" for c in codes):
        sys.exit(f"curl got {set(codes)}")
    return wall, len(files)


def cpu_s(pid):
    """A process's CPU seconds so far (user + system), from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--slots", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--query-hours", type=int, default=24)
    ap.add_argument("--query-interval", type=int, default=60)
    ap.add_argument("--queries-only", action="store_true", help="skip the writer and spool runs")
    ap.add_argument("--writer-only", action="store_true", help="skip the spool and the queries")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "watchpost-bench"], cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="watchpost-influx-bench-")
    proc, url = start_influxd(d)
    try:
        ours, curl = [], []
        points = a.series * a.slots
        for r in range(0 if a.queries_only else a.reps):
            bodies = os.path.join(d, "bodies")
            shutil.rmtree(bodies, ignore_errors=True)
            create_db(url, f"ours{r}")
            c0 = cpu_s(proc.pid)
            res = run_json([BIN, "write", url, f"ours{r}", str(a.series), str(a.slots), bodies], 900)[0]
            # Before the count: it is a read, not part of the write's cost. The encode pass before the timed
            # writes sends nothing, so influxd's CPU over the run is the writes'.
            res["influxd_ms_per_1000"] = 1e6 * (cpu_s(proc.pid) - c0) / points
            assert count(url, f"ours{r}") == points, "every point arrived"
            ours.append(res)
            create_db(url, f"curl{r}")
            c0 = cpu_s(proc.pid)
            wall, n = curl_ceiling(url, f"curl{r}", bodies)
            curl_influxd = 1e6 * (cpu_s(proc.pid) - c0) / points
            assert count(url, f"curl{r}") == points
            curl.append({"points_per_s": points / wall, "bodies": n, "influxd_ms_per_1000": curl_influxd})
            log(f"rep {r + 1}: ours {res['write_points_per_s']:,.0f}/s, curl {points / wall:,.0f}/s")
        sp, q = None, []
        if not a.queries_only:
            create_db(url, "spool")
            sp = run_json([BIN, "spool", os.path.join(d, "spool"), str(a.series), str(a.slots), url, "spool"], 900)[0]
        if not a.writer_only:
            create_db(url, "qbench")
            q = run_json([BIN, "queries", url, "qbench", os.path.join(d, "q.db"), str(a.series), str(a.query_hours), str(a.query_interval)], 3600)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)

    lines = [f"## InfluxDB benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Command: `bench/influx.py --series {a.series} --slots {a.slots} --reps {a.reps} --query-hours {a.query_hours} --query-interval {a.query_interval}"
             f"{' --queries-only' if a.queries_only else ''}{' --writer-only' if a.writer_only else ''}` (influxd 1.6 on loopback)", ""]
    if ours:
        ours_rate = median([o["write_points_per_s"] for o in ours])
        curl_rate = median([c["points_per_s"] for c in curl])
        ours_runs = ", ".join(f"{o['write_points_per_s']:,.0f}" for o in ours)
        curl_runs = ", ".join(f"{c['points_per_s']:,.0f}" for c in curl)
        ours_cpu = median([o["write_cpu_ms_per_1000"] for o in ours])
        enc_cpu = median([o["encode_cpu_ms_per_1000"] for o in ours])
        ours_db = median([o["influxd_ms_per_1000"] for o in ours])
        curl_db = median([c["influxd_ms_per_1000"] for c in curl])
        ours_db_runs = ", ".join(f"{o['influxd_ms_per_1000']:.1f}" for o in ours)
        curl_db_runs = ", ".join(f"{c['influxd_ms_per_1000']:.1f}" for c in curl)
        lines += [f"{points:,} points per run in {ours[0]['bodies']} gzip bodies of 5,000 lines.", "",
                  "| writer | points/s (median of runs) | CPU ms per 1,000 points | influxd CPU ms per 1,000 points (runs) |", "|---|---|---|---|",
                  f"| Watchpost `InfluxStore::write` (encode + gzip + POST, and the write log) | {ours_rate:,.0f} ({ours_runs}) | {ours_cpu:.1f} (of which encode + gzip {enc_cpu:.1f}) "
                  f"| {ours_db:.1f} ({ours_db_runs}) |",
                  f"| curl posting the same pre-encoded bodies, without the write log (ceiling) | {curl_rate:,.0f} ({curl_runs}) | - "
                  f"| {curl_db:.1f} ({curl_db_runs}) |",
                  "", f"Watchpost / curl: **{ours_rate / curl_rate:.0%}** of the points/s, **{ours_db / curl_db:.2f}×** influxd's CPU per point", ""]
    if sp:
        lines += ["| spool | figure |", "|---|---|",
                  f"| append, fsync per 5,000-point batch | {sp['appends_per_s']:,.0f} appends/s = {sp['append_points_per_s']:,.0f} points/s, {sp['append_mb_per_s']:.0f} MB/s, {sp['bytes_per_point']:.0f} bytes/point, {sp['append_cpu_ms_per_1000']:.2f} CPU ms per 1,000 points |",
                  f"| replay into influxd | {sp['replay_points_per_s']:,.0f} points/s, {sp['replay_cpu_ms_per_1000']:.1f} CPU ms per 1,000 points |", ""]
    if q:
        lines += [f"Store queries on {a.series:,} endpoints x {a.query_hours} h at {a.query_interval} s (median of 5 after a warm-up):", "",
                  "| store | latest state of every endpoint | one endpoint, last hour | every series, one minute | availability of every series, last hour |",
                  "|---|---|---|---|---|"]
    for r in q:
        lines.append(f"| {r['store']} | {r['latest_states_ms']:.1f} ms ({r['latest_rows']} rows) | {r['one_endpoint_hour_ms']:.1f} ms ({r['one_endpoint_points']} points) | "
                     f"{r['all_minute_window_ms']:.1f} ms ({r['minute_points']} points) | {r['availability_hour_all_ms']:.0f} ms ({r['availability_series']} series) |")
    report = "\n".join(lines) + "\n"
    print(report)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", f"influx-{time.strftime('%Y%m%dT%H%M%S')}.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
