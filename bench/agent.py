#!/usr/bin/env python3
"""Agent benchmark: Watchpost probing N loopback endpoints at a 5 s interval, side by side with the peers.

Measures, in one sitting and interleaved (floor, peer, ours, ours, floor):
  * the floor: ../shared/bench-anchors/bare_probe (a bare hyper GET per fresh connection, nothing stored)
    at 2,000 probes/s, CPU-ms per probe from /usr/bin/time;
  * the peer: prometheus-blackbox-exporter via ../shared/bench-anchors/blackbox_rate.py (200 and 2,000/s);
  * Watchpost `run` with N endpoints (default 1,000 and 10,000) against the nginx target
    (../shared/bench-anchors/target.py), fresh connection per probe, SQLite store, every point written:
    achieved probes/s (from /metrics), CPU-ms per probe and RSS (../shared/bench-anchors/measure_pid.py),
    scheduling lateness p50/p99/max (the agent's 10 s HDR windows, sampled during the measurement; the table
    gives the worst window's p99) and the whole measurement's p99 and share of probes over 100 ms late (from
    the lateness histogram's buckets, read at its start and end).
With `--stalls K` the agent is then starved K more times (both cores spun for 3 s, as measure_pid.py's first spin
does) and the RSS peak and the probes in flight while it catches up are reported for each.
All traffic stays on 127.0.0.1; every run is bounded in time. Prints a markdown report (also written to
bench/results/agent-<time>.md) with the command that produced each figure.

nginx's own CPU and the whole machine's busy cores (/proc/stat) are reported beside each (the target shares
the machine's two cores, and loopback TCP costs both ends in the kernel), and the floor can run
at several rates (`--floor-rates 2000 10000`): at 10,000/s it says whether this machine can start 50,000
endpoints' probes every 5 s on time at all, whatever the prober.

Usage: bench/agent.py [--sizes 1000 10000] [--warmup 20] [--window 30] [--reps 3] [--no-peers] [--command run|agent]
                      [--floor-rates 2000 10000] [--no-blackbox] [--scrape-every 15] [--stalls 3] [--binary PATH]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.environ.get("WATCHPOST_ANCHORS", os.path.join(ROOT, "..", "shared", "bench-anchors"))
sys.path.insert(0, ANCHORS)
import anchorlib  # noqa: E402  (nginx's pids and /proc CPU accounting)
ANCHOR_DIR = os.environ.get("ANCHOR_DIR", "/tmp/anchors")
LISTEN = 19190
# measure_pid.py's host-noise probe (two spinning processes) runs this long before its first window.
SPIN_S = 3.5
# How long the agent is given to catch up with the probes the spin delayed (about 3 s at 50,000 endpoints).
RECOVER_S = 10


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def sh(argv, **kw):
    log("$", " ".join(argv))
    return subprocess.run(argv, check=True, **kw)


def newest(pattern):
    files = sorted(glob.glob(pattern), key=os.path.getmtime)
    return files[-1] if files else None


def metrics():
    # The process's own series only: at 50,000 endpoints the per-endpoint families are 56 MB, and parsing
    # them here every 10 s would take this machine's CPU from the agent being measured.
    return benchlib.metrics(LISTEN, "/metrics?per_endpoint=false")


def scraper(every, stop, out):
    """What a Prometheus scraping the agent costs it: the whole /metrics (every endpoint's families) read and
    thrown away every `every` seconds; appends (bytes, seconds) per scrape to `out`."""
    import urllib.request
    while not stop.wait(every):
        t0, size = time.time(), 0
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{LISTEN}/metrics", timeout=30) as r:
                while chunk := r.read(1 << 20):
                    size += len(chunk)
        except OSError:
            continue
        out.append((size, time.time() - t0))


def median(v):
    v = sorted(v)
    if not v:
        return float("nan")
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def bare_probe(rate, seconds):
    """The floor: build the anchor's bare_probe (in a copy: shared/ is read-only) and time it."""
    work = os.path.join(ANCHOR_DIR, "bare_probe")
    if not os.path.exists(os.path.join(work, "target", "release", "bare_probe")):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(os.path.join(ANCHORS, "bare_probe"), work)
        sh(["cargo", "build", "--release", "-q"], cwd=work)
    argv = ["/usr/bin/time", "-f", "%U %S %M", os.path.join(work, "target", "release", "bare_probe"), str(rate), str(seconds)]
    log("$", " ".join(argv))
    nginx0, t0, machine0 = anchorlib.cpu_seconds(anchorlib.nginx_pids()), time.time(), anchorlib.sys_cpu()[0]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    nginx = (anchorlib.cpu_seconds(anchorlib.nginx_pids()) - nginx0) / (time.time() - t0)
    machine = (anchorlib.sys_cpu()[0] - machine0) / (time.time() - t0)
    user, system, maxrss_kb = p.stderr.strip().splitlines()[-1].split()
    cpu_ms = (float(user) + float(system)) * 1000 / (rate * seconds)
    # "N/M ok in S s": a floor that cannot keep its pace takes longer than `seconds` to start every probe.
    took = re.search(r"in ([0-9.]+)s", p.stdout)
    return {"rate": rate, "cpu_ms_per_probe": cpu_ms, "stdout": p.stdout.strip(), "rss_mb": int(maxrss_kb) / 1024,
            "core_pct": (float(user) + float(system)) * 100 / seconds, "nginx_core_pct": 100 * nginx, "machine_cores": machine,
            "overrun_s": float(took.group(1)) - seconds if took else float("nan"),
            "command": f"/usr/bin/time bare_probe {rate} {seconds}"}


def blackbox(rates, duration, reps):
    argv = [sys.executable, os.path.join(ANCHORS, "blackbox_rate.py"), "--rates", *map(str, rates),
            "--duration", str(duration), "--reps", str(reps), "--closed-conns", "16"]
    log("$", " ".join(argv))
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=1500)
    data = json.load(open(newest(os.path.join(ANCHOR_DIR, "results", "blackbox_rate-*.json"))))
    out = {}
    for r in rates:
        s = data["summary"][f"rate-{r}"]
        out[r] = {"cpu_ms_per_probe": s["engine_cpu_ms_per_probe"]["median"], "achieved": s["achieved_rate"]["median"],
                  "rss_mb": s.get("engine_rss_mb", {}).get("median")}
    return out, " ".join(os.path.relpath(a, ROOT) if a.startswith("/") and "bench-anchors" in a else a for a in argv[1:])


