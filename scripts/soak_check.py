#!/usr/bin/env python3
"""Check a soak's samples CSV (`startup --samples`) for what a long run must
show, and summarise it: the figures docs/SOAK.md "The 3-hour soak" quotes.

Checks, from the baseline row (the first at or after --from, default 10
minutes in, when start-up effects are over) to the last row:
  * each kind's summed resident memory grows at most --max-rss-growth
    percent (default 2): servers, clients;
  * each kind's threads and open descriptors at the end equal those at the
    baseline (no thread or socket creep);
  * no errors and no reconnects in any row (--allow-errors N relaxes it).

It also prints, per sample over the run: updates/s (median, min, max and
the spread of the middle 80%), latency p50 and p99, CPU per kind, memory
and counts per kind at the start, the baseline and the end.

Usage:
  python3 scripts/soak_check.py DIR/samples.csv [--from 10m] [--max-rss-growth 2]

Exit status: 0 every check holds, 1 a check fails, 2 bad input.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_samples import read_rows  # noqa: E402
from plotlib import fail  # noqa: E402

KINDS = ("server", "client")


def seconds(text):
    """10m, 90s, 1h or a bare number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        fail(f"--from {text!r}: expected e.g. 600, 10m or 1h")


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def minutes(t):
    return f"{t / 60:.1f} min"


def main():
    ap = argparse.ArgumentParser(description="Check and summarise a soak's samples CSV.")
    ap.add_argument("csv", help="the samples CSV (startup --samples)")
    ap.add_argument("--from", dest="start", default="10m",
                    help="baseline: the first row at or after this time [10m]")
    ap.add_argument("--max-rss-growth", type=float, default=2.0,
                    help="percent each kind's memory may grow, baseline to end [2]")
    ap.add_argument("--allow-errors", type=int, default=0,
                    help="errors (and reconnects) tolerated over the run [0]")
    args = ap.parse_args()

    data = read_rows(args.csv)
    t = data["time_s"]
    base = next((i for i, x in enumerate(t) if x >= seconds(args.start)), None)
    if base is None or base == len(t) - 1:
        fail(f"{args.csv}: no row after {args.start} to compare the end with "
             f"(the run has {len(t)} rows, the last at {minutes(t[-1])})")
    end = len(t) - 1
    failures = []

    rate = data["updates_per_s"]
    target = data["target_per_s"][end]
    print(f"soak_check: {len(t)} samples over {minutes(t[end])}; baseline row at "
          f"{minutes(t[base])}")
    print(f"  updates/s      median {statistics.median(rate):,.0f} of {target:,.0f}  "
          f"min {min(rate):,.0f}  max {max(rate):,.0f}  "
          f"middle 80% {quantile(rate, 0.1):,.0f}-{quantile(rate, 0.9):,.0f}")
    for col, label in (("latency_p50_us", "latency p50"), ("latency_p99_us", "latency p99")):
        ms = [v / 1000 for v in data[col]]
        print(f"  {label:<14} median {statistics.median(ms):.1f} ms  "
              f"min {min(ms):.1f}  max {max(ms):.1f}")
    for kind in KINDS:
        cpu = data[f"{kind}_cpu_percent"]
        print(f"  {kind} CPU     median {statistics.median(cpu):.1f}% of a core "
              f"(all {kind}s together)  min {min(cpu):.1f}  max {max(cpu):.1f}")

    for kind in KINDS:
        rss = data[f"{kind}_rss_mb"]
        growth = (rss[end] - rss[base]) / rss[base] * 100 if rss[base] else 0.0
        ok = growth <= args.max_rss_growth
        print(f"  {kind} RSS     start {rss[0]:.2f} MB  baseline {rss[base]:.2f}  "
              f"end {rss[end]:.2f}  max {max(rss):.2f}  growth {growth:+.2f}% "
              f"({'ok' if ok else 'FAIL'}: at most {args.max_rss_growth:g}%)")
        if not ok:
            failures.append(f"{kind} memory grew {growth:.2f}% from {minutes(t[base])} "
                            f"to the end (limit {args.max_rss_growth:g}%)")
        for what in ("threads", "fds"):
            col = f"{kind}_{what}"
            if col not in data:
                print(f"  {kind} {what:<7} not in this CSV (written before the column existed)")
                continue
            values = data[col]
            if any(v != v for v in (values[base], values[end])):  # NaN: not counted here
                print(f"  {kind} {what:<7} not counted on this OS")
                continue
            same = values[end] == values[base]
            print(f"  {kind} {what:<7} start {values[0]:.0f}  baseline {values[base]:.0f}  "
                  f"end {values[end]:.0f}  range {min(values):.0f}-{max(values):.0f} "
                  f"({'ok' if same else 'FAIL'}: the end equals the baseline)")
            if not same:
                failures.append(f"{kind} {what}: {values[base]:.0f} at the baseline, "
                                f"{values[end]:.0f} at the end")

    errors, reconnects = sum(data["errors"]), sum(data["reconnects"])
    when = [minutes(t[i]) for i, e in enumerate(data["errors"]) if e]
    print(f"  faults         errors {errors:.0f}  reconnects {reconnects:.0f}"
          + (f"  (rows at {', '.join(when)})" if when else ""))
    if errors > args.allow_errors or reconnects > args.allow_errors:
        failures.append(f"{errors:.0f} errors and {reconnects:.0f} reconnects "
                        f"(at most {args.allow_errors} allowed)")

    if failures:
        for f in failures:
            print(f"soak_check: FAIL: {f}")
        sys.exit(1)
    print("soak_check: OK")


if __name__ == "__main__":
    main()
