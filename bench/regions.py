#!/usr/bin/env python3
"""Two regions, one store (issue 9), on loopback, bounded in count and time.

Two `watchpost agent`s (regions eu and us) probe the same N TCP endpoints (default 5,000 each) every 5 s
against one local listener, writing to one influxd 1.6. An observer (bench/src/regions_bench.rs) reads every
endpoint's latest state from InfluxDB once a second, as the status page, the publishers and `watchpost
status` do, and decides each endpoint's status by the regions' vote. The listener closes (every endpoint
fails in both regions), then reopens, ROUNDS times.

Reported, per endpoint and change: from the moment the status changed in the store (the later of the two
agents' "endpoint confirmed down" log lines: down needs both regions; for recovery the later "endpoint
recovered") to the observer's first read that shows it; target: within one interval + 1 s (6 s). Also the
observer's read time (median, p99, max) and the CPU of influxd and the agents.

Usage: bench/regions.py [--endpoints 5000] [--rounds 2] [--warmup 40]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402
from alerting import Listener, log_times, pct  # noqa: E402
from influx import create_db, free_port, start_influxd  # noqa: E402

WATCHPOST = os.path.join(ROOT, "target", "release", "watchpost")
OBSERVER = os.path.join(ROOT, "target", "release", "regions_bench")


def config(work, n, listener, influx, region):
    lines = [f'[agent]\nregion = "{region}"\n\n[agent.spool]\ndir = "{work}/spool-{region}"\n\n'
             f'[store]\ntype = "influxdb"\nurl = "{influx}"\ndatabase = "watchpost"\n\n'
             f'[server]\nlisten = "127.0.0.1:{free_port()}"\n']
    for i in range(n):
        lines.append(f'[[endpoints]]\nid = "e-{i:05d}"\ntype = "tcp"\naddress = "127.0.0.1:{listener.port}"\n')
    path = os.path.join(work, f"{region}.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def observed(path, status, since):
    """endpoint -> first time at or after `since` the observer showed `status`."""
    out = {}
    with open(path) as f:
        for line in f:
            v = json.loads(line)
            if v.get("status") == status and v["t"] >= since and v["endpoint"] not in out:
                out[v["endpoint"]] = v["t"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=40)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "--bin", "watchpost"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "watchpost-bench", "--bin", "regions_bench"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="watchpost-regions-")
    noise = A.spin_calibrate()
    A.log(f"host cores got: {noise['cores_got']:.2f} of 2")
    influxd, url = start_influxd(work)
    create_db(url, "watchpost")
    listener = Listener()
    logs, agents = {}, []
    for region in ("eu", "us"):
        cfg = config(work, a.endpoints, listener, url, region)
        logs[region] = os.path.join(work, f"{region}.log")
        agents.append(subprocess.Popen([WATCHPOST, "agent", "--config", cfg, "--log-format", "json"],
                                       stdout=subprocess.DEVNULL, stderr=open(logs[region], "w")))
    A.log(f"two agents x {a.endpoints} endpoints started; warming up {a.warmup} s")
    time.sleep(a.warmup)
    obs_path = os.path.join(work, "observer.jsonl")
    seconds = a.rounds * 60 + 20
    observer = subprocess.Popen([OBSERVER, "--influx", url, "--endpoints", str(a.endpoints), "--seconds", str(seconds)],
                                stdout=open(obs_path, "w"), stderr=subprocess.STDOUT)
    time.sleep(10)  # its first read derives every state from the window; the ones after fold in new points
    pids = {"influxd": lambda: [influxd.pid], "agents": lambda: [p.pid for p in agents], "observer": lambda: [observer.pid]}
    down_lat, up_lat = [], []
    with A.CpuWindow(pids) as w:
        for r in range(a.rounds):
            t0 = time.time()
            listener.close()
            time.sleep(25)
            t1 = time.time()
            listener.open()
            time.sleep(25)
            for kind, since, until, status, out in (("endpoint confirmed down", t0, t1, "down", down_lat),
                                                    ("endpoint recovered", t1, t1 + 25, "up", up_lat)):
                per_region = [log_times([logs[reg]], kind) for reg in ("eu", "us")]
                seen = observed(obs_path, status, since)
                missing = 0
                for i in range(a.endpoints):
                    e = f"e-{i:05d}"
                    times = [min((t for t in pr.get(e, []) if since - 0.5 <= t <= until), default=None) for pr in per_region]
                    if None in times or e not in seen:
                        missing += 1
                        continue
                    out.append(seen[e] - max(times))
                A.log(f"round {r + 1} {status}: {a.endpoints - missing} endpoints measured, {missing} missing")
    observer.wait(timeout=seconds + 60)
    reads = []
    with open(obs_path) as f:
        for line in f:
            v = json.loads(line)
            if "read_ms" in v:
                reads.append(v["read_ms"])
    for p in agents:
        p.terminate()
    for p in agents:
        p.wait(timeout=30)
    influxd.terminate()
    influxd.wait(timeout=30)
    listener.close()
    target = 6.0
    print(f"\n## Two regions x {a.endpoints} endpoints, one influxd, {a.rounds} outages (host cores got {noise['cores_got']:.2f} of 2)\n")
    print("| change | endpoints x rounds | p50 | p99 | max | within one interval + 1 s |")
    print("|---|---|---|---|---|---|")
    for name, v in (("confirmed down in both regions -> status down", down_lat), ("recovered in both -> status up", up_lat)):
        if v:
            within = sum(1 for x in v if x <= target) / len(v) * 100
            print(f"| {name} | {len(v)} | {pct(v, 0.5):.2f} s | {pct(v, 0.99):.2f} s | {max(v):.2f} s | {within:.2f} % |")
    reads_steady = reads[1:]
    print(f"\nobserver reads of every latest state ({2 * a.endpoints} series): first (whole window) {reads[0]:.0f} ms; "
          f"then median {pct(reads_steady, 0.5):.0f} ms, p99 {pct(reads_steady, 0.99):.0f} ms, max {max(reads_steady):.0f} ms over {len(reads_steady)} reads")
    print(f"CPU over the rounds ({w.wall:.0f} s): influxd {w.cpu['influxd']:.1f} s, agents {w.cpu['agents']:.1f} s, "
          f"observer {w.cpu['observer']:.1f} s")
    A.save_results("regions", {"down": down_lat, "up": up_lat, "reads": reads, "cpu": w.cpu, "noise": noise})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
