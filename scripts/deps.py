#!/usr/bin/env python3
"""Dependency policy, checked from `cargo metadata` (what `cargo deny check licenses bans` would check).

Why not cargo-deny itself: it is a large crate to build on every clean CI machine (minutes on two cores),
and its advisory check needs the RustSec database from GitHub, which this build network does not reach.
This script needs nothing but cargo and Python, and checks the three rules we hold the tree to:

- licenses: every crate a shipped binary links (normal and build dependencies of the workspace members)
  is under a license from ALLOWED (an SPDX expression is accepted when it can be satisfied from it);
- bans: no crate from BANNED (unmaintained, or a second HTTP or TLS stack beside reqwest + rustls);
- duplicates: no crate in two versions, except those in DUPLICATES, each with the reason it is accepted.

Exit status 1 with every violation listed; 0 with a one-line summary.
"""

import json
import re
import subprocess
import sys
from collections import defaultdict

ALLOWED = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib",
    "0BSD", "MIT-0", "Unlicense", "BSL-1.0", "Unicode-3.0", "CDLA-Permissive-2.0",
}

BANNED = {
    "backoff": "unmaintained (RUSTSEC-2025-0012); retries use backon",
    "openssl": "a second TLS stack; everything speaks rustls",
    "openssl-sys": "a second TLS stack; everything speaks rustls",
    "native-tls": "a second TLS stack; everything speaks rustls",
    "hyper-tls": "a second TLS stack; everything speaks rustls",
    "isahc": "a second HTTP client; everything speaks reqwest/hyper",
    "curl": "a second HTTP client; everything speaks reqwest/hyper",
    "ureq": "a second HTTP client; everything speaks reqwest/hyper",
    "surf": "a second HTTP client; everything speaks reqwest/hyper",
}

# name -> why two versions are accepted (each is a dependency's choice, not ours, until they converge).
DUPLICATES = {
    "base64": "hdrhistogram 7 pins 0.22; reqwest, lettre and core use 0.23",
    "getrandom": "ring 0.17 pins 0.2; tempfile, uuid and core use 0.4",
    "nom": "serde_json_path pins 7; hdrhistogram and lettre use 8",
    "syn": "jiff-static and serde_json_path's macros are still on syn 2; serde, thiserror, tokio and clap on 3",
}


def satisfiable(expr: str) -> bool:
    """Whether an SPDX expression can be met from ALLOWED (OR: any side; AND: both; old `A/B` means OR)."""
    expr = expr.replace("/", " OR ")
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+(?: WITH [A-Za-z0-9.+-]+)?", expr)
    pos = 0

    def parse_or():
        nonlocal pos
        ok = parse_and()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            ok = parse_and() or ok
        return ok

    def parse_and():
        nonlocal pos
        ok = parse_atom()
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1
            ok = parse_atom() and ok
        return ok

    def parse_atom():
        nonlocal pos
        if pos >= len(tokens):
            return False
        t = tokens[pos]
        pos += 1
        if t == "(":
            ok = parse_or()
            pos += 1  # ")"
            return ok
        return t in ALLOWED

    return parse_or()


def main() -> int:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--filter-platform", "x86_64-unknown-linux-gnu"],
        check=True, capture_output=True, text=True).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    # What the binaries link: normal and build dependencies, followed from the members.
    shipped, stack = set(), list(members)
    while stack:
        pid = stack.pop()
        if pid in shipped:
            continue
        shipped.add(pid)
        for d in nodes[pid]["deps"]:
            if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
                stack.append(d["pkg"])
    problems, versions = [], defaultdict(set)
    for pid in sorted(shipped - members):
        p = packages[pid]
        versions[p["name"]].add(p["version"])
        lic = p.get("license")
        if not lic or not satisfiable(lic):
            problems.append(f"license: {p['name']} {p['version']} is under {lic or 'no SPDX license'}, not in the allowed list")
    every = {packages[pid]["name"] for pid in nodes}  # dev dependencies too: a banned crate is banned anywhere
    for name in sorted(every & BANNED.keys()):
        problems.append(f"ban: {name}: {BANNED[name]}")
    for name, vs in sorted(versions.items()):
        if len(vs) > 1 and name not in DUPLICATES:
            problems.append(f"duplicate: {name} in versions {', '.join(sorted(vs))}; converge them or add the reason to DUPLICATES")
    for name in sorted(DUPLICATES):
        if len(versions.get(name, ())) < 2:
            problems.append(f"duplicate: {name} is no longer duplicated; remove it from DUPLICATES")
    if problems:
        print("\n".join(problems))
        print(f"deps: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"deps: {len(shipped - members)} crates linked, licenses allowed, none banned, "
          f"{len(DUPLICATES)} accepted duplicate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
