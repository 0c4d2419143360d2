#!/usr/bin/env python3
"""What a full TLS handshake per probe costs (issue 17, defect 17): HTTPS probes with `tls_resume = false`
(the default: every probe makes the handshake a new client makes, so `tls_ms` and the certificate checks are
real) against `tls_resume = true` (rustls resumes the session the server's ticket allows: cheaper, but the
certificate is neither re-sent nor re-verified).

Runs `watchpost run` (SQLite store, every point written) probing N endpoints every 5 s on a local nginx with
TLS (a self-signed P-256 certificate made here, session tickets on as nginx ships them), the two settings
interleaved (full, resumed, full, resumed, ...), and reports per probe, from /proc: the agent's CPU and the
target's (nginx's) CPU, with the handshake time the agent measured (the median `tls_ms` of the window's
points, read back from the SQLite store).
`tls_skip_verify = true` because the certificate is self-signed (`tls_ca_file` is issue 20's): with a
verified chain a full handshake also costs the chain's signature checks, so the full-handshake figure here
is a floor.

    bench/tls.py [--endpoints 1000] [--warmup 10] [--window 20] [--reps 3] [--binary target/release/watchpost]

Traffic stays on 127.0.0.1; bounded: about (warmup + window) x 2 x reps seconds.
"""

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.environ.get("WATCHPOST_ANCHORS", os.path.join(ROOT, "..", "shared", "bench-anchors"))
sys.path.insert(0, ANCHORS)
import anchorlib as A  # noqa: E402
import benchlib  # noqa: E402

PORT = 18443
LISTEN = 19191


def metrics():
    return benchlib.metrics(LISTEN)


def start_nginx(d):
    A.apt_install(["nginx"])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-days", "2", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"],
                   check=True, capture_output=True)
    conf = f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{PORT} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    ssl_session_cache shared:probe:10m;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    proc = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d], stderr=subprocess.DEVNULL)
    A.wait_port(PORT)
    return proc


def run(binary, d, n, resume, warmup, window):
    cfg = f"{d}/bench-{resume}.toml"
    with open(cfg, "w") as f:
        f.write(f'[agent]\nregion = "bench"\ninterval = "5s"\ntimeout = "2s"\n\n[store]\npath = "{d}/bench-{resume}.db"\n\n'
                f'[server]\nlisten = "127.0.0.1:{LISTEN}"\n\n')
        for k in range(n):
            f.write(f'[[endpoints]]\nid = "e{k}"\nurl = "https://127.0.0.1:{PORT}/?id={k}"\ntls_skip_verify = true\n'
                    f'tls_resume = {"true" if resume else "false"}\n\n')
    proc = subprocess.Popen([binary, "run", "--config", cfg],
                            stderr=open(f"{d}/watchpost-{resume}.log", "w"))
    try:
        A.wait_port(LISTEN)
        time.sleep(warmup)
        nginx = A.tree(int(open(f"{d}/nginx.pid").read()))
        m0, t0 = metrics(), time.time_ns()
        with A.CpuWindow({"agent": lambda: A.tree(proc.pid), "nginx": lambda: nginx}) as w:
            time.sleep(window)
        m1 = metrics()
        probes = m1["watchpost_probes_total"] - m0["watchpost_probes_total"]
        failures = benchlib.probe_failures(m1, m0)
        return {"probes": probes, "failures": failures,
                "agent_ms": 1000 * w.cpu["agent"] / probes, "nginx_ms": 1000 * w.cpu["nginx"] / probes,
                "tls_p50_ms": tls_p50(f"{d}/bench-{resume}.db", t0)}
    finally:
        benchlib.stop(proc)


def tls_p50(db, since_ns):
    """The median TLS phase of the points stored since `since_ns` (read-only; the store keeps writing)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        values = [r[0] for r in c.execute("SELECT tls_ms FROM probe WHERE ts >= ? AND tls_ms IS NOT NULL", (since_ns,))]
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    a = ap.parse_args()
    binary = benchlib.release_binary(a.binary)
    d = tempfile.mkdtemp(prefix="watchpost-tls-")
    nginx = start_nginx(d)
    rows = {False: [], True: []}
    try:
        for rep in range(a.reps):
            for resume in (False, True):
                r = run(binary, d, a.endpoints, resume, a.warmup, a.window)
                A.log(f"rep {rep + 1} tls_resume={resume}", r)
                rows[resume].append(r)
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)
    med = {res: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for res, rs in rows.items()}
    print(f"\n`bench/tls.py --endpoints {a.endpoints} --warmup {a.warmup:g} --window {a.window:g} --reps {a.reps}` "
          f"({a.endpoints / 5:g} HTTPS probes/s, medians of {a.reps} interleaved windows)\n")
    print("| setting | agent CPU ms/probe | nginx CPU ms/probe | tls phase p50 | probes failed |")
    print("|---|---|---|---|---|")
    for res, label in ((False, "`tls_resume = false` (default: full handshake)"), (True, "`tls_resume = true` (resumed)")):
        m = med[res]
        print(f"| {label} | {m['agent_ms']:.3f} | {m['nginx_ms']:.3f} | {m['tls_p50_ms']:.2f} ms | {m['failures']:.0f} |")
    f, r = med[False], med[True]
    print(f"\nfull / resumed: agent CPU x{f['agent_ms'] / r['agent_ms']:.2f}, target CPU x{f['nginx_ms'] / r['nginx_ms']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
