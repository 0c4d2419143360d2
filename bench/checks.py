#!/usr/bin/env python3
"""Multi-step check benchmark: N three-step API checks every 10 s against a local API, side by side with
plain HTTP probes of the same API at the same request rate, in one sitting.

  * the local API: a dedicated nginx (Debian's, installed by ../shared/bench-anchors/target.py) on
    127.0.0.1:18090 whose `POST /streams` answers 201 with JSON (id, playback URL) and a Location header,
    `GET /streams/{id}` serves the details and `DELETE /streams/{id}` answers 204: no disk I/O, so the
    figures are Watchpost's;
  * checks: N checks (default 500) of create (POST JSON from templates, extract the id by JSON path, three
    assertions), read (templated URL from the Location header, four assertions comparing with saved values)
    and a `finally` delete, every 10 s: N/10 runs/s, 3N/10 steps/s;
  * plain: 3N plain HTTP endpoints (GET, default 2xx assertion) every 10 s against the same API: the same
    requests per second, one point each.
Both on a SQLite store with every point written, measured with ../shared/bench-anchors/measure_pid.py
(CPU-ms per run or probe, RSS) and the agent's own lateness windows. Also runs the hostile-memory test
binary and prints its figure: peak memory growth while 100 endless bodies are probed at once.

Usage: bench/checks.py [--checks 500] [--warmup 20] [--window 30] [--reps 3]
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent as A  # noqa: E402  (the shared driver: measure_run, sh, log)

API_PORT = 18090
API_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location = /streams {{
            add_header Location /streams/42 always;
            return 201 '{{"id":42,"name":"wp","playback_url":"rtmp://live.test/42","state":"idle"}}';
        }}
        location /streams/ {{
            if ($request_method = DELETE) {{ return 204; }}
            return 200 '{{"id":42,"name":"wp","playback_url":"rtmp://live.test/42","state":"idle"}}';
        }}
    }}
}}
"""

CHECK = """[[checks]]
id = "c{k}"
interval = "10s"
timeout = "2s"

[[checks.steps]]
name = "create"
method = "POST"
url = "http://127.0.0.1:{port}/streams"
headers = {{ Authorization = "Bearer {{{{vars.token}}}}" }}
json = {{ name = "wp-{{{{uuid}}}}", k = {k} }}
extract = {{ id = {{ json = "$.id" }} }}
assert = [{{ status = 201 }}, {{ header = "location", op = "matches", value = "^/streams/" }}, {{ json = "$.playback_url", op = "matches", value = "^rtmp://" }}]

[[checks.steps]]
name = "read"
url = "http://127.0.0.1:{port}{{{{steps.create.headers.location}}}}"
assert = [{{ status = 200 }}, {{ json = "$.playback_url", op = "==", value = "{{{{steps.create.body.playback_url}}}}" }}, {{ json = "$.id", value = "{{{{vars.id}}}}" }}, {{ json = "$.state", op = "not_empty" }}]

[[checks.steps]]
name = "delete"
method = "DELETE"
url = "http://127.0.0.1:{port}/streams/{{{{vars.id}}}}"
finally = true
assert = [{{ status = [204, 404] }}]

"""


def start_api():
    d = os.path.join(A.ANCHOR_DIR, "nginx-api")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(API_CONF.format(d=d, port=API_PORT))
    A.sh(["/usr/sbin/nginx", "-t", "-q", "-c", conf])
    proc = subprocess.Popen(["/usr/sbin/nginx", "-c", conf], stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            import urllib.request
            urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/streams/1", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the local API (nginx) did not start")


