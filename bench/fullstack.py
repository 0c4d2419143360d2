#!/usr/bin/env python3
"""The whole stack on one influxd (issue 19, figure 1), on loopback, bounded in count and time.

Two `watchpost agent`s (regions eu and us) probe the same N TCP endpoints (default 10,000 each) every 5 s
against one local listener and write to one influxd 1.6. Then the consumers start, each its own process as
in docker-compose.yml: `watchpost aggregator` (rollups, and one Statuspage publisher of C components to a
local stand-in), `watchpost alerting` (20 rules on every endpoint, paging a local webhook) and `watchpost
statuspage` (refreshing twice a second).

Measured, REPS times: WINDOW s with every consumer running (after SETTLE s: their first reads, and the
aggregator's minutes read by time before it follows the write log), between two windows of WINDOW s with
only the agents writing (influxd's own cost grows with its shard, so the baseline is the mean of the windows
before and after). Reported: influxd CPU-µs per point written in each, the ratio (target <= 2), each
consumer's read amplification (raw points it read ÷ points the agents wrote in the window, from the
processes' /metrics; target <= 1.5) and the consumers' own CPU.

With --profile, influxd is also profiled in every window (bench/pprof.py) and the report says how its CPU per
point divides between its parts (writes, query planning, JSON answers, compactions, GC): which consumer's
requests cost what. With --trace, every InfluxDB request the consumers make is logged and each window's
are summarised per consumer by shape (count, answer time, bytes).

With --rollup-rp NAME, the rollups go to a retention policy of their own (the store's
`rollup_retention_policy`), so influxd caches and snapshots them apart from the raw points.

With --compactions, influxd logs at info level and the report counts its cache snapshots and TSM compactions
(kind, files taken in, wall time) started in each window.

Usage: bench/fullstack.py [--endpoints 10000] [--window 90] [--warmup 60] [--settle 240] [--reps 2] [--components 100] [--each]
                          [--profile] [--trace] [--compactions] [--snapshot-size 25m] [--rollup-rp NAME] [--binary PATH]
"""
import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "bench-anchors"))
import anchorlib as A  # noqa: E402
import benchlib  # noqa: E402
from alerting import Listener  # noqa: E402
from influx import admin, create_db, free_port, start_influxd  # noqa: E402
import pprof  # noqa: E402
from publish import serve  # noqa: E402

TOKEN = "fullstack-bench-admin-token"
RULES = 20


def shared(work, n, components, target, influx, sink, page_port, rollup_rp=None):
    """Configuration every process reads (each adds its [agent] region and [server] listen)."""
    rollups = f'rollup_retention_policy = "{rollup_rp}"\n' if rollup_rp else ""
    t = [f'[store]\ntype = "influxdb"\nurl = "{influx}"\ndatabase = "watchpost"\n{rollups}',
         f'[state]\npath = "{work}/state.db"\n',
         '[aggregator]\nlateness = "5s"\n',
         f'[statuspage]\nlisten = "127.0.0.1:{page_port}"\nurl = "http://127.0.0.1:{page_port}"\nadmin_token = "{TOKEN}"\n']
    for c in range(components):
        t.append(f'[[statuspage.components]]\nid = "c-{c:03}"\n')
    for i in range(n):
        t.append(f'[[endpoints]]\nid = "e-{i:05d}"\ntype = "tcp"\naddress = "127.0.0.1:{target}"\ncomponent = "c-{i % components:03}"\n')
    t.append('[oncall.schedules.primary]\nmembers = ["alice"]\n')
    t.append(f'[alerting.notifiers.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:{sink}/hook"\n')
    t.append('[alerting.policies.default]\nnotifiers = ["hook"]\nlevels = [{ targets = ["oncall:primary"] }]\n')
    for r in range(RULES):
        when = "availability < 100" if r % 2 == 0 else "latency_p95 > 300"
        t.append(f'[[alerting.rules]]\nname = "rule-{r:02}"\nwhen = "{when}"\nfor = "{r * 5}s"\n')
    sp = ", ".join(f'"c-{c:03}" = "sp{c}"' for c in range(components))
    t.append(f'[publishers.sp]\ntype = "statuspage"\nurl = "http://127.0.0.1:{sink}"\npage_id = "page"\n'
             f'api_key = "sp-bench-key"\ncomponents = {{ {sp} }}\n')
    return "\n".join(t)


