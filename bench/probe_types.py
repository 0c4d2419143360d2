#!/usr/bin/env python3
"""CPU per probe of each probe type beside blackbox_exporter's same module (issue 20), on loopback, bounded.

At RATE probes/s (default 200: 1,000 endpoints every 5 s), per type, CPU-ms per probe of:
  * `watchpost agent` with RATE x 5 endpoints of the type at 5 s (SQLite store, every point written),
    measured by ../shared/bench-anchors/measure_pid.py over the window;
  * prometheus-blackbox-exporter with the equivalent module, driven at RATE by the anchors' paced wrk
    (`/probe?module=…&target=…`), its own CPU from /proc.
Types and targets:
  * dns: an A query over UDP to a local dnsmasq (started here, :15353, answering from its own table);
  * icmp: one echo request to 127.0.0.1 (raw sockets: run as root, as blackbox_exporter needs too);
  * tls: TCP connect and a full TLS 1.3 handshake (P-256, resumption off, certificate not verified on either
    side) to a local nginx (:18443, bench/tls.py's), then close: Watchpost's `type = "tls"`, blackbox's tcp
    prober with `tls: true`;
  * grpc: the health check (`grpc.health.v1.Health/Check`, plaintext HTTP/2) of a local Python grpcio server
    (:15051, started here).

Usage: bench/probe_types.py [--rate 200] [--types dns icmp tls grpc] [--warmup 10] [--window 20] [--reps 3] [--binary PATH]
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
from agent import measure_run  # noqa: E402
from https import blackbox as blackbox_at  # noqa: E402
import https  # noqa: E402
from tls import PORT as TLS_PORT, start_nginx  # noqa: E402

DNS_PORT = 15353
GRPC_PORT = 15051
GRPC_SERVER = f"""
import sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
h = health.HealthServicer()
h.set("", health_pb2.HealthCheckResponse.SERVING)
health_pb2_grpc.add_HealthServicer_to_server(h, server)
server.add_insecure_port("127.0.0.1:{GRPC_PORT}")
server.start()
sys.stdin.read()
"""
BB_CONF = """\
modules:
  dns_a:
    prober: dns
    timeout: 2s
    dns:
      query_name: a.test
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  icmp:
    prober: icmp
    timeout: 2s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  grpc_plain:
    prober: grpc
    timeout: 2s
    grpc:
      tls: false
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  tls_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls: true
      tls_config:
        insecure_skip_verify: true
"""

# type -> (watchpost endpoint keys, blackbox module, blackbox target)
TYPES = {
    "dns": (f'type = "dns"\nquery_name = "a.test"\nserver = "127.0.0.1:{DNS_PORT}"\n', "dns_a", f"127.0.0.1:{DNS_PORT}"),
    "icmp": ('type = "icmp"\nhost = "127.0.0.1"\n', "icmp", "127.0.0.1"),
    "tls": (f'type = "tls"\naddress = "127.0.0.1:{TLS_PORT}"\ntls_skip_verify = true\n', "tls_connect", f"127.0.0.1:{TLS_PORT}"),
    "grpc": (f'type = "grpc"\naddress = "127.0.0.1:{GRPC_PORT}"\n', "grpc_plain", f"127.0.0.1:{GRPC_PORT}"),
}


def watchpost(kind, rate, warmup, window):
    keys = TYPES[kind][0]
    body = "".join(f'[[endpoints]]\nid = "e{k}"\n{keys}\n' for k in range(int(rate * 5)))
    r = measure_run('[agent]\nregion = "bench"\ninterval = "5s"\ntimeout = "2s"\n\n', body, rate, warmup, window, 1, "agent")
    if r["failures"]:
        A.log(f"watchpost {kind} at {rate}/s: {r['failures']:.0f} probes failed")
    return r["cpu_ms_per_probe"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--types", nargs="+", default=list(TYPES), choices=list(TYPES))
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    a = ap.parse_args()
    # measure_run (agent.py) runs this build.
    agent.BINARY = benchlib.release_binary(a.binary)
    A.apt_install(["wrk", "prometheus-blackbox-exporter", "dnsmasq-base"])
    d = tempfile.mkdtemp(prefix="watchpost-types-")
    nginx = start_nginx(d)
    dnsmasq = subprocess.Popen(["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                                "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root", "--pid-file=", "--local=/test/",
                                f"--port={DNS_PORT}", "--host-record=a.test,127.0.0.1", "--dns-forward-max=1000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    grpc_server = subprocess.Popen([sys.executable, "-c", GRPC_SERVER], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with open(f"{d}/blackbox.yml", "w") as f:
        f.write(BB_CONF)
    bb = subprocess.Popen(["/usr/bin/prometheus-blackbox-exporter", f"--config.file={d}/blackbox.yml",
                           f"--web.listen-address=127.0.0.1:{https.BB_PORT}"], stderr=subprocess.DEVNULL)
    rows = []
    try:
        A.wait_port(https.BB_PORT)
        A.wait_port(GRPC_PORT)
        for kind in a.types:
            keys, module, target = TYPES[kind]
            got = {"wp": [], "bb": []}
            # Interleaved per repetition, so a noisy minute lands on both engines alike.
            for rep in range(a.reps):
                got["bb"].append(blackbox_at(bb.pid, module, target, a.rate, a.window))
                got["wp"].append(watchpost(kind, a.rate, a.warmup, a.window))
                A.log(f"{kind} rep {rep + 1}: watchpost {got['wp'][-1]:.3f}, blackbox {got['bb'][-1]:.3f} CPU-ms per probe")
            rows.append((kind, statistics.median(got["wp"]), statistics.median(got["bb"]), got))
    finally:
        benchlib.stop(bb)
        grpc_server.kill()
        grpc_server.wait(timeout=30)
        dnsmasq.send_signal(signal.SIGTERM)
        dnsmasq.wait(timeout=30)
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)
    print(f"\n### `bench/probe_types.py --rate {a.rate} --types {' '.join(a.types)} --warmup {a.warmup:g} --window {a.window} --reps {a.reps}`\n")
    print(f"CPU-ms per probe at {a.rate} probes/s ({a.rate * 5:,} endpoints every 5 s), medians of {a.reps} interleaved repetitions.\n")
    print("| type | `watchpost agent` (every point stored) | blackbox_exporter (same module) | Watchpost ÷ blackbox | runs (watchpost / blackbox) |")
    print("|---|---|---|---|---|")
    for kind, wp, bb_, got in rows:
        runs = " ".join(f"{x:.3f}" for x in got["wp"]) + " / " + " ".join(f"{x:.3f}" for x in got["bb"])
        print(f"| {kind} | {wp:.3f} | {bb_:.3f} | {wp / bb_:.2f} | {runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
