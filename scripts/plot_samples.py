#!/usr/bin/env python3
"""Plot a soak CSV written by `startup --samples FILE --sample-every 60s`.

Renders one PNG with six panels over elapsed time:
  (a) updates/s, with the schedule's target dashed
  (b) latency p50, p99 and corrected p99 (ms, log scale)
  (c) lateness p50 and p99 (ms, log scale; zeros clipped to 0.001 ms)
  (d) errors, reconnects and late sends per sample
  (e) CPU, percent of one core, summed over all servers / all clients
  (f) resident memory, MB, summed over all servers / all clients
  (g) open descriptors and (h) threads, summed the same way, when the CSV
      has those columns (they were added later; older CSVs plot as before)

Usage:
  python3 scripts/plot_samples.py soak.csv [-o soak.png] [--title TEXT]

The output defaults to the CSV path with .png. matplotlib is installed with
pip if it is missing. Exit status: 0 ok, 1 matplotlib unavailable or the PNG
cannot be written, 2 bad input (missing file, wrong header, no data rows).
"""

import argparse
import csv
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plotlib import fail, import_matplotlib  # noqa: E402

COLUMNS = (
    "time_s,updates_per_s,target_per_s,latency_p50_us,latency_p99_us,"
    "lateness_p50_us,lateness_p99_us,corrected_p99_us,late_sends,errors,"
    "reconnects,links_up,server_cpu_percent,client_cpu_percent,"
    "server_rss_mb,client_rss_mb"
).split(",")

# Columns added later, at the end of the row: plotted when present. An
# empty cell (the OS does not count descriptors) reads as a gap.
OPTIONAL = ("server_fds", "client_fds", "server_threads", "client_threads")

# Zero (an empty sample) cannot sit on a log axis: clip to 1 us.
LOG_FLOOR_MS = 0.001
# Runs longer than this are plotted in minutes.
MINUTES_AFTER_S = 600




