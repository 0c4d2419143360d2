#!/usr/bin/env python3
"""Alerting benchmark (issue 8), on loopback, bounded in count and time.

1. Alert latency, one process: `watchpost run` (SQLite) with ENDPOINTS TCP endpoints on the default probe
   settings (5 s interval, 1 s retry, 3 misses) against one local listener, and a PagerDuty rule whose
   notifier posts to a local Events-API stand-in. The listener closes (all endpoints fail at once), then
   reopens. Per endpoint: from the agent's "endpoint confirmed down" log line (the third miss) to the
   stand-in receiving the trigger, and from "endpoint recovered" to the resolve. OUTAGES rounds; p50/p99/max
   over all of them. Target: p99 < 1 s.
2. The same with the parts as separate processes: `watchpost agent` writing to a real influxd (Debian 1.6)
   and `watchpost alerting` reading it. Target: p99 <= the writer's flush age + the evaluation interval +
   0.5 s (both printed).
3. Detection time end to end with the defaults: from closing the listener to the page, beside the seed
   setup it replaces (a script that checks once a minute and pages after three failed checks: 2 to 3 min).
4. Evaluator CPU per cycle, 10,000 endpoints x 20 rules (target/release/alert_bench), and the same with
   routing, grouping, inhibition and dependencies on and 1,000 endpoints failing (issue 21; target: within
   1.5x of the plain evaluator in the same run).
5. With --group-by (issue 21): the endpoints spread over --components components and the default route
   grouping by component: messages per outage (expected: one per component, not one per endpoint), and per
   group the time from its first third miss to its first notification (target: group_wait + 0.5 s at p99).

Usage: bench/alerting.py [--endpoints 1000] [--outages 3] [--skip-influx] [--group-by --components 20 --group-wait 5s]
"""
import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from influx import create_db, free_port, log, start_influxd  # noqa: E402

WATCHPOST = os.path.join(ROOT, "target", "release", "watchpost")
ALERT_BENCH = os.path.join(ROOT, "target", "release", "alert_bench")


