"""Helpers the Python benchmark scripts share (the Rust drivers share bench/src/common.rs)."""

import urllib.request


def metrics(port: int) -> dict:
    """A watchpost process's `/metrics` on 127.0.0.1:`port`, as {"name{labels}": value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
