#!/usr/bin/env python3
"""Status page benchmark (issue 7), on loopback, bounded in count and time.

1. Serving: `summary.json` and the HTML page of a page with 50 components and 90 days of history
   (bench/src/statuspage_fixture.rs), served by `watchpost statuspage`, beside nginx serving the same bytes
   as static files (`watchpost statuspage export`), in the same sitting, interleaved (nginx, ours, nginx,
   ours ...). wrk, 2 threads, 64 keep-alive connections, DURATION s per run, REPS runs each. Reported:
   requests/s and p99 (medians), CPU-ms per 1,000 requests of the server, and ours as a share of nginx.
   Targets: JSON >= 50 % of nginx's rate, the page >= 25 %.
2. Freshness: `watchpost run` with the default probe settings (5 s interval, 1 s retry, 3 misses) and
   one TCP endpoint whose port is closed; from the agent's "confirmed down" log line to the JSON showing
   `major_outage`, and from closing the port. OUTAGES repetitions. Target: <= one interval + 1 s.

Usage: bench/statuspage.py [--duration 10] [--reps 3] [--outages 5] [--components 50]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402

WATCHPOST = os.path.join(ROOT, "target", "release", "watchpost")
FIXTURE = os.path.join(ROOT, "target", "release", "statuspage_fixture")
PAGE_PORT = 18091
NGINX_PORT = 18092

NGINX_STATIC = """\
worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    types {{ text/html html; application/json json; text/css css; image/svg+xml svg; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        index index.html;
    }}
}}
"""


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "--bin", "watchpost"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "watchpost-bench", "--bin", "statuspage_fixture"],
                   cwd=ROOT, check=True)


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read()


def wrk(url, duration, pids_fn):
    argv = ["wrk", "-t", "2", "-c", "64", "-d", f"{duration}s", "--timeout", "5s", "--latency", url]
    with A.CpuWindow({"server": pids_fn}) as w:
        rc, out, wrk_cpu, _ = A.run_rusage(argv, timeout=duration + 30)
    if rc != 0:
        raise RuntimeError(f"wrk failed: {out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} error responses")
    return {"rps": rps, "p99_ms": p99, "cpu_ms_per_1k": 1000.0 * w.cpu["server"] * 1000.0 / max(requests, 1)}


def serving(args, work):
    db = os.path.join(work, "w.db")
    subprocess.run([FIXTURE, "--components", str(args.components), "--db", db, "--port", str(PAGE_PORT)], check=True)
    cfg = db + ".toml"
    export = os.path.join(work, "export")
    subprocess.run([WATCHPOST, "statuspage", "--config", cfg, "export", export], check=True, stdout=subprocess.DEVNULL)
    A.apt_install(["nginx", "wrk"])
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_STATIC.format(workers="auto", d=d, port=NGINX_PORT, root=export))
    A.start_daemon("bench-nginx-static", ["/usr/sbin/nginx", "-c", conf], port=NGINX_PORT)
    A.start_daemon("bench-watchpost-statuspage", [WATCHPOST, "statuspage", "--config", cfg, "--log", "warn"], port=PAGE_PORT)
    try:
        ours_pid = A.daemon_pid("bench-watchpost-statuspage")
        nginx_pid = A.daemon_pid("bench-nginx-static")
        time.sleep(1)
        sizes = {}
        for path in ["/api/v2/summary.json", "/"]:
            a, b = get(PAGE_PORT, path), get(NGINX_PORT, path)
            sizes[path] = (len(a), len(b))
        rows = []
        for path in ["/api/v2/summary.json", "/"]:
            runs = {"nginx": [], "watchpost": []}
            for _ in range(args.reps):
                runs["nginx"].append(wrk(f"http://127.0.0.1:{NGINX_PORT}{path}", args.duration, lambda: A.tree(nginx_pid)))
                runs["watchpost"].append(wrk(f"http://127.0.0.1:{PAGE_PORT}{path}", args.duration, lambda: A.tree(ours_pid)))
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p99_ms", "cpu_ms_per_1k")} for k, v in runs.items()}
            ratios = [o["rps"] / n["rps"] for o, n in zip(runs["watchpost"], runs["nginx"])]
            rows.append((path, sizes[path], med, statistics.median(ratios), runs))
        return rows
    finally:
        A.stop_daemon("bench-watchpost-statuspage")
        A.stop_daemon("bench-nginx-static")


def freshness(args, work):
    """Close a port; time the agent's confirmation and the page's JSON."""
    page_port, server_port = 18093, 18094
    db = os.path.join(work, "fresh.db")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    cfg = os.path.join(work, "fresh.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[store]
type = "sqlite"
path = "{db}"
[server]
listen = "127.0.0.1:{server_port}"
[statuspage]
listen = "127.0.0.1:{page_port}"
[[endpoints]]
id = "db"
type = "tcp"
address = "127.0.0.1:{port}"
component = "db"
""")
    log_path = os.path.join(work, "fresh.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([WATCHPOST, "run", "--config", cfg, "--log-format", "json"], stdout=log, stderr=log)

    def status():
        try:
            v = json.loads(get(page_port, "/api/v2/components.json"))
            return v["components"][0]["status"]
        except Exception:
            return None

    def wait(pred, limit):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.005)
        return False

    results = []
    try:
        for i in range(args.outages):
            if not wait(lambda: status() == "operational", 60):
                raise RuntimeError("the page never showed the endpoint operational")
            time.sleep(2)
            sock.close()
            closed = time.time()
            if not wait(lambda: status() == "major_outage", 30):
                raise RuntimeError("the page never showed the outage")
            shown = time.time()
            confirmed = None
            with open(log_path) as f:
                for line in f:
                    if "endpoint confirmed down" in line:
                        ts = json.loads(line)["timestamp"]
                        confirmed = A_ts(ts)
            results.append({"close_to_page_s": shown - closed, "confirm_to_page_s": shown - confirmed if confirmed else None})
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sock.close()
    return results