def ts(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


class Receiver:
    """A PagerDuty Events API v2 stand-in that records when each event arrived."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                with outer.lock:
                    outer.events.append((at, body.get("event_action"), body.get("dedup_key", "")))
                reply = b'{"status":"success","message":"Event processed"}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            # The listen backlog is taken at bind time: 64 connections opening at once need more than 5.
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, action):
        with self.lock:
            return sum(1 for e in self.events if e[1] == action)

    def first(self, action, since):
        with self.lock:
            out = {}
            for at, a, k in self.events:
                if a == action and at >= since and k not in out:
                    out[k] = at
            return out


class Listener:
    """A TCP port that accepts (and closes) connections while open; closed, every connect is refused."""

    def __init__(self):
        self.port = free_port()
        self.sock = None
        self.open()

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(4096)
        self.sock = s

        def loop(sock):
            while True:
                try:
                    c, _ = sock.accept()
                    c.close()
                except OSError:
                    return

        threading.Thread(target=loop, args=(s,), daemon=True).start()

    def close(self):
        self.sock.close()


def config(work, n, listener, receiver, store, listen, groups=None):
    route = ""
    if groups:
        route = f"""
[alerting.route]
policy = "default"
group_by = ["component"]
group_wait = "{groups['wait']}"
"""
    lines = [route + f"""
[store]
{store}

[server]
listen = "127.0.0.1:{listen}"

[oncall.schedules.primary]
members = ["alice"]

[alerting.notifiers.pd]
type = "pagerduty"
url = "http://127.0.0.1:{receiver.port}"
routing_key = "R0123456789ABCDEF0123456789ABCDEF"

[alerting.policies.default]
notifiers = ["pd"]
levels = [{{ targets = ["oncall:primary"] }}]

[[alerting.rules]]
name = "down"
when = "availability < 100"
"""]
    for i in range(n):
        component = f'component = "c-{i % groups["components"]:02d}"\n' if groups else ""
        lines.append(f'[[endpoints]]\nid = "e-{i:04d}"\ntype = "tcp"\naddress = "127.0.0.1:{listener.port}"\n{component}')
    path = os.path.join(work, "alerting.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def log_times(paths, message):
    """endpoint -> [timestamps] of `message` log lines (JSON logs)."""
    out = {}
    for p in paths:
        with open(p) as f:
            for line in f:
                if message not in line or not line.startswith("{"):
                    continue
                v = json.loads(line)
                f_ = v.get("fields", {})
                if f_.get("message") == message:
                    out.setdefault(f_.get("endpoint"), []).append(ts(v["timestamp"]))
    return out


def wait(pred, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def pct(v, q):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(len(v) * q + 0.999999) - 1))]


def rounds(args, n, listener, receiver, logs, pids):
    """OUTAGES rounds of: all down, all paged, all up, all resolved. Returns latencies."""
    page, resolve, detect, cpu = [], [], [], []
    for r in range(args.outages):
        time.sleep(6)  # a full interval up: every endpoint's state is `up` again
        triggers0, resolves0 = receiver.count("trigger"), receiver.count("resolve")
        c0 = A.cpu_seconds(pids())
        closed = time.time()
        listener.close()
        if not wait(lambda: receiver.count("trigger") - triggers0 >= n, 90):
            raise RuntimeError(f"only {receiver.count('trigger') - triggers0} of {n} triggers arrived")
        got = receiver.first("trigger", closed)
        confirmed = log_times(logs, "endpoint confirmed down")
        for k, at in got.items():
            ep = k.split("/")[1]
            c = [t for t in confirmed.get(ep, []) if t >= closed - 0.5]
            if c:
                page.append(at - c[0])
            detect.append(at - closed)
        time.sleep(1)
        opened = time.time()
        listener.open()
        if not wait(lambda: receiver.count("resolve") - resolves0 >= n, 90):
            raise RuntimeError(f"only {receiver.count('resolve') - resolves0} of {n} resolves arrived")
        got = receiver.first("resolve", opened)
        recovered = log_times(logs, "endpoint recovered")
        for k, at in got.items():
            ep = k.split("/")[1]
            c = [t for t in recovered.get(ep, []) if t >= opened - 0.5]
            if c:
                resolve.append(at - c[0])
        cpu.append(A.cpu_seconds(pids()) - c0)
        log(f"round {r + 1}: page p50 {statistics.median(page):.3f} s, resolve p50 {statistics.median(resolve):.3f} s")
    return {"page": page, "resolve": resolve, "detect": detect, "cpu_s": cpu}


def one_process(args, work):
    receiver, listener = Receiver(), Listener()
    db = os.path.join(work, "w.db")
    cfg = config(work, args.endpoints, listener, receiver, f'type = "sqlite"\npath = "{db}"', free_port())
    log_path = os.path.join(work, "run.log")
    proc = subprocess.Popen([WATCHPOST, "run", "--config", cfg, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    try:
        time.sleep(3)
        return rounds(args, args.endpoints, listener, receiver, [log_path], lambda: [proc.pid])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        listener.close()


def separate(args, work):
    receiver, listener = Receiver(), Listener()
    d = os.path.join(work, "influxd")
    os.makedirs(d)
    influxd, url = start_influxd(d)
    create_db(url, "watchpost")
    cfg = config(work, args.endpoints, listener, receiver, f'type = "influxdb"\nurl = "{url}"\ndatabase = "watchpost"', free_port())
    agent_log, alert_log = os.path.join(work, "agent.log"), os.path.join(work, "alerting.log")
    agent = subprocess.Popen([WATCHPOST, "agent", "--config", cfg, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=open(agent_log, "w"))
    env = dict(os.environ, WATCHPOST__SERVER__LISTEN=f"127.0.0.1:{free_port()}")
    alerting = subprocess.Popen([WATCHPOST, "alerting", "--config", cfg, "--log-format", "json"], stdout=subprocess.DEVNULL,
                                stderr=open(alert_log, "w"), env=env)
    try:
        time.sleep(3)
        return rounds(args, args.endpoints, listener, receiver, [agent_log], lambda: [alerting.pid])
    finally:
        for p in (alerting, agent):
            p.terminate()
            p.wait(timeout=60)
        influxd.terminate()
        influxd.wait(timeout=60)
        listener.close()


def grouped(args, work):
    """--group-by: OUTAGES rounds of every endpoint failing at once; messages per round and, per group, its
    first third miss -> its trigger."""
    receiver, listener = Receiver(), Listener()
    db = os.path.join(work, "grouped.db")
    groups = {"components": args.components, "wait": args.group_wait}
    cfg = config(work, args.endpoints, listener, receiver, f'type = "sqlite"\npath = "{db}"', free_port(), groups)
    log_path = os.path.join(work, "grouped.log")
    proc = subprocess.Popen([WATCHPOST, "run", "--config", cfg, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    messages, first = [], []
    try:
        time.sleep(3)
        for r in range(args.outages):
            time.sleep(6)
            before = len(receiver.events)
            closed = time.time()
            listener.close()
            if not wait(lambda: receiver.count("trigger") >= (r + 1) * args.components, 90):
                raise RuntimeError(f"only {receiver.count('trigger')} triggers")
            time.sleep(5)  # anything more would arrive now
            got = receiver.first("trigger", closed)
            confirmed = log_times([log_path], "endpoint confirmed down")
            for key, at in got.items():
                c = key.rsplit("=", 1)[-1]
                members = [f"e-{i:04d}" for i in range(args.endpoints) if f"c-{i % args.components:02d}" == c]
                thirds = [t for e in members for t in confirmed.get(e, []) if t >= closed - 0.5]
                if thirds:
                    first.append(at - min(thirds))
            listener.open()
            if not wait(lambda: receiver.count("resolve") >= (r + 1) * args.components, 90):
                raise RuntimeError(f"only {receiver.count('resolve')} resolves")
            time.sleep(3)
            with receiver.lock:
                messages.append(sum(1 for e in receiver.events[before:] if e[1] == "trigger"))
            log(f"grouped round {r + 1}: {messages[-1]} triggers for {args.endpoints} endpoints")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        listener.close()
    return {"messages": messages, "first": first}


def evaluator(extra):
    out = subprocess.run([ALERT_BENCH] + extra, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(name, v):
    return f"| {name} | {len(v)} | {statistics.median(v):.3f} | {pct(v, 0.99):.3f} | {max(v):.3f} |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--outages", type=int, default=3)
    ap.add_argument("--skip-influx", action="store_true")
    ap.add_argument("--skip-latency", action="store_true", help="only the grouped rounds and the evaluator")
    ap.add_argument("--group-by", action="store_true")
    ap.add_argument("--components", type=int, default=20)
    ap.add_argument("--group-wait", default="5s")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "watchpost", "-p", "watchpost", "--bin", "alert_bench", "-p", "watchpost-bench"],
                   cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="watchpost-alerting-bench-")
    calib = A.spin_calibrate(2, 2.0)
    print(f"host cores got: {calib['cores_got']:.2f} of 2")
    results = {}
    if args.group_by:
        log(f"grouped: {args.endpoints} endpoints in {args.components} components, group_wait {args.group_wait}")
        g = grouped(args, work)
        print(f"\n## Grouped by component ({args.endpoints} endpoints in {args.components} components, {args.outages} outages)\n")
        print(f"triggers per outage: {g['messages']} (one per component expected: {args.components})")
        print("| path | groups | p50 | p99 | max |")
        print("|---|---|---|---|---|")
        print(summary(f"first third miss of a group -> its trigger (group_wait {args.group_wait})", g["first"]))
        results["grouped"] = g
    if not args.skip_latency:
        log("one process: watchpost run")
        results["run"] = one_process(args, work)
    if args.skip_latency:
        evaluators(results)
        return
    if not args.skip_influx:
        log("separate processes: agent -> influxd <- alerting")
        results["influx"] = separate(args, work)
    print(f"\n## Alert latency ({args.endpoints} endpoints failing at once, {args.outages} outages; seconds)\n")
    print("| path | events | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    print(summary("`watchpost run`: third miss -> PagerDuty trigger", results["run"]["page"]))
    print(summary("`watchpost run`: recovering probe -> resolve", results["run"]["resolve"]))
    if "influx" in results:
        print(summary("agent -> influxd -> `watchpost alerting`: third miss -> trigger", results["influx"]["page"]))
        print(summary("agent -> influxd -> `watchpost alerting`: recovering probe -> resolve", results["influx"]["resolve"]))
        print("\nseparate processes: writer flush age (agent.batch_max_age) 1 s, evaluation interval 1 s: target p99 <= 2.5 s")
    run_cpu = statistics.median(results["run"]["cpu_s"])
    print(f"\n`watchpost run` CPU over one outage round (1,000 pages + 1,000 resolves, probing included): median {run_cpu:.2f} s")
    d = results["run"]["detect"]
    print("\n## Detection time with the defaults (5 s interval, 1 s retry, 3 misses)\n")
    print("| setup | p50 | p99 | max |")
    print("|---|---|---|---|")
    print(f"| Watchpost: listener closed -> PagerDuty trigger | {statistics.median(d):.1f} s | {pct(d, 0.99):.1f} s | {max(d):.1f} s |")
    print("| seed setup: a script run every minute, paging after three failed runs | 150 s (mean) | 180 s | 180 s |")
    evaluators(results)


def evaluators(results):
    """The evaluator alone, and with routing, grouping, inhibition and dependencies and 1,000 endpoints
    failing, interleaved three times (medians)."""
    plain, routed = [], []
    for _ in range(3):
        plain.append(evaluator(["--down", "1000"]))
        routed.append(evaluator(["--down", "1000", "--routing"]))
    ev = sorted(plain, key=lambda e: e["cpu_ms_per_cycle_mean"])[1]
    rt = sorted(routed, key=lambda e: e["cpu_ms_per_cycle_mean"])[1]
    print(f"\nwith 1,000 endpoints failing: plain {ev['cpu_ms_per_cycle_mean']:.0f} ms, with routing/grouping/inhibition/dependencies "
          f"{rt['cpu_ms_per_cycle_mean']:.0f} ms per cycle (ratio {rt['cpu_ms_per_cycle_mean'] / ev['cpu_ms_per_cycle_mean']:.2f}; "
          f"target <= 1.5); plain runs {[round(e['cpu_ms_per_cycle_mean']) for e in plain]}, routed {[round(e['cpu_ms_per_cycle_mean']) for e in routed]}")
    print(f"\n## Evaluator ({ev['endpoints']:,} endpoints x {ev['rules']} rules = {ev['alert_keys']:,} alert keys, {ev['cycles']} one-second cycles)\n")
    print(f"CPU per cycle {ev['cpu_ms_per_cycle_mean']:.0f} ms (mean; {ev['cpu_us_per_rule_endpoint']:.2f} µs per rule x endpoint); "
          f"wall p50 {ev['wall_ms_per_cycle_p50']:.0f} ms, p99 {ev['wall_ms_per_cycle_p99']:.0f} ms")
    A.save_results("watchpost-alerting", {"latency": results, "evaluator": ev, "routed": rt, "plain_runs": plain, "routed_runs": routed})


if __name__ == "__main__":
    main()