def write_config(work, name, base, listen, region=None):
    path = os.path.join(work, f"{name}.toml")
    head = f'[agent]\nregion = "{region}"\n\n[agent.spool]\ndir = "{work}/spool-{name}"\n\n' if region else ""
    with open(path, "w") as f:
        f.write(head + base + f'\n[server]\nlisten = "127.0.0.1:{listen}"\n')
    return path


def start(binary, work, name, args, port, env=None):
    log = open(os.path.join(work, f"{name}.log"), "w")
    p = subprocess.Popen([binary] + args, stdout=subprocess.DEVNULL, stderr=log, cwd=work, env=env)
    try:
        A.wait_port(port, timeout=60)
    except RuntimeError:
        p.kill()
        sys.exit(f"{name} did not start:\n" + open(os.path.join(work, f"{name}.log")).read()[-3000:])
    return p


CONSUMERS = ["aggregator", "alerting", "statuspage"]


TRACE_ENV = None  # with --trace: every InfluxDB request each consumer makes is logged (see trace_summary)


def start_consumers(binary, work, base, page_port, names, tag):
    """The consumers `names`, each its own process: {name: (process, metrics port)}."""
    out = {}
    for name in names:
        port = page_port if name == "statuspage" else free_port()
        cfg = write_config(work, f"{name}-{tag}", base, free_port() if name == "statuspage" else port)
        out[name] = (start(binary, work, f"{name}-{tag}", [name, "--config", cfg], port, TRACE_ENV), port)
    return out


def trace_summary(work, names, tag, since, until):
    """Per consumer, its InfluxDB requests between the times `since` and `until` (epoch s), grouped by
    shape (numbers and quoted names blanked): count, answer time and bytes. Wall time, not influxd's CPU,
    but it names the dear requests."""
    import re
    line_re = re.compile(r"^(\S+Z)\s+TRACE \S+: influxdb (query|write) (.*)$")
    lo, hi = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(until))
    print(f"\n{tag}: InfluxDB requests per consumer in the window (wall ms, not influxd CPU)\n")
    print("| consumer | request | count | ms (sum) | MB answered |")
    print("|---|---|---|---|---|")
    for name in names:
        shapes = {}
        with open(os.path.join(work, f"{name}-{tag}.log"), errors="replace") as f:
            for line in f:
                m = line_re.match(line)
                if not m or not (lo <= m.group(1)[:19] < hi):
                    continue
                fields = m.group(3)
                ms = int(re.search(r"ms=(\d+)", fields).group(1)) if "ms=" in fields else 0
                size = int(re.search(r"bytes=(\d+)", fields).group(1)) if "bytes=" in fields else 0
                q = re.search(r"query=(.*)", fields)
                shape = m.group(2) if m.group(2) == "write" else re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'S'", q.group(1) if q else ""))[:160]
                c = shapes.setdefault(shape, [0, 0, 0])
                c[0] += 1
                c[1] += ms
                c[2] += size
        for shape, (n, ms, size) in sorted(shapes.items(), key=lambda kv: -kv[1][1])[:8]:
            print(f"| {name} | `{shape.replace('|', '/')}` | {n} | {ms} | {size / 1e6:.1f} |")


def page_metrics(port):
    return benchlib.metrics(port, "/api/v1/admin/metrics", TOKEN)


def read_total(m, consumer):
    return m.get(f'watchpost_store_points_read_total{{consumer="{consumer}"}}', 0.0)


def written(agent_ports):
    return sum(benchlib.metrics(p).get("watchpost_points_written_total", 0.0) for p in agent_ports)