# The build `measure_run` runs: target/release/watchpost unless a script names another (`--binary`, through
# `benchlib.release_binary`).
BINARY = os.path.join(ROOT, "target", "release", "watchpost")


def watchpost(n, warmup, window, reps, command="run", scrape_every=0, stall_count=0):
    body = "".join(f'[[endpoints]]\nid = "e{k}"\nurl = "http://127.0.0.1:18080/?id={k}"\n\n' for k in range(n))
    r = measure_run('[agent]\nregion = "bench"\ninterval = "5s"\ntimeout = "2s"\n\n', body, n / 5, warmup, window, reps, command,
                    scrape_every, stall_count)
    r.update(endpoints=n, target_rate=n / 5,
             command=f"watchpost {command} --config <{n} endpoints, 5 s> + measure_pid.py --rate {n / 5:g} --window {window} --reps {reps}")
    return r


def late_buckets(m0, m1):
    """The lateness histogram over the measurement: [(upper bound s, probes at or under it)], cumulative."""
    out = []
    for k, v in m1.items():
        if k.startswith('watchpost_scheduler_lateness_seconds_bucket{le="'):
            le = k.split('"')[1]
            out.append((float("inf") if le == "+Inf" else float(le), v - m0.get(k, 0)))
    return sorted(out)


def late_share(m0, m1, le):
    """Percent of the measurement's probes that started more than `le` seconds after their slot."""
    b = dict(late_buckets(m0, m1))
    total = b.get(float("inf"), 0)
    return 100 * (total - b.get(float(le), 0)) / total if total else float("nan")


def late_p99_bound(m0, m1):
    """The smallest bucket bound at or under which 99 % of the measurement's probes started (ms): the p99 of
    the whole measurement, to the histogram's resolution, where the windows' p99 is each 10 s on its own."""
    b = late_buckets(m0, m1)
    total = b[-1][1] if b else 0
    return next((le * 1e3 for le, n in b if total and n >= 0.99 * total), float("nan"))


