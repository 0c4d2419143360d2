#!/usr/bin/env python3
"""Where influxd spends its CPU: a CPU profile from its pprof endpoint, summarised without Go's tools.

influxd 1.x serves Go's profiler at /debug/pprof (on by default). `profile(url, seconds)` takes a CPU profile
over `seconds`; `summary(data)` decodes it (profile.proto, read with a small wire-format decoder: no Go
toolchain here) and says what share of the CPU went to each part of influxd: the write path, the query path
(and which of its stages), compactions, the garbage collector. Used by bench/fullstack.py --profile to say
which consumer's requests cost what (issue 19, figure 1).

Usage: bench/pprof.py URL SECONDS   (profile a running influxd and print the summary)
       bench/pprof.py --file PROFILE (summarise a saved profile)
"""
import gzip
import sys
import urllib.request

# Parts of influxd, each a function that is on the stack while it works; a sample counts towards the first
# part (in this order) whose function is on its stack, so the parts add up to the whole.
PARTS = [
    ("write: HTTP handler (body, parse)", "httpd.(*Handler).serveWrite"),
    ("write: points into the shard", "coordinator.(*PointsWriter)"),
    ("query: plan and open series (iterators)", "coordinator.(*StatementExecutor).createIterators"),
    ("query: answer as JSON", "httpd.(*Handler).serveQuery"),
    ("query: iterate and aggregate", "query.(*Executor)"),
    ("compaction", "tsm1.(*Engine).compact"),
    ("compaction", "tsm1.(*Compactor)"),
    ("cache snapshot", "tsm1.(*Engine).WriteSnapshot"),
    ("WAL", "tsm1.(*WAL)"),
    ("garbage collector", "runtime.gcBgMarkWorker"),
]


def _varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if c < 0x80:
            return result, i
        shift += 7


def _fields(b):
    """(field number, wire type, value) of one message: ints for varints, bytes for length-delimited."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = int.from_bytes(b[i:i + 8], "little"), i + 8
        elif wt == 5:
            v, i = int.from_bytes(b[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def _ints(wt, v):
    """A repeated integer field's values, packed or not."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def decode(data):
    """(samples: [(cpu nanoseconds, [function names, innermost first])], total nanoseconds)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    strings, functions, locations, raw = [], {}, {}, []
    for num, wt, v in _fields(data):
        if num == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif num == 5:
            f = dict((n, x) for n, _, x in _fields(v))
            functions[f.get(1, 0)] = f.get(2, 0)
        elif num == 4:
            lid, fns = 0, []
            for n, w, x in _fields(v):
                if n == 1:
                    lid = x
                elif n == 4:
                    fns.extend(y for m, _, y in _fields(x) if m == 1)
            locations[lid] = fns
        elif num == 2:
            locs, vals = [], []
            for n, w, x in _fields(v):
                if n == 1:
                    locs.extend(_ints(w, x))
                elif n == 2:
                    vals.extend(_ints(w, x))
            raw.append((locs, vals))
    samples = []
    for locs, vals in raw:
        names = [strings[functions[f]] for loc in locs for f in locations.get(loc, []) if f in functions]
        samples.append((vals[-1] if vals else 0, names))
    return samples, sum(s[0] for s in samples)


def profile(url, seconds):
    """A CPU profile of the influxd at `url` over the next `seconds`."""
    with urllib.request.urlopen(f"{url}/debug/pprof/profile?seconds={int(seconds)}", timeout=seconds + 60) as r:
        return r.read()


def classify(names):
    """The part of influxd a stack (function names) belongs to (see PARTS), or "other"."""
    return next((p for p, f in PARTS if any(f in n for n in names)), "other")


def parts(data):
    """{part: CPU-seconds} (see PARTS), and the total."""
    samples, total = decode(data)
    out = {}
    for ns, names in samples:
        part = classify(names)
        out[part] = out.get(part, 0) + ns / 1e9
    return out, total / 1e9


def top(data, n=25, part=None):
    """The `n` functions with the most CPU on the stack (inclusive), as (CPU-seconds, name); only the
    samples of `part` when given."""
    samples, _ = decode(data)
    inclusive = {}
    for ns, names in samples:
        if part is not None and classify(names) != part:
            continue
        for name in set(names):
            inclusive[name] = inclusive.get(name, 0) + ns / 1e9
    return sorted(((v, k) for k, v in inclusive.items()), reverse=True)[:n]


def summary(data):
    by_part, total = parts(data)
    lines = [f"influxd CPU in the profile: {total:.1f} s"]
    for part, s in sorted(by_part.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * s / max(total, 1e-9):5.1f} %  {s:6.1f} s  {part}")
    return "\n".join(lines)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--file":
        data = open(sys.argv[2], "rb").read()
    elif len(sys.argv) == 3:
        data = profile(sys.argv[1], float(sys.argv[2]))
    else:
        sys.exit(__doc__)
    print(summary(data))
    print("the functions with the most CPU on the stack:")
    for s, name in top(data):
        print(f"  {s:6.1f} s  {name}")
    print('the same, of "other":')
    for s, name in top(data, part="other"):
        print(f"  {s:6.1f} s  {name}")


if __name__ == "__main__":
    main()