def window(influxd, agent_ports, seconds, consumers=None, profile_url=None):
    """influxd CPU-s, points written, and per consumer (points read, CPU-s) over `seconds`; with
    `profile_url`, also influxd's CPU per part of it (bench/pprof.py) over the same seconds."""
    def snap():
        reads = {}
        consumers_ = consumers or {}
        if "aggregator" in consumers_:
            agg = benchlib.metrics(consumers_["aggregator"][1])
            reads["aggregator"] = read_total(agg, "aggregator")
            reads["publishers"] = read_total(agg, "publishers")
        if "alerting" in consumers_:
            reads["alerting"] = read_total(benchlib.metrics(consumers_["alerting"][1]), "alerting")
        if "statuspage" in consumers_:
            reads["statuspage"] = read_total(page_metrics(consumers_["statuspage"][1]), "statuspage")
        cpu = {k: A.cpu_seconds([p.pid]) for k, (p, _) in (consumers or {}).items()}
        return A.cpu_seconds([influxd.pid]), written(agent_ports), reads, cpu
    profiled = {}
    thread = None
    if profile_url:
        def take():
            try:
                profiled["data"] = pprof.profile(profile_url, seconds)
                profiled["parts"] = pprof.parts(profiled["data"])[0]
            except (OSError, ValueError) as e:
                A.log(f"no profile of influxd: {e}")
        thread = threading.Thread(target=take)
        thread.start()
    c0, w0, r0, p0 = snap()
    t0 = time.time()
    time.sleep(seconds)
    c1, w1, r1, p1 = snap()
    t1 = time.time()
    if thread:
        thread.join()
    return {"influxd_cpu": c1 - c0, "written": w1 - w0, "parts": profiled.get("parts", {}), "profile": profiled.get("data"),
            "read": {k: r1[k] - r0[k] for k in r1}, "cpu": {k: p1[k] - p0[k] for k in p1}, "span": (t0, t1)}


