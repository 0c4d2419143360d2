#!/usr/bin/env python3
"""HTTPS probing beside its floor and its peer (issue 19, figure 5), on loopback, bounded in time.

At each RATE (default 200 and 1,000 probes/s), plain HTTP and HTTPS with a full ECDSA P-256 handshake per
probe (TLS 1.3, resumption off as in every default), CPU-ms per probe of:
  * `watchpost agent` with RATE x 5 endpoints at 5 s (SQLite store, every point written), measured by
    ../shared/bench-anchors/measure_pid.py;
  * the floor: plain, the anchor's bare_probe; HTTPS, bench's `bare_tls` (the same with tokio-rustls over the
    agent's own rustls configuration: the handshake Watchpost makes, and nothing else), from /usr/bin/time;
  * the peer: prometheus-blackbox-exporter, `http_2xx` and an `https_2xx` module
    (`insecure_skip_verify`, as the agent's `tls_skip_verify`), driven at RATE by the anchors' paced wrk.
Targets: plain, the anchors' nginx (target.py, :18080); HTTPS, a local nginx with a self-signed P-256
certificate (:18443, as bench/tls.py). The certificate is not verified by any of the three (self-signed),
so each pays the handshake signature check but no chain: the same work on every side.

Reported per rate: each engine's plain and HTTPS cost, HTTPS ÷ plain, and Watchpost's HTTPS ÷ the bare TLS
client (target <= 1.3).

Usage: bench/https.py [--rates 200 1000] [--warmup 10] [--window 20] [--reps 3] [--binary PATH]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402
import agent  # noqa: E402
import benchlib  # noqa: E402
import blackbox_rate  # noqa: E402
from agent import ANCHORS, bare_probe, measure_run, sh  # noqa: E402
from tls import PORT as TLS_PORT, start_nginx  # noqa: E402

BB_PORT = 19117
BB_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  https_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        insecure_skip_verify: true
"""


def watchpost(rate, https, warmup, window, reps):
    n = int(rate * 5)
    url = f"https://127.0.0.1:{TLS_PORT}" if https else "http://127.0.0.1:18080"
    extra = "tls_skip_verify = true\n" if https else ""
    body = "".join(f'[[endpoints]]\nid = "e{k}"\nurl = "{url}/?id={k}"\n{extra}\n' for k in range(n))
    r = measure_run('[agent]\nregion = "bench"\ninterval = "5s"\ntimeout = "2s"\n\n', body, rate, warmup, window, reps, "agent")
    if r["failures"]:
        A.log(f"watchpost at {rate}/s ({'https' if https else 'http'}): {r['failures']:.0f} probes failed")
    return r["cpu_ms_per_probe"]


def bare_tls(rate, seconds):
    binary = os.path.join(ROOT, "target", "release", "bare_tls")
    argv = ["/usr/bin/time", "-f", "%U %S", binary, str(rate), str(seconds), f"127.0.0.1:{TLS_PORT}"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    ok, total = p.stdout.split()[0].split("/")
    if ok != total:
        A.log(f"bare_tls at {rate}/s: {ok} of {total} ok")
    user, system = p.stderr.strip().splitlines()[-1].split()
    return (float(user) + float(system)) * 1000 / int(total)


def blackbox(proc_pid, module, target, rate, seconds):
    url = f"http://127.0.0.1:{BB_PORT}/probe?module={module}&target={target}"
    r = blackbox_rate.run_wrk(url, rate, seconds, 64, 2, lambda: [proc_pid])
    if r["success_pct"] < 99.9:
        A.log(f"blackbox {module} at {rate}/s: {r['success_pct']:.2f} % success")
    return r["engine_cpu_ms_per_probe"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    a = ap.parse_args()
    # measure_run (agent.py) runs this build.
    agent.BINARY = benchlib.release_binary(a.binary)
    sh(["cargo", "build", "--release", "-q", "-p", "watchpost-bench", "--bin", "bare_tls"], cwd=ROOT)
    A.apt_install(["wrk", "prometheus-blackbox-exporter"])
    sh([sys.executable, os.path.join(ANCHORS, "target.py"), "start"], stdout=subprocess.DEVNULL)
    d = tempfile.mkdtemp(prefix="watchpost-https-")
    nginx = start_nginx(d)
    with open(f"{d}/blackbox.yml", "w") as f:
        f.write(BB_CONF)
    bb = subprocess.Popen(["/usr/bin/prometheus-blackbox-exporter", f"--config.file={d}/blackbox.yml",
                           f"--web.listen-address=127.0.0.1:{BB_PORT}"], stderr=subprocess.DEVNULL)
    rows = []
    try:
        A.wait_port(BB_PORT)
        for rate in a.rates:
            # Interleaved per repetition, so a noisy minute lands on every engine alike.
            got = {k: [] for k in ("wp_http", "wp_https", "bare_http", "bare_https", "bb_http", "bb_https")}
            for rep in range(a.reps):
                got["bare_http"].append(bare_probe(rate, a.window)["cpu_ms_per_probe"])
                got["bare_https"].append(bare_tls(rate, a.window))
                got["bb_http"].append(blackbox(bb.pid, "http_2xx", "http://127.0.0.1:18080/", rate, a.window))
                got["bb_https"].append(blackbox(bb.pid, "https_2xx", f"https://127.0.0.1:{TLS_PORT}/", rate, a.window))
                got["wp_http"].append(watchpost(rate, False, a.warmup, a.window, 1))
                got["wp_https"].append(watchpost(rate, True, a.warmup, a.window, 1))
                A.log(f"{rate}/s rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in got.items()))
            rows.append((rate, {k: statistics.median(v) for k, v in got.items()}))
    finally:
        benchlib.stop(bb)
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)
        sh([sys.executable, os.path.join(ANCHORS, "target.py"), "stop"], stdout=subprocess.DEVNULL)
    print(f"\n### `bench/https.py --rates {' '.join(map(str, a.rates))} --warmup {a.warmup:g} --window {a.window} --reps {a.reps}`\n")
    print("CPU-ms per probe, medians of the interleaved repetitions; full ECDSA P-256 handshake per HTTPS probe.\n")
    print("| probes/s | engine | plain HTTP | HTTPS | HTTPS ÷ plain | HTTPS ÷ bare TLS client |")
    print("|---|---|---|---|---|---|")
    for rate, m in rows:
        for label, k in (("`watchpost agent`", "wp"), ("bare hyper / rustls client (floor)", "bare"), ("blackbox_exporter", "bb")):
            print(f"| {rate} | {label} | {m[k + '_http']:.3f} | {m[k + '_https']:.3f} | {m[k + '_https'] / m[k + '_http']:.2f} "
                  f"| {m[k + '_https'] / m['bare_https']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
