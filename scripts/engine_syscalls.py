#!/usr/bin/env python3
"""The CSV and the table of scripts/engine-syscalls.sh, from its run folder.

The shell script leaves, per engine, WORK/ENGINE/facts ("name value"
lines: each window's updates, seconds and CPU ticks per side, the clients'
errors and reconnects) and WORK/ENGINE/{server,client}.counts ("syscall
calls" lines, with `total`, and with perf `other`). This turns them into
one CSV row per engine, side and syscall, and prints calls per update of
the main kinds per engine and side. See `scripts/engine-syscalls.sh --help`
for the columns.

Usage (the shell script calls it; by hand only to redo the table):
  python3 scripts/engine_syscalls.py --work DIR --out CSV --engines LIST
      --links N --interval MS --method perf|strace --commit C --machine M --ticks HZ
"""

import argparse
import csv
import os
import sys

# The readable table's columns: a kind and the syscalls it sums. What no
# kind names is `other`.
KINDS = [
    ("read", {"read", "recvfrom", "recvmsg", "readv"}),
    ("write", {"write", "sendto", "sendmsg", "writev"}),
    ("epoll", {"epoll_wait", "epoll_pwait", "epoll_pwait2"}),
    ("futex", {"futex"}),
    ("sleep", {"clock_nanosleep", "nanosleep"}),
    ("yield", {"sched_yield"}),
    ("accept", {"accept", "accept4"}),
]

COLUMNS = ["engine", "side", "syscall", "calls", "calls_per_update", "updates",
           "window_s", "achieved_per_s", "untraced_per_s", "cpu_us_per_update",
           "untraced_cpu_us_per_update", "links", "interval_ms", "method",
           "commit", "machine"]


def read_pairs(path):
    """ "name value" lines as a dict of numbers."""
    try:
        with open(path, encoding="utf-8") as f:
            return {k: float(v) for k, v in (line.split() for line in f if line.strip())}
    except (OSError, ValueError) as e:
        sys.exit(f"engine_syscalls: cannot read {path}: {e}")


def per(a, b):
    return a / b if b else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for name in ("work", "out", "engines", "method", "commit", "machine"):
        ap.add_argument("--" + name, required=True)
    for name in ("links", "interval", "ticks"):
        ap.add_argument("--" + name, required=True, type=int)
    a = ap.parse_args()

    rows, table, warnings = [], [], []
    target = a.links * 1000 / a.interval
    for engine in a.engines.split(","):
        facts = read_pairs(os.path.join(a.work, engine, "facts"))
        updates, untraced = facts["updates"], facts["untraced_updates"]
        common = {
            "engine": engine, "updates": int(updates),
            "window_s": f"{facts['window_s']:.3f}",
            "achieved_per_s": f"{per(updates, facts['window_s']):.1f}",
            "untraced_per_s": f"{per(untraced, facts['untraced_window_s']):.1f}",
            "links": a.links, "interval_ms": a.interval, "method": a.method,
            "commit": a.commit, "machine": a.machine,
        }
        rates = {"traced": per(updates, facts["window_s"]),
                 "untraced": per(untraced, facts["untraced_window_s"])}
        for which, rate in rates.items():
            # A window off its target rate caught up or fell behind: its
            # waits were not the point's (a busy machine, or too much load).
            if not 0.95 * target <= rate <= 1.05 * target:
                warnings.append(f"{engine}: the {which} window ran at {rate:.0f} updates/s against "
                                f"a target of {target:.0f}: its figures do not describe the point")
        for side in ("server", "client"):
            counts = read_pairs(os.path.join(a.work, engine, f"{side}.counts"))
            cpu = per(facts[f"{side}_ticks"] * 1e6 / a.ticks, updates)
            cpu_untraced = per(facts[f"untraced_{side}_ticks"] * 1e6 / a.ticks, untraced)
            for syscall, calls in sorted(counts.items(), key=lambda kv: (kv[0] == "total", -kv[1])):
                rows.append({**common, "side": side, "syscall": syscall, "calls": int(calls),
                             "calls_per_update": f"{per(calls, updates):.4f}",
                             "cpu_us_per_update": f"{cpu:.2f}",
                             "untraced_cpu_us_per_update": f"{cpu_untraced:.2f}"})
            kinds = [sum(n for s, n in counts.items() if s in names) for _, names in KINDS]
            total = counts.get("total", 0)
            other = total - sum(kinds)
            table.append([engine, side, common["achieved_per_s"], common["untraced_per_s"],
                          f"{cpu_untraced:.1f}->{cpu:.1f}"]
                         + [f"{per(n, updates):.2f}" for n in kinds + [other, total]]
                         + [f"{int(facts['errors'])}/{int(facts['reconnects'])}"])

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)

    head = (["engine", "side", "upd/s", "untraced", "cpu_us/upd"]
            + [k for k, _ in KINDS] + ["other", "total", "err/reconn"])
    widths = [max(len(str(r[i])) for r in [head] + table) for i in range(len(head))]
    print(f"syscalls per update ({a.method}; {a.links} links at {a.interval} ms; "
          f"commit {a.commit}; {a.machine})")
    for r in [head] + table:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    print("upd/s: updates/s in the traced window, untraced: in the window before it; "
          "cpu_us/upd: the side's processes, untraced->traced; err/reconn: the clients' "
          "errors and reconnects over the whole run.")
    for w in warnings:
        print("WARNING: " + w)
    print(f"CSV: {a.out}")


if __name__ == "__main__":
    main()
