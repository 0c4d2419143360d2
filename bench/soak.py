#!/usr/bin/env python3
"""The fault-sequence soak (issue 17): many seeded sequences of the harness in tests/it/sequences.rs.

Each sequence runs the real `watchpost run` (agent, alerting) and a second region's `watchpost agent` on a real
influxd through 12 random events (store down/up, SIGKILL and SIGTERM restarts, the second region's agent
killed and started again, PagerDuty stand-in 500/429, target down/up) and checks, against
the harness's own counters, that no point is lost beyond the stated SIGKILL bound and none invented, that pages
alternate trigger/resolve (one repeat per kill at most), that no resolve comes while the target is down, and
that `watchpost status` never shows a down target up. A failing sequence prints its seed; rerun it alone with
WATCHPOST_SEQUENCE_SEEDS=SEED..SEED+1.

    bench/soak.py [--from 100] [--count 200]

Runs two sequences at a time (the machine has two cores; each sequence mostly waits) and stops by itself:
about 20 s per sequence. Traffic stays on 127.0.0.1. Prints a summary table for bench/README.md.

The test and the `watchpost` binary are built once and copied to bench/results/soak-bin/ before the run
(`WATCHPOST_BIN` points the harness at the copy), so building the tree during an hour-long soak is safe.
"""

import argparse
import json
import os
import shutil
import re
import statistics
import subprocess
import sys
import time

LINE = re.compile(r"^sequence (seed=.*)$")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="start", type=int, default=100, help="first seed (default 100; CI runs 1 and 2)")
    ap.add_argument("--count", type=int, default=200, help="how many sequences (default 200)")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # A debug build: the soak checks behaviour, not speed, and the test build is what CI runs.
    build = subprocess.run(["cargo", "test", "--test", "it", "--no-run", "--message-format=json"],
                           cwd=root, stdout=subprocess.PIPE, text=True)
    if build.returncode != 0:
        print("soak: `cargo test --test it --no-run` failed", file=sys.stderr)
        return 1
    test_exe = next(m["executable"] for m in map(json.loads, build.stdout.splitlines())
                    if m.get("reason") == "compiler-artifact" and m.get("executable")
                    and m["target"]["name"] == "it")
    snapshot = os.path.join(root, "bench", "results", "soak-bin")
    os.makedirs(snapshot, exist_ok=True)
    test_copy = shutil.copy2(test_exe, os.path.join(snapshot, "sequences"))
    bin_copy = shutil.copy2(os.path.join(root, "target", "debug", "watchpost"), os.path.join(snapshot, "watchpost"))
    env = dict(os.environ, WATCHPOST_SEQUENCE_SEEDS=f"{args.start}..{args.start + args.count}", WATCHPOST_BIN=bin_copy)
    cmd = [test_copy, "sequences::", "--nocapture"]
    print(f"$ WATCHPOST_SEQUENCE_SEEDS={env['WATCHPOST_SEQUENCE_SEEDS']} WATCHPOST_BIN={bin_copy} {' '.join(cmd)}",
          flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows, failures, tail = [], [], []
    assert proc.stdout is not None
    # Everything the harness printed (a failing sequence's message holds its events and both logs).
    full_log = open(os.path.join(snapshot, "soak.log"), "w")
    for line in proc.stdout:
        full_log.write(line)
        tail = (tail + [line.rstrip()])[-40:]
        m = LINE.match(line.strip())
        if m:
            row = dict(kv.split("=", 1) for kv in m.group(1).split())
            rows.append({k: int(v) for k, v in row.items()})
            done = len(rows)
            print(f"  {done}/{args.count} seed {row['seed']}: lost {row['lost']} of {row['served']}, "
                  f"kills {row['kills']}+{row['region_kills']}, pages {row['triggers']}+{row['resolves']}", flush=True)
        elif "panicked" in line or "seed " in line and "failed" in line:
            failures.append(line.rstrip())
    code = proc.wait()
    elapsed = time.monotonic() - started
    full_log.close()
    if code != 0:
        print("\n".join(tail))
        print(f"soak FAILED after {len(rows)} sequence(s): {failures[:3]}; the whole output: {full_log.name}")
        return 1
    total = lambda k: sum(r[k] for r in rows)
    kills = total("kills") + total("region_kills")
    print()
    print(f"| sequences | attempts served | points stored | lost | SIGKILLs (of which the second region's) "
          f"| lost per SIGKILL (max {8}) | SIGTERMs "
          f"| incidents paged | resolves | resolves checked against the target | status checks | wall time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    per_kill = [r["lost"] / (r["kills"] + r["region_kills"]) for r in rows if r["kills"] + r["region_kills"]]
    print(f"| {len(rows)} | {total('served'):,} | {total('stored'):,} | {total('lost')} | {kills} ({total('region_kills')}) "
          f"| median {statistics.median(per_kill) if per_kill else 0:.2f}, max {max(per_kill) if per_kill else 0:.2f} "
          f"| {total('terms')} | {total('triggers')} | {total('resolves')} "
          f"| {total('resolves') - total('unverifiable_resolves')} | {total('status_checks')} | {elapsed / 60:.1f} min |")
    lost_without_kill = sum(r["lost"] for r in rows if r["kills"] + r["region_kills"] == 0)
    print(f"\npoints lost in sequences without a SIGKILL: {lost_without_kill} (must be 0, within the 4-point end slack)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