def compactions(log_path, windows):
    """influxd's cache snapshots and TSM compactions started in each window, from its info-level log (one
    `op_event=start` line and one `op_event=end` line with `op_elapsed` per operation, joined by trace_id):
    how many of each kind, how many files they took in, and their wall time."""
    ops = {}
    field = lambda line, key: (re.search(rf'\b{key}=("[^"]*"|\S+)', line) or [None, None])[1]
    with open(log_path, errors="replace") as f:
        for line in f:
            name, trace = field(line, "op_name"), field(line, "trace_id")
            if name not in ("tsm1_compact_group", "tsm1_cache_snapshot") or not trace:
                continue
            op = ops.setdefault(trace, {"files": 0, "ms": 0.0})
            event = field(line, "op_event")
            if event == "start":
                ts = datetime.datetime.strptime(field(line, "ts")[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
                op["at"] = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
                op["kind"] = "snapshot" if name == "tsm1_cache_snapshot" else \
                    f"{field(line, 'tsm1_strategy')} {field(line, 'tsm1_level') or ''}".strip()
            elif event == "end":
                elapsed = field(line, "op_elapsed") or "0ms"
                op["ms"] = float(elapsed.rstrip("ms")) * (1000 if elapsed.endswith("s") and not elapsed.endswith("ms") else 1)
            elif "Compacting file" in line:
                op["files"] += 1
    kinds = sorted({o["kind"] for o in ops.values() if "kind" in o})
    print("\n| window | " + " | ".join(f"{k}: count, files, s" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for label, w in windows:
        t0, t1 = w["span"]
        cells = []
        for k in kinds:
            mine = [o for o in ops.values() if o.get("kind") == k and t0 <= o["at"] < t1]
            cells.append(f"{len(mine)}, {sum(o['files'] for o in mine)}, {sum(o['ms'] for o in mine) / 1000:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def print_parts(windows):
    """influxd CPU-µs per point written in each part of it (bench/pprof.py), one column per window."""
    names = sorted({p for _, w in windows for p in w["parts"]})
    print("\n| influxd part (CPU-µs per point written) | " + " | ".join(label for label, _ in windows) + " |")
    print("|---|" + "---|" * len(windows))
    for name in names:
        cells = " | ".join(f"{1e6 * w['parts'].get(name, 0) / max(w['written'], 1):.1f}" for _, w in windows)
        print(f"| {name} | {cells} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=10000)
    ap.add_argument("--components", type=int, default=100)
    ap.add_argument("--window", type=int, default=90)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--settle", type=int, default=240,
                    help="seconds the consumers run before their window: the aggregator's first minutes after a start "
                         "are read by time (it follows the write log from the minute after it starts, plus lateness)")
    ap.add_argument("--each", action="store_true", help="then run each consumer alone, to see what each costs influxd")
    ap.add_argument("--profile", action="store_true",
                    help="also profile influxd in every window (its pprof endpoint) and say which of its parts the CPU went to")
    ap.add_argument("--trace", action="store_true",
                    help="log every InfluxDB request of the consumers and summarise those of each window by shape")
    ap.add_argument("--binary", help=benchlib.BINARY_HELP)
    ap.add_argument("--compactions", action="store_true",
                    help="log influxd at info level and count its cache snapshots and compactions in each window")
    ap.add_argument("--snapshot-size", help="influxd's cache-snapshot-memory-size (default 25m): how much it caches "
                    "before writing a TSM file; it pays per key in each snapshot")
    ap.add_argument("--rollup-rp", metavar="NAME", help="write the rollups into a retention policy of their own "
                    "(created here; the store's rollup_retention_policy): a shard, and so an influxd cache, apart from the raw points'")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (configurations, logs) and say where")
    a = ap.parse_args()
    binary = benchlib.release_binary(a.binary)
    if a.trace:
        global TRACE_ENV
        TRACE_ENV = dict(os.environ, RUST_LOG="info,watchpost_core::store=trace")
    work = tempfile.mkdtemp(prefix="watchpost-fullstack-")
    procs = []
    try:
        influxd, url = start_influxd(work, "info" if a.compactions else "warn", a.snapshot_size)
        procs.append(influxd)
        create_db(url, "watchpost")
        if a.rollup_rp:
            admin(url, f'CREATE RETENTION POLICY "{a.rollup_rp}" ON "watchpost" DURATION INF REPLICATION 1')
        target = Listener()
        sink_port = free_port()
        serve(sink_port)
        page_port = free_port()
        base = shared(work, a.endpoints, a.components, target.port, url, sink_port, page_port, a.rollup_rp)
        agent_ports = []
        for region in ["eu", "us"]:
            port = free_port()
            cfg = write_config(work, region, base, port, region)
            procs.append(start(binary, work, region, ["agent", "--config", cfg], port))
            agent_ports.append(port)
        A.log(f"agents started ({a.endpoints} endpoints each); warming up {a.warmup} s")
        time.sleep(a.warmup)
        # The aggregator's first start rolls up from the start of yesterday (`aggregator.backfill`), minutes of
        # reads over every series whatever they hold: a one-time cost, not the steady state measured here.
        # Run it once until it has caught up; later starts resume from its watermarks.
        port = free_port()
        cfg = write_config(work, "aggregator-first", base, port)
        first = start(binary, work, "aggregator-first", ["aggregator", "--config", cfg], port)
        deadline = time.time() + 1800
        while time.time() < deadline:
            m = benchlib.metrics(port)
            lag = m.get("watchpost_aggregator_lag_seconds", float("inf"))
            if m.get("watchpost_aggregator_cycle_seconds_count", 0) >= 1 and lag < 180:
                break
            time.sleep(5)
        A.log(f"aggregator caught up with the history (lag {lag:.0f} s)")
        benchlib.stop(first)
        # Every window with consumers lies between two with the agents alone, and is compared with their
        # mean: influxd's own cost grows as its shard does (compactions of larger files), so a baseline taken
        # only before would count that growth as the consumers' (seen with --profile: compactions 7.5 µs per
        # point in the first window, 23 in later ones with nothing but the status page reading).
        prof = url if a.profile else None
        traced = []
        alone = [window(influxd, agent_ports, a.window, profile_url=prof)]
        A.log(f"agents alone: influxd {alone[-1]['influxd_cpu']:.1f} CPU-s, {alone[-1]['written']:.0f} points")

        def measure(names, tag, settle):
            """A window with the consumers `names`, then one with the agents alone: (before, with, after)."""
            consumers = start_consumers(binary, work, base, page_port, names, tag)
            time.sleep(settle)
            t0 = time.time()
            full = window(influxd, agent_ports, a.window, consumers, prof)
            traced.append((names, tag, t0, time.time()))
            A.log(f"{tag}: with {', '.join(names)}: influxd {full['influxd_cpu']:.1f} CPU-s, {full['written']:.0f} points, read {full['read']}")
            for p, _ in consumers.values():
                benchlib.stop(p)
            time.sleep(10)
            alone.append(window(influxd, agent_ports, a.window, profile_url=prof))
            A.log(f"{tag}: agents alone: influxd {alone[-1]['influxd_cpu']:.1f} CPU-s, {alone[-1]['written']:.0f} points")
            return alone[-2], full, alone[-1]

        rows = [measure(CONSUMERS, f"rep {rep + 1}", a.settle) for rep in range(a.reps)]
        per_point = lambda w: 1e6 * w["influxd_cpu"] / max(w["written"], 1)
        baseline = lambda before, after: (per_point(before) + per_point(after)) / 2
        # One consumer at a time, to see what each costs influxd (the aggregator process includes the publishers).
        each = [(name, *measure([name], f"{name} alone", a.settle if name == "aggregator" else a.warmup))
                for name in (CONSUMERS if a.each else [])]
        snapshot = f" --snapshot-size {a.snapshot_size}" if a.snapshot_size else ""
        snapshot += f" --rollup-rp {a.rollup_rp}" if a.rollup_rp else ""
        print(f"\n### `bench/fullstack.py --endpoints {a.endpoints} --window {a.window} --warmup {a.warmup} --settle {a.settle} --reps {a.reps}{snapshot}`\n")
        print("| rep | influxd CPU-µs per point, agents alone (before / after) | with every consumer | ratio to the mean alone (target ≤ 2) | "
              "amplification: aggregator / publishers / alerting / status page (target ≤ 1.5) | consumers' CPU-s (agg / alert / page) |")
        print("|---|---|---|---|---|---|")
        ratios = []
        for i, (before, full, after) in enumerate(rows):
            ratio = per_point(full) / baseline(before, after)
            ratios.append(ratio)
            amp = " / ".join(f"{full['read'][k] / max(full['written'], 1):.2f}" for k in ["aggregator", "publishers", "alerting", "statuspage"])
            cpu = " / ".join(f"{full['cpu'][k]:.1f}" for k in ["aggregator", "alerting", "statuspage"])
            print(f"| {i + 1} | {per_point(before):.1f} / {per_point(after):.1f} | {per_point(full):.1f} | {ratio:.2f} | {amp} | {cpu} |")
        if each:
            print("\n| consumer alone | influxd CPU-µs per point, agents alone (before / after) | with it | added per point written |")
            print("|---|---|---|---|")
            for name, before, full, after in each:
                print(f"| {name} | {per_point(before):.1f} / {per_point(after):.1f} | {per_point(full):.1f} | "
                      f"{per_point(full) - baseline(before, after):.1f} |")
        if a.profile:
            cols = [(f"alone {i + 1}", w) for i, w in enumerate(alone)]
            cols += [(f"rep {i + 1} with every consumer", full) for i, (_, full, _) in enumerate(rows)]
            cols += [(f"{name} alone", full) for name, _, full, _ in each]
            print_parts(cols)
            for label, w in cols:
                if w["profile"]:
                    with open(os.path.join(work, "influxd-" + label.replace(" ", "-") + ".pprof"), "wb") as f:
                        f.write(w["profile"])
            A.log(f"influxd's profiles are in {work} (bench/pprof.py --file PROFILE; kept with --keep)")
        if a.compactions:
            labelled = [(f"alone {i + 1}", w) for i, w in enumerate(alone)]
            labelled += [(f"rep {i + 1} with every consumer", full) for i, (_, full, _) in enumerate(rows)]
            labelled += [(f"{name} alone", full) for name, _, full, _ in each]
            compactions(os.path.join(work, "influxd.log"), sorted(labelled, key=lambda lw: lw[1]["span"]))
        if a.trace:
            for names, tag, t0, t1 in traced:
                trace_summary(work, names, tag, t0, t1)
        print(f"\nMedian ratio: {statistics.median(ratios):.2f}; points written per second: "
              f"{statistics.median(r[1]['written'] for r in rows) / a.window:.0f}; window {a.window} s.")
    finally:
        for p in reversed(procs):
            benchlib.stop(p)
        if a.keep:
            A.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
