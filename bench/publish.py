#!/usr/bin/env python3
"""Publisher cost (issue 9), on loopback, bounded in count and time.

`watchpost run` with C components (default 200, one endpoint each, probed every 5 s; 90 days of rollups from
bench/src/statuspage_fixture.rs) feeding an Atlassian Statuspage and a status.io stand-in (one Python
server, which timestamps every request by key and answers like the providers) with every component and a
metric per component on each: Statuspage gets one bulk metrics request a minute, status.io one whole-series
update per metric, all paced to 1 request/s per key.

1. Cost: WINDOW s of steady state with the publishers, and the same without them (the baseline), interleaved
   REPS times; CPU-s of the watchpost process in each; the difference per minute and per request.
2. Rate limits: requests per minute per key and the most requests in any 1 s, which must stay <= 1.
3. A change: FLIP components fail at once; time from the flip to the last of their status requests at each
   provider (paced: one per second, worst first), then back.

Usage: bench/publish.py [--components 200] [--window 120] [--reps 2] [--flip 20]
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402

WATCHPOST = os.path.join(ROOT, "target", "release", "watchpost")
FIXTURE = os.path.join(ROOT, "target", "release", "statuspage_fixture")
TARGET_PORT = 18080  # the fixture's endpoints probe http://127.0.0.1:18080/?id=N
HOSTED_PORT = 18093
DIR = "/tmp/watchpost-publish-bench"


class State:
    lock = threading.Lock()
    failing = set()          # component numbers whose target answers 503
    requests = []            # (monotonic time, key, method, path, body)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self, code, body=b"{}"):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/?id="):
            c = int(self.path[5:])
            with State.lock:
                down = c in State.failing
            return self._answer(503 if down else 200, b"down" if down else b"ok")
        key = self.headers.get("Authorization") or self.headers.get("x-api-key") or "?"
        with State.lock:
            State.requests.append((time.monotonic(), key, self.command, self.path, body))
        if self.path.endswith("/incidents/active_maintenance") or self.path.endswith("/incidents/upcoming"):
            return self._answer(200, b"[]")
        if "/maintenance/list/" in self.path:
            return self._answer(200, b'{"status":{"error":"no"},"result":{"active_maintenances":[],"upcoming_maintenances":[]}}')
        return self._answer(202 if self.path.endswith("/metrics/data") else 200)

    do_GET = do_POST = do_PATCH = _handle


def serve(port):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.request_queue_size = 512
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def config(base, components, publish):
    text = open(base).read()
    text += "[server]\nlisten = \"127.0.0.1:19094\"\n\n[aggregator]\nlateness = \"5s\"\n\n"
    if publish:
        sp = ", ".join(f'"component-{c:03}" = "sp{c}"' for c in range(components))
        io = ", ".join(f'"component-{c:03}" = {{ component = "io{c}", container = "k" }}' for c in range(components))
        spm = ", ".join(f'{{ id = "spm{c}", endpoint = "ep-{c:03}" }}' for c in range(components))
        iom = ", ".join(f'{{ id = "iom{c}", endpoint = "ep-{c:03}", value = "latency_mean" }}' for c in range(components))
        text += (f'[publishers.sp]\ntype = "statuspage"\nurl = "http://127.0.0.1:{HOSTED_PORT}"\npage_id = "page"\n'
                 f'api_key = "sp-bench-key"\ncomponents = {{ {sp} }}\nmetrics = [{spm}]\nimport_maintenance = true\n\n'
                 f'[publishers.io]\ntype = "statusio"\nurl = "http://127.0.0.1:{HOSTED_PORT}"\nstatuspage_id = "page"\n'
                 f'api_id = "io-bench-id"\napi_key = "io-bench-key"\ncomponents = {{ {io} }}\nmetrics = [{iom}]\n'
                 f'import_maintenance = true\n')
    path = os.path.join(DIR, "publish.toml" if publish else "baseline.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def start(cfg):
    log = open(os.path.join(DIR, os.path.basename(cfg) + ".log"), "w")
    p = subprocess.Popen([WATCHPOST, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=log, cwd=DIR)
    A.wait_port(19094, timeout=30)
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def fresh_fixture(components):
    subprocess.run([FIXTURE, "--components", str(components), "--db", os.path.join(DIR, "w.db"), "--port", "19095"],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(DIR, "w.db.toml")


def window(cfg, components, seconds, warmup):
    """Runs watchpost on a fresh fixture; returns (CPU-s in the window, requests in the window, process)."""
    base = fresh_fixture(components)
    cfg = config(base, components, cfg == "publish")
    p = start(cfg)
    time.sleep(warmup)
    with State.lock:
        n0 = len(State.requests)
    t0 = time.monotonic()
    with A.CpuWindow({"watchpost": lambda: [p.pid]}) as w:
        time.sleep(seconds)
    with State.lock:
        reqs = [r for r in State.requests[n0:] if r[0] >= t0]
    return w.cpu["watchpost"], w.delivered_cores, reqs, p


def per_key_limits(reqs):
    out = {}
    for key in sorted({r[1] for r in reqs}):
        ts = sorted(r[0] for r in reqs if r[1] == key)
        most = max((sum(1 for u in ts if t <= u < t + 1.0) for t in ts), default=0)
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        out[key] = (len(ts), most, min(gaps) if gaps else None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--components", type=int, default=200)
    ap.add_argument("--window", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--flip", type=int, default=20)
    a = ap.parse_args()
    os.makedirs(DIR, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "-q", "--bin", "watchpost"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "watchpost-bench", "--bin", "statuspage_fixture"], cwd=ROOT, check=True)
    target, hosted = serve(TARGET_PORT), serve(HOSTED_PORT)
    noise = A.spin_calibrate()
    A.log(f"host cores got: {noise['cores_got']:.2f} of 2")

    cpu = {"baseline": [], "publish": []}
    last_reqs = []
    for rep in range(a.reps):
        for kind in ("baseline", "publish"):
            s, cores, reqs, p = window(kind, a.components, a.window, a.warmup)
            cpu[kind].append(s)
            A.log(f"rep {rep + 1} {kind}: {s:.2f} CPU-s in {a.window} s, {len(reqs)} provider requests (machine delivered {cores:.2f} cores)")
            if kind == "publish":
                last_reqs = reqs
                if rep == a.reps - 1:
                    flip(p, a.flip)
            stop(p)
    base, pub = statistics.median(cpu["baseline"]), statistics.median(cpu["publish"])
    n_req = len(last_reqs)
    print(f"\n## Publisher cost, {a.components} components, window {a.window} s, median of {a.reps}")
    print(f"host cores got: {noise['cores_got']:.2f} of 2\n")
    print("| run | CPU-s per minute (watchpost run) |")
    print("|---|---|")
    print(f"| without publishers | {base * 60 / a.window:.2f} |")
    print(f"| with Statuspage + status.io | {pub * 60 / a.window:.2f} |")
    print(f"| publishing alone (difference) | {(pub - base) * 60 / a.window:.2f} ({(pub - base) / max(n_req, 1) * 1000:.1f} CPU-ms per request) |")
    print("\n| key | requests per minute | most in any 1 s | smallest gap |")
    print("|---|---|---|---|")
    for key, (n, most, gap) in per_key_limits(last_reqs).items():
        name = "Statuspage" if key.startswith("OAuth") else "status.io"
        print(f"| {name} | {n * 60 / a.window:.1f} | {most} | {gap:.3f} s |" if gap is not None else f"| {name} | {n} | {most} | - |")
    A.save_results("publish", {"cpu": cpu, "window": a.window, "components": a.components, "noise": noise})
    target.shutdown()
    hosted.shutdown()


def flip(p, n):
    """`n` components fail at once: how long until each provider has all their statuses."""
    with State.lock:
        start_idx = len(State.requests)
        State.failing = set(range(n))
    t0 = time.monotonic()
    done = {}
    deadline = t0 + 30 + 3 * n
    while time.monotonic() < deadline and len(done) < 2:
        time.sleep(0.2)
        with State.lock:
            reqs = State.requests[start_idx:]
        for name, pred in (("Statuspage", lambda r: r[2] == "PATCH" and b"major_outage" in r[4]),
                           ("status.io", lambda r: r[3].endswith("/component/status/update") and b'"current_status":500' in r[4])):
            hits = [r for r in reqs if pred(r)]
            if name not in done and len({r[3] if name == "Statuspage" else r[4] for r in hits}) >= n:
                done[name] = (hits[0][0] - t0, max(r[0] for r in hits) - t0)
    with State.lock:
        State.failing = set()
    print(f"\n## {n} components fail at once (5 s interval, 3 misses, then paced at 1 request/s per key)\n")
    print("| provider | first status request | last of the {n} |".replace("{n}", str(n)))
    print("|---|---|---|")
    for name in ("Statuspage", "status.io"):
        first, last = done.get(name, (float("nan"), float("nan")))
        print(f"| {name} | {first:.1f} s | {last:.1f} s |")


if __name__ == "__main__":
    main()