def stalls(pid, count, seconds=3.0, watch=12.0):
    """The memory a stall costs: `count` times, both cores spun for `seconds` (measure_pid.py's noise probe,
    the same starvation as its first spin), then RSS and the probes in flight sampled every 0.1 s for `watch`
    seconds, as the agent catches up. Returns one dict per stall."""
    out = []
    for _ in range(count):
        m0, before = metrics(), anchorlib.rss_kb(pid) / 1024
        peak, in_flight = before, 0
        spin = threading.Thread(target=anchorlib.spin_calibrate, args=(2, seconds))
        spin.start()
        t0 = time.time()
        while time.time() - t0 < seconds + watch:
            peak = max(peak, anchorlib.rss_kb(pid) / 1024)
            try:
                in_flight = max(in_flight, metrics().get("watchpost_probes_in_flight", 0))
            except OSError:
                pass
            time.sleep(0.1)
        spin.join()
        m1 = metrics()
        out.append({"rss_before_mb": before, "peak_mb": peak, "rss_after_mb": anchorlib.rss_kb(pid) / 1024,
                    "in_flight_peak": in_flight,
                    "shed": m1.get("watchpost_scheduler_shed_slots_total", 0) - m0.get("watchpost_scheduler_shed_slots_total", 0)})
        log(f"stall: RSS {before:.0f} -> peak {peak:.0f} MiB, {in_flight:.0f} probes in flight at most")
    return out