def hostile_memory(runs=5):
    """Runs the hostile-memory test binary `runs` times (its peak varies with the allocator's arenas) and
    returns the median and the range of the peak growth it prints."""
    argv = ["cargo", "test", "--release", "-q", "-p", "watchpost-agent", "--test", "hostile_memory", "--", "--nocapture"]
    grew, bound = [], None
    for _ in range(runs):
        A.log("$", " ".join(argv))
        p = subprocess.run(argv, cwd=A.ROOT, capture_output=True, text=True, timeout=1200)
        m = re.search(r"peak memory grew ([0-9.]+) MiB.*= ([0-9.]+) MiB", p.stdout + p.stderr)
        if not m:
            return "not measured: " + (p.stdout + p.stderr)[-400:], " ".join(argv)
        grew.append(float(m.group(1)))
        bound = float(m.group(2))
    text = (f"peak memory growth while 100 endless bodies are probed at once: median {A.median(grew):.1f} MiB "
            f"({min(grew):.1f}-{max(grew):.1f} over {runs} runs); (body cap 256 KiB + 64 KiB read buffer) × 100 = {bound:.1f} MiB")
    return text, f"{' '.join(argv)}  (× {runs})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=500)
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    A.sh(["cargo", "build", "--release", "-q", "--bin", "watchpost"], cwd=A.ROOT)
    A.sh([sys.executable, os.path.join(A.ANCHORS, "target.py"), "start"], stdout=subprocess.DEVNULL)  # installs nginx
    api = start_api()
    n = a.checks
    agent = '[agent]\nregion = "bench"\n\n[vars]\ntoken = "bench-token"\n\n'
    try:
        checks_body = "".join(CHECK.format(k=k, port=API_PORT) for k in range(n))
        plain_body = "".join(f'[[endpoints]]\nid = "p{k}"\ninterval = "10s"\nurl = "http://127.0.0.1:{API_PORT}/streams/{k}"\n\n'
                             for k in range(3 * n))
        # Interleaved: plain, checks, checks, plain, so drift in the machine's noise shows in both.
        runs = []
        for kind in ("plain", "checks", "checks", "plain"):
            body, rate = (checks_body, n / 10) if kind == "checks" else (plain_body, 3 * n / 10)
            r = A.measure_run(agent, body, rate, a.warmup, a.window, a.reps)
            r["kind"] = kind
            runs.append(r)
    finally:
        api.terminate()
        api.wait(timeout=10)
    memory, memory_cmd = hostile_memory()

    def med(kind, key):
        return A.median([r[key] for r in runs if r["kind"] == kind])

    per_step = med("checks", "cpu_ms_per_probe") / 3
    plain = med("plain", "cpu_ms_per_probe")
    # The ratio against each plain run, too: the machine's noise drifts within a sitting.
    ratios = [per_step / r["cpu_ms_per_probe"] for r in runs if r["kind"] == "plain"]
    lines = [f"## Multi-step check benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Command: `bench/checks.py --checks {n} --warmup {a.warmup:g} --window {a.window:g} --reps {a.reps}`", "",
             "| run | target /s | achieved /s | failures | CPU ms per run or probe (median, min-max) | % of a core | RSS MiB (peak) | lateness p50 / p99 / max ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lo, hi = r["cpu_ms_per_probe_range"]
        target = n / 10 if r["kind"] == "checks" else 3 * n / 10
        what = f"{n} checks × 3 steps" if r["kind"] == "checks" else f"{3 * n} plain probes"
        lines.append(f"| {what} | {target:,.0f} | {r['achieved']:,.1f} | {r['failures']:.0f} | {r['cpu_ms_per_probe']:.3f} ({lo:.3f}-{hi:.3f}) | "
                     f"{r['core_pct']:.0f} | {r['rss_mb']:.0f} ({r['hwm_mb']:.0f}) | "
                     f"{r['late_p50_ms']:.2f} / {r['late_p99_ms']:.1f} / {r['late_max_ms']:.1f} ({r['windows']} windows) |")
    lines += ["", f"CPU per step: {per_step:.3f} ms; per plain probe: {plain:.3f} ms (medians); ratio {per_step / plain:.2f}× "
              f"({min(ratios):.2f}×–{max(ratios):.2f}× against each plain run; target ≤ 1.5×).",
              f"Lateness p99 of the check runs: {max(r['late_p99_ms'] for r in runs if r['kind'] == 'checks'):.1f} ms (target ≤ 100 ms).",
              "", f"Hostile memory: {memory}", f"(`{memory_cmd}`)"]
    report = "\n".join(lines) + "\n"
    print(report)
    os.makedirs(os.path.join(A.ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(A.ROOT, "bench", "results", time.strftime("checks-%Y%m%d-%H%M%S.md")), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