def A_ts(rfc3339):
    """An RFC 3339 UTC timestamp with fractional seconds, as tracing writes it, as UNIX seconds."""
    from datetime import datetime
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--outages", type=int, default=5)
    ap.add_argument("--components", type=int, default=50)
    args = ap.parse_args()
    build()
    work = tempfile.mkdtemp(prefix="watchpost-statuspage-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as another user and must read the export
    calib = A.spin_calibrate(2, 2.0)
    print(f"host cores got: {calib['cores_got']:.2f} of 2")
    rows = serving(args, work)
    print(f"\n## Serving ({args.components} components, 90 days; wrk -t2 -c64, {args.duration} s x {args.reps}, interleaved)\n")
    print("| document | bytes (ours / nginx) | nginx req/s | watchpost req/s | share of nginx (median of pairs) | p99 ms nginx / ours | server CPU-ms per 1,000 req nginx / ours |")
    print("|---|---|---|---|---|---|---|")
    for path, (a, b), med, ratio, _ in rows:
        n, o = med["nginx"], med["watchpost"]
        print(f"| {path} | {a} / {b} | {n['rps']:.0f} | {o['rps']:.0f} | {100 * ratio:.0f} % | {n['p99_ms']:.2f} / {o['p99_ms']:.2f} | {n['cpu_ms_per_1k']:.1f} / {o['cpu_ms_per_1k']:.1f} |")
    res = freshness(args, work)
    print(f"\n## Freshness (interval 5 s, retry 1 s, 3 misses; {len(res)} outages)\n")
    print("| close -> page (s) | confirmation -> page (s) |")
    print("|---|---|")
    for r in res:
        c = r["confirm_to_page_s"]
        print(f"| {r['close_to_page_s']:.2f} | {'-' if c is None else f'{c:.3f}'} |")
    cs = [r["confirm_to_page_s"] for r in res if r["confirm_to_page_s"] is not None]
    if cs:
        print(f"\nconfirmation -> page: median {statistics.median(cs):.3f} s, max {max(cs):.3f} s (target <= 6 s)")
    A.save_results("watchpost-statuspage", {"serving": [(p, s, m, r) for p, s, m, r, _ in rows], "freshness": res})


if __name__ == "__main__":
    main()
