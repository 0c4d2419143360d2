"""Helpers the Python benchmark scripts share (the Rust drivers share bench/src/common.rs)."""

import os
import signal
import subprocess
import urllib.request


def metrics(port: int, path: str = "/metrics", token: str = None) -> dict:
    """A watchpost process's `/metrics` on 127.0.0.1:`port` (or `path`, with a bearer `token`), as
    {"name{labels}": value}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def probe_failures(m1: dict, m0: dict) -> float:
    """Probe failures (every error class) between two `/metrics` readings."""
    total = lambda m: sum(v for k, v in m.items() if k.startswith("watchpost_probe_failures_total"))
    return total(m1) - total(m0)


def stop(proc, timeout: float = 30) -> None:
    """SIGTERM (a watchpost process flushes what it holds), then SIGKILL if it has not exited in `timeout`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


BINARY_HELP = "the watchpost binary (default: build and use target/release/watchpost)"


def release_binary(given):
    """`given`, or the release binary built now from this checkout."""
    if given:
        return given
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "--release", "-q", "--bin", "watchpost"], cwd=root, check=True)
    return os.path.join(root, "target", "release", "watchpost")