def measure_run(agent_section, body, rate, warmup, window, reps, command="run", scrape_every=0, stall_count=0):
    """Runs `watchpost run` on a SQLite store with `body` (endpoints and checks) and measures it at `rate`
    probes (or check runs) per second: achieved rate from /metrics, CPU-ms per probe and RSS from
    measure_pid.py, lateness from the agent's own 10 s windows. With `scrape_every`, the whole /metrics is
    also scraped that often from the start, as a Prometheus would (its cost is in the agent's CPU and RSS).
    With `stall_count`, that many more stalls follow the measurement ([`stalls`])."""
    d = tempfile.mkdtemp(prefix="watchpost-bench-")
    cfg = os.path.join(d, "bench.toml")
    with open(cfg, "w") as f:
        f.write(agent_section + f'[store]\ntype = "sqlite"\npath = "{d}/bench.db"\n\n[server]\nlisten = "127.0.0.1:{LISTEN}"\n\n' + body)
    argv = [BINARY, command, "--config", cfg]
    log("$", " ".join(argv))
    proc = subprocess.Popen(argv, stderr=open(os.path.join(d, "watchpost.log"), "w"))
    scrapes, scrape_stop = [], threading.Event()
    try:
        for _ in range(100):
            try:
                metrics()
                break
            except OSError:
                time.sleep(0.1)
        if scrape_every:
            threading.Thread(target=scraper, args=(scrape_every, scrape_stop, scrapes), daemon=True).start()
        time.sleep(warmup)
        samples, stop = [], threading.Event()

        def sample():
            while not stop.wait(10):
                try:
                    m = metrics()
                    q = {q: m.get(f'watchpost_scheduler_lateness_recent_seconds{{quantile="{q}"}}') for q in ("0.5", "0.99")}
                    q["1"] = m.get("watchpost_scheduler_lateness_recent_max_seconds")
                    samples.append(q)
                except OSError:
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        m0, t0 = metrics(), time.time()
        rss_before, hwm_before = anchorlib.rss_kb(proc.pid) / 1024, anchorlib.rss_kb(proc.pid, "VmHWM") / 1024
        nginx0, machine0 = anchorlib.cpu_seconds(anchorlib.nginx_pids()), anchorlib.sys_cpu()[0]
        margv = [sys.executable, os.path.join(ANCHORS, "measure_pid.py"), "--pid", str(proc.pid), "--rate", str(rate),
                 "--window", str(window), "--reps", str(reps)]
        log("$", " ".join(margv))
        mp_proc = subprocess.Popen(margv, stdout=subprocess.DEVNULL)
        # measure_pid.py first spins both cores for 3 s (its host-noise probe), which starves the agent of
        # CPU and leaves it thousands of probes to catch up on: lateness is read from RECOVER_S after the spin
        # (and the first 10 s window, which may hold some of it, is dropped). CPU and RSS are not: the
        # catch-up is in them, and the peak is its burst of connections.
        time.sleep(SPIN_S + RECOVER_S)
        late0 = metrics()
        sampler.start()
        mp_proc.wait(timeout=reps * window + 120)
        if mp_proc.returncode:
            raise subprocess.CalledProcessError(mp_proc.returncode, margv)
        m1, t1 = metrics(), time.time()
        nginx = (anchorlib.cpu_seconds(anchorlib.nginx_pids()) - nginx0) / (t1 - t0)
        # The whole machine's busy cores (user + system + softirq): loopback TCP costs both ends in the kernel,
        # so a saturated machine shows here before it shows in any one process.
        machine = (anchorlib.sys_cpu()[0] - machine0) / (t1 - t0)
        stop.set()
        mp = json.load(open(newest(os.path.join(ANCHOR_DIR, "results", "measure_pid-*.json"))))["summary"]
        probes = m1["watchpost_probes_total"] - m0["watchpost_probes_total"]
        failures = benchlib.probe_failures(m1, m0)
        q = [s for s in samples[1:] if s["0.99"] is not None]
        after = stalls(proc.pid, stall_count) if stall_count else []
        return {
            "stalls": after,
            "achieved": probes / (t1 - t0),
            "failures": failures,
            "cpu_ms_per_probe": mp["cpu_ms_per_item"]["median"],
            "cpu_ms_per_probe_range": (mp["cpu_ms_per_item"]["min"], mp["cpu_ms_per_item"]["max"]),
            "core_pct": mp["core_pct"]["median"],
            "nginx_core_pct": 100 * nginx,
            "machine_cores": machine,
            "rss_mb": mp["rss_mb"]["median"],
            "hwm_mb": mp["hwm_mb"]["max"],
            "rss_before_spin_mb": rss_before,
            "hwm_before_spin_mb": hwm_before,
            "late_p50_ms": median([s["0.5"] for s in q]) * 1e3,
            "late_over_100ms_pct": late_share(late0, m1, "0.1"),
            "late_p99_bound_ms": late_p99_bound(late0, m1),
            "late_p99_ms": max([s["0.99"] for s in q], default=float("nan")) * 1e3,
            "late_max_ms": max([s["1"] for s in q], default=float("nan")) * 1e3,
            "windows": len(q),
            "dropped": m1.get('watchpost_points_dropped_total{reason="queue_full"}', 0) + m1.get('watchpost_points_dropped_total{reason="store_error"}', 0),
            "written": m1["watchpost_points_written_total"] - m0["watchpost_points_written_total"],
            "behind": m1["watchpost_scheduler_behind"],
            "scrapes": len(scrapes),
            "scrape_mb": median([b for b, _ in scrapes]) / 1e6 if scrapes else None,
            "scrape_s": median([t for _, t in scrapes]) if scrapes else None,
        }
    finally:
        scrape_stop.set()
        benchlib.stop(proc)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true", help="skip blackbox_exporter and the bare floor")
    ap.add_argument("--no-blackbox", action="store_true", help="skip blackbox_exporter (the floor still runs)")
    ap.add_argument("--floor-rates", type=int, nargs="+", default=[2000],
                    help="rates of the bare floor (probes/s); 10000 asks whether this machine can hold 50,000 endpoints at 5 s at all")
    ap.add_argument("--scrape-every", type=float, default=0, metavar="S",
                    help="also scrape the whole /metrics (every endpoint's families) every S seconds, as a Prometheus would")
    ap.add_argument("--command", choices=["run", "agent"], default="run",
                    help="`watchpost run` (every part in one process, the default) or `watchpost agent` (the agent alone)")
    ap.add_argument("--stalls", type=int, default=0, metavar="K",
                    help="after the measurement, starve the agent K more times (both cores spun for 3 s) and report the RSS peak and the probes in flight as it catches up")
    ap.add_argument("--binary", metavar="PATH", help=benchlib.BINARY_HELP + "; another build, for an A/B sitting")
    a = ap.parse_args()
    global BINARY
    BINARY = os.path.abspath(benchlib.release_binary(a.binary))
    sh([sys.executable, os.path.join(ANCHORS, "target.py"), "start"], stdout=subprocess.DEVNULL)
    floor = []
    if not a.no_peers:
        floor += [bare_probe(r, 20) for r in a.floor_rates]
        peer, peer_cmd = ({}, "") if a.no_blackbox else blackbox([200, 2000], 10, 3)
    ours = [watchpost(n, a.warmup, a.window, a.reps, a.command, a.scrape_every, a.stalls) for n in a.sizes]
    if not a.no_peers:
        floor += [bare_probe(r, 20) for r in a.floor_rates]
    noise = subprocess.run([sys.executable, os.path.join(ANCHORS, "machine_noise.py"), "--samples", "1", "--pause", "0"],
                           capture_output=True, text=True, timeout=300).stdout.strip()

    lines = [f"## Agent benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Command: `bench/agent.py --sizes {' '.join(map(str, a.sizes))} --warmup {a.warmup:g} --window {a.window:g} --reps {a.reps} --command {a.command}"
             + (f" --scrape-every {a.scrape_every:g}" if a.scrape_every else "") + (f" --stalls {a.stalls}" if a.stalls else "") + "`"
             + (f" (binary {BINARY})" if a.binary else ""), "",
             "| endpoints | target probes/s | achieved probes/s | failures | CPU ms/probe (median, min-max) | % of a core (nginx's) | machine busy, cores of " + str(os.cpu_count()) + " | RSS MiB (peak; before the spin: RSS, peak) | lateness p50 / worst window's p99 / max ms | whole run: p99 at most, ms (share over 100 ms) | points dropped | whole /metrics: MB, median s (scrapes) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in ours:
        lo, hi = r["cpu_ms_per_probe_range"]
        lines.append(f"| {r['endpoints']:,} | {r['target_rate']:,.0f} | {r['achieved']:,.0f} | {r['failures']:.0f} | "
                     f"{r['cpu_ms_per_probe']:.3f} ({lo:.3f}-{hi:.3f}) | {r['core_pct']:.0f} ({r['nginx_core_pct']:.0f}) | {r['machine_cores']:.2f} | {r['rss_mb']:.0f} ({r['hwm_mb']:.0f}; {r['rss_before_spin_mb']:.0f}, {r['hwm_before_spin_mb']:.0f}) | "
                     f"{r['late_p50_ms']:.2f} / {r['late_p99_ms']:.1f} / {r['late_max_ms']:.1f} ({r['windows']} windows) | "
                     f"≤ {r['late_p99_bound_ms']:g} ({r['late_over_100ms_pct']:.2f} %) | {r['dropped']:.0f} | "
                     + (f"{r['scrape_mb']:.1f}, {r['scrape_s']:.2f} ({r['scrapes']}) |" if r["scrapes"] else "not scraped |"))
    if a.stalls:
        lines += ["", f"After the measurement, {a.stalls} stall{'s' if a.stalls > 1 else ''} of 3 s (both cores spun), each watched for 12 s:", "",
                  "| endpoints | RSS MiB before each stall | peak while catching up | 12 s after | probes in flight at most | slots shed |",
                  "|---|---|---|---|---|---|"]
        for r in ours:
            col = lambda k: ", ".join(f"{x[k]:.0f}" for x in r["stalls"])
            lines.append(f"| {r['endpoints']:,} | {col('rss_before_mb')} | {col('peak_mb')} | {col('rss_after_mb')} | {col('in_flight_peak')} | {col('shed')} |")
    if not a.no_peers:
        lines += ["", "Peers in the same sitting:", "",
                  "| engine | rate | CPU ms/probe | ratio Watchpost / engine (at the nearest size) |", "|---|---|---|---|"]
        big = ours[-1]
        small = ours[0]
        for rate, r in peer.items():
            mine = big if rate >= 1000 else small
            lines.append(f"| blackbox_exporter (`{peer_cmd}`) | {rate}/s | {r['cpu_ms_per_probe']:.3f} | "
                         f"{mine['cpu_ms_per_probe'] / r['cpu_ms_per_probe']:.2f} |")
        for f in floor:
            lines.append(f"| bare hyper probe, nothing stored (`{f['command']}`; {f['core_pct']:.0f} % of a core, nginx "
                         f"{f['nginx_core_pct']:.0f} %, machine {f['machine_cores']:.2f} cores busy, {f['overrun_s']:.1f} s behind its pace at the end) | {f['rate']}/s | "
                         f"{f['cpu_ms_per_probe']:.3f} | {big['cpu_ms_per_probe'] / f['cpu_ms_per_probe']:.2f} |")
    lines += ["", "Host noise after the run (`machine_noise.py --samples 1`):", "", noise]
    report = "\n".join(lines) + "\n"
    print(report)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results", f"agent-{time.strftime('%Y%m%dT%H%M%S')}.md")
    with open(path, "w") as f:
        f.write(report)
    json.dump({"ours": ours, "floor": floor, "peer": None if a.no_peers else peer}, open(path[:-3] + ".json", "w"), indent=1)
    log("report written to", path)


if __name__ == "__main__":
    main()