def read_rows(path):
    """Returns {column: [float, ...]}; exits 2 on bad input."""
    if not os.path.exists(path):
        fail(f"{path}: no such file")
    if os.path.isdir(path):
        fail(f"{path} is a directory, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail(f"cannot read {path}: {e}")
    if not lines:
        fail(f"{path} is empty (expected the header: {','.join(COLUMNS)})")
    header = [h.strip() for h in lines[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        fail(
            f"{path}: header lacks column(s) {', '.join(missing)}; "
            f"is this a `startup --samples` file? Expected: {','.join(COLUMNS)}"
        )
    index = {c: header.index(c) for c in COLUMNS}
    optional = {c: header.index(c) for c in OPTIONAL if c in header}
    data = {c: [] for c in (*COLUMNS, *optional)}
    skipped = []
    for lineno, fields in enumerate(lines[1:], start=2):
        if not fields or all(not x.strip() for x in fields):
            continue
        try:
            values = {c: float(fields[i]) for c, i in index.items()}
        except (IndexError, ValueError):
            # A run killed mid-write leaves a partial last line; say so, go on.
            skipped.append(lineno)
            continue
        for c in COLUMNS:
            data[c].append(values[c])
        for c, i in optional.items():
            try:
                data[c].append(float(fields[i]))
            except (IndexError, ValueError):
                data[c].append(float("nan"))
    if skipped:
        shown = ", ".join(map(str, skipped[:10])) + (" ..." if len(skipped) > 10 else "")
        print(f"plot_samples: skipped {len(skipped)} malformed row(s) of {path}: line {shown}",
              file=sys.stderr)
    if not data["time_s"]:
        fail(f"{path} has no data rows (at least 1 needed); the first row is written "
             f"after one --sample-every interval")
    # Rows are appended in order, but sort anyway so a hand-merged file plots sanely.
    order = sorted(range(len(data["time_s"])), key=lambda i: data["time_s"][i])
    return {c: [v[i] for i in order] for c, v in data.items()}




def human_duration(seconds):
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def ms(values_us, floor=None):
    """us -> ms. floor: clip to it (lateness: 0 is real, on time). None:
    0 becomes a gap (latency: 0 means the sample had no acks to measure)."""
    out = [v / 1000.0 for v in values_us]
    if floor is None:
        return [v if v > 0 else float("nan") for v in out]
    return [max(v, floor) for v in out]


def top_legend(ax):
    """One legend row along the top of the panel, inside the headroom left for it."""
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(loc="upper left", ncol=len(handles), fontsize=9, frameon=True,
              framealpha=0.85, handlelength=1.8, columnspacing=1.2)


def log_headroom(ax, values, floor=None):
    """Fits a log axis to the data, with a decade and a half above for the legend."""
    finite = [v for v in values if v == v and v > 0]
    low = min(finite) if finite else 0.1
    high = max(finite) if finite else 10.0
    if floor is not None:
        low = min(low, floor)
    ax.set_ylim(bottom=low / 2, top=max(high, low * 10) * 40)


def plot(data, csv_path, out_path, extra_title):
    plt = import_matplotlib()
    from matplotlib.ticker import FuncFormatter

    t = data["time_s"]
    span = t[-1]
    in_minutes = span > MINUTES_AFTER_S
    x = [v / 60.0 for v in t] if in_minutes else list(t)
    xlabel = "elapsed time (min)" if in_minutes else "elapsed time (s)"
    n = len(x)
    # Markers make a handful of samples (or a single one) visible; a 3-hour
    # run at 60 s has 180 points, where lines alone read better.
    mk = {"marker": "o", "markersize": 3} if n <= 60 else {}

    median_ups = statistics.median(data["updates_per_s"])
    title = (f"{os.path.basename(csv_path)}: {human_duration(span)} run, {n} sample{'s' if n != 1 else ''}, "
             f"median {median_ups:,.0f} updates/s")
    if extra_title:
        title = f"{extra_title}\n{title}"

    held = all(k in data for k in OPTIONAL)
    rows = 4 if held else 3
    fig, axes = plt.subplots(rows, 2, figsize=(15, 4 * rows), sharex=True)
    (a, b), (c, d), (e, f) = axes[:3]

    # (a) throughput against the target.
    a.plot(x, data["updates_per_s"], label="updates/s (acked)", color="tab:blue", **mk)
    target = data["target_per_s"]
    if min(target) == max(target):  # the usual flat schedule: a full-width line, even for 1 row
        a.axhline(target[0], label=f"target {target[0]:,.0f}", color="black",
                  linestyle="--", linewidth=1)
    else:
        a.plot(x, target, label="target", color="black", linestyle="--", linewidth=1)
    links = data["links_up"]
    links_note = (f"links up {int(links[-1]):,}" if min(links) == max(links)
                  else f"links up {int(min(links)):,}..{int(max(links)):,}")
    a.set_title(f"(a) throughput ({links_note})")
    a.set_ylabel("updates/s")
    a.set_ylim(bottom=0, top=max(max(data["updates_per_s"]), max(data["target_per_s"]), 1) * 1.3)
    a.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    a.plot([], [], " ", label=f"min {min(data['updates_per_s']):,.0f}, median {median_ups:,.0f}")
    top_legend(a)

    # (b) latency, ms, log.
    lat = {k: ms(data[k]) for k in ("latency_p50_us", "latency_p99_us", "corrected_p99_us")}
    b.plot(x, lat["latency_p50_us"], label="p50", color="tab:green", **mk)
    b.plot(x, lat["latency_p99_us"], label="p99", color="tab:orange", **mk)
    b.plot(x, lat["corrected_p99_us"], label="corrected p99",
           color="tab:red", linestyle=":", **mk)
    b.set_yscale("log")
    empty = sum(1 for v in data["latency_p99_us"] if v == 0)
    b.set_title("(b) latency per sample"
                + (f" ({empty} with no acks measured: gaps)" if empty else ""))
    b.set_ylabel("ms (log)")
    log_headroom(b, [v for vs in lat.values() for v in vs])
    top_legend(b)

    # (c) lateness, ms, log, zeros clipped: 0 is on time. A row with no
    # histogram data at all (every percentile 0, e.g. the row written at stop)
    # is a gap instead.
    no_data = [all(data[k][i] == 0 for k in ("latency_p50_us", "latency_p99_us",
                                               "lateness_p50_us", "lateness_p99_us",
                                               "corrected_p99_us")) for i in range(n)]
    late = {k: [float("nan") if no_data[i] else v
                for i, v in enumerate(ms(data[k], LOG_FLOOR_MS))]
            for k in ("lateness_p50_us", "lateness_p99_us")}
    c.plot(x, late["lateness_p50_us"], label="p50", color="tab:green", **mk)
    c.plot(x, late["lateness_p99_us"], label="p99", color="tab:orange", **mk)
    c.set_yscale("log")
    c.set_title(f"(c) send lateness per sample (0 shown as {LOG_FLOOR_MS:g} ms)")
    c.set_ylabel("ms (log)")
    log_headroom(c, late["lateness_p50_us"] + late["lateness_p99_us"], LOG_FLOOR_MS)
    top_legend(c)

    # (d) counts per sample; symlog keeps zeros on the axis and spikes in view.
    d.plot(x, data["late_sends"], label=f"late sends (total {sum(data['late_sends']):,.0f})",
           color="tab:purple", **mk)
    d.plot(x, data["errors"], label=f"errors (total {sum(data['errors']):,.0f})",
           color="tab:red", **mk)
    d.plot(x, data["reconnects"], label=f"reconnects (total {sum(data['reconnects']):,.0f})",
           color="tab:brown", linestyle="--", **mk)
    d.set_yscale("symlog", linthresh=1)
    peak = max(max(data["late_sends"]), max(data["errors"]), max(data["reconnects"]), 1)
    d.set_ylim(bottom=0, top=peak * 30)
    d.set_title("(d) events per sample")
    d.set_ylabel("count (symlog)")
    d.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top_legend(d)

    # (e) CPU.
    for key, name, color in (("server_cpu_percent", "servers", "tab:blue"),
                             ("client_cpu_percent", "clients", "tab:orange")):
        e.plot(x, data[key], label=f"{name} (median {statistics.median(data[key]):.0f}%)",
               color=color, **mk)
    e.set_ylim(bottom=0, top=max(max(data["server_cpu_percent"]),
                                 max(data["client_cpu_percent"]), 1) * 1.3)
    e.set_title("(e) CPU, all processes of each kind summed")
    e.set_ylabel("% of one core")
    top_legend(e)

    # (f) memory.
    # The legend gives first -> last so slow growth (a leak) reads as a number.
    for key, name, color in (("server_rss_mb", "servers", "tab:blue"),
                             ("client_rss_mb", "clients", "tab:orange")):
        v = data[key]
        f.plot(x, v, label=f"{name} {v[0]:,.1f} -> {v[-1]:,.1f} MB ({v[-1] - v[0]:+,.1f})",
               color=color, **mk)
    f.set_ylim(bottom=0, top=max(max(data["server_rss_mb"]), max(data["client_rss_mb"]), 1) * 1.3)
    f.set_title("(f) resident memory, all processes of each kind summed")
    f.set_ylabel("MB")
    top_legend(f)

    if held:
        # (g) descriptors and (h) threads: first -> last, as for memory, so
        # a count that creeps (a socket or thread leak) reads as a number.
        g, h = axes[3]
        for ax, what, unit in ((g, "fds", "open descriptors"), (h, "threads", "threads")):
            top = 1.0
            for kind, color in (("server", "tab:blue"), ("client", "tab:orange")):
                v = data[f"{kind}_{what}"]
                known = [n for n in v if n == n]
                note = (f"{known[0]:,.0f} -> {known[-1]:,.0f} ({known[-1] - known[0]:+,.0f})"
                        if known else "not counted")
                ax.plot(x, v, label=f"{kind}s {note}", color=color, **mk)
                top = max([top, *known])
            ax.set_ylim(bottom=0, top=top * 1.3)
            ax.set_title(f"({'g' if what == 'fds' else 'h'}) {unit}, all processes of each kind summed")
            ax.set_ylabel(unit)
            top_legend(ax)

    for ax in axes.flat:
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlim(left=0, right=max(x[-1], 1e-9) * 1.01)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)

    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    try:
        fig.savefig(out_path, dpi=100)
    except OSError as err:
        fail(f"cannot write {out_path}: {err}", code=1)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description="Plot a `startup --samples` soak CSV into one PNG, one panel per metric.")
    parser.add_argument("csv", help="the samples CSV")
    parser.add_argument("-o", "--output", help="PNG to write [default: CSV path with .png]")
    parser.add_argument("--title", help="extra title line (e.g. the machine or the commit)")
    args = parser.parse_args()  # argparse exits 2 on bad usage, like bad input

    data = read_rows(args.csv)
    out = args.output or (os.path.splitext(args.csv)[0] + ".png")
    plot(data, args.csv, out, args.title)
    n = len(data["time_s"])
    print(f"plot_samples: wrote {out} ({n} sample{'s' if n != 1 else ''})")


if __name__ == "__main__":
    main()
