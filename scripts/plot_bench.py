#!/usr/bin/env python3
"""Plot system.csv written by `cargo bench --bench system`.

Renders four PNGs next to the CSV, each with one panel per schedule and the
link count (clients x 10 servers) on a log x axis; solid lines are the real
system, dashed lines the ping-pong floor in the system's process layout
(kind pingpong), dash-dot lines the same ping-pong in one process (kind
pingpong-1p), one colour per cpu_affinity:

  achieved.png     achieved / target, percent (closed loop: updates/s, as it
                   has no target); a run whose verify failed is marked FAILED
  cpu_per_op.png   CPU microseconds per update (system) and per round trip
                   (pingpong, pingpong-1p), all servers and clients together
  ctx_per_op.png   context switches per update / round trip
  latency_p99.png  the system's send-to-ack latency p99 (solid) and
                   due-to-send lateness p99 (dotted; not under closed loop),
                   ms, log scale

Usage:
  python3 scripts/plot_bench.py DIR/system.csv [-o OUTDIR]

OUTDIR defaults to the CSV's directory. matplotlib is installed with pip if it
is missing. Exit status: 0 ok, 1 matplotlib unavailable or a PNG cannot be
written, 2 bad input (missing file, wrong header, no data rows).
"""

import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plotlib import bench_main, fail, number, save  # noqa: E402

COLUMNS = (
    "links,clients,servers,schedule,affinity,kind,duration_s,target_per_s,"
    "achieved_per_s,achieved_ratio,cpu_us_per_op,ctx_per_op,latency_p99_us,"
    "lateness_p99_us,server_rss_mb,client_rss_mb,verify_ok"
).split(",")
SCHEDULES = ("fixed-rate", "fixed-delay", "closed-loop")
COLOURS = {"off": "tab:blue", "by-server": "tab:orange"}
STYLES = {"system": "-", "pingpong": "--", "pingpong-1p": "-."}
# Kinds drawn where the floor is: the floor's two layouts beside the system.
# A CSV from before pingpong-1p existed simply has no such rows.
RATE_KINDS = ("system", "pingpong", "pingpong-1p")
# Marker per kind, so the two floors stay apart where their lines overlap.
MARKERS = {"system": "o", "pingpong": "o", "pingpong-1p": "s"}
# Zero cannot sit on a log axis: clip latencies to 1 us.
LOG_FLOOR_MS = 0.001






def read_rows(path):
    """Returns a list of dicts (numbers as float or None); exits 2 on bad input."""
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.DictReader(f))
            header = lines and list(lines[0].keys())
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail(f"cannot read {path}: {e}")
    if not lines:
        fail(f"{path} has no data rows")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        fail(f"{path}: missing column(s) {', '.join(missing)}")
    rows = []
    for r in lines:
        row = {c: number(r[c]) for c in COLUMNS}
        for c in ("schedule", "affinity", "kind", "verify_ok"):
            row[c] = (r[c] or "").strip()
        if row["links"] is None or row["kind"] not in STYLES:
            continue
        rows.append(row)
    if not rows:
        fail(f"{path} has no usable rows")
    return rows




def series(rows, schedule, kind, affinity, y):
    """(links, values) sorted by links, for rows with a value in column/func y."""
    pts = []
    for r in rows:
        if (r["schedule"], r["kind"], r["affinity"]) != (schedule, kind, affinity):
            continue
        v = y(r) if callable(y) else r[y]
        if v is not None:
            pts.append((r["links"], v, r))
    pts.sort(key=lambda p: p[0])
    return pts


def figure(plt, schedules, title):
    fig, axes = plt.subplots(1, len(schedules), figsize=(max(5.2 * len(schedules), 9), 4.4),
                             squeeze=False)
    fig.suptitle(title, fontsize=11)
    return fig, axes[0]


def link_axis(ax, rows, schedule):
    links = sorted({r["links"] for r in rows if r["schedule"] == schedule})
    ax.set_xscale("log")
    if links:
        ax.set_xticks(links)
        ax.set_xticklabels([f"{int(x):,}" for x in links], rotation=30)
        ax.minorticks_off()
        if len(links) == 1:
            ax.set_xlim(links[0] / 2, links[0] * 2)
    ax.set_xlabel("links (clients x 10 servers)")
    ax.grid(True, which="major", alpha=0.3)


def draw(ax, rows, schedule, y, kinds=RATE_KINDS, style=None, suffix=""):
    drawn = False
    for kind in kinds:
        for affinity in COLOURS:
            pts = series(rows, schedule, kind, affinity, y)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[kind],
                    markersize=4, linestyle=style or STYLES[kind], color=COLOURS[affinity],
                    label=f"{kind} affinity={affinity}{suffix}")
            drawn = True
    return drawn




def plot(rows, out_dir, plt):
    present = {r["schedule"] for r in rows}
    schedules = [s for s in SCHEDULES if s in present] + sorted(present - set(SCHEDULES))
    written = []

    # Achieved: percent of target, or updates/s under closed loop.
    fig, axes = figure(plt, schedules,
                       "Achieved rate: system (solid) vs ping-pong floor, "
                       "processes (dashed) and one process (dash-dot)")
    for ax, sched in zip(axes, schedules):
        with_target = any(r["achieved_ratio"] is not None for r in rows if r["schedule"] == sched)
        if with_target:
            draw(ax, rows, sched,
                 lambda r: None if r["achieved_ratio"] is None else r["achieved_ratio"] * 100)
            ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
            ax.set_ylabel("achieved / target, %")
        else:
            draw(ax, rows, sched, "achieved_per_s")
            ax.set_ylabel("updates (round trips) per second")
        for affinity in COLOURS:
            for links, _, r in series(rows, sched, "system", affinity, "links"):
                if r["verify_ok"] == "false":
                    yv = (r["achieved_ratio"] * 100 if with_target and r["achieved_ratio"]
                          is not None else r["achieved_per_s"] or 0)
                    ax.plot([links], [yv], marker="x", color="red", markersize=10)
                    ax.annotate("verify FAILED", (links, yv), color="red", fontsize=8,
                                textcoords="offset points", xytext=(4, 4))
        ax.set_title(sched)
        link_axis(ax, rows, sched)
        ax.legend(fontsize=7)
    path = os.path.join(out_dir, "achieved.png")
    save(fig, path)
    written.append(path)
    plt.close(fig)

    for name, column, ylabel, title in (
        ("cpu_per_op.png", "cpu_us_per_op", "CPU us per update / round trip",
         "CPU per update, all processes: system (solid) vs ping-pong floor, "
         "processes (dashed) and one process (dash-dot)"),
        ("ctx_per_op.png", "ctx_per_op", "context switches per update / round trip",
         "Context switches per update: system (solid) vs ping-pong floor, "
         "processes (dashed) and one process (dash-dot)"),
    ):
        fig, axes = figure(plt, schedules, title)
        for ax, sched in zip(axes, schedules):
            if not draw(ax, rows, sched, column):
                ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
            ax.margins(y=0.12)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(ylabel)
            ax.set_title(sched)
            link_axis(ax, rows, sched)
            ax.legend(fontsize=7)
        path = os.path.join(out_dir, name)
        save(fig, path)
        written.append(path)
        plt.close(fig)

    fig, axes = figure(plt, schedules, "System latency p99 (solid) and lateness p99 (dotted)")
    for ax, sched in zip(axes, schedules):
        def ms(col):
            return lambda r: None if r[col] is None else max(r[col] / 1000, LOG_FLOOR_MS)
        drawn = draw(ax, rows, sched, ms("latency_p99_us"), kinds=("system",),
                     suffix=" latency")
        if sched != "closed-loop":  # no due times, so no lateness
            drawn |= draw(ax, rows, sched, ms("lateness_p99_us"), kinds=("system",),
                          style=":", suffix=" lateness")
        if drawn:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
        ax.set_ylabel("ms")
        ax.set_title(sched)
        link_axis(ax, rows, sched)
        ax.legend(fontsize=7)
    path = os.path.join(out_dir, "latency_p99.png")
    save(fig, path)
    written.append(path)
    plt.close(fig)
    return written


def main():
    bench_main("Plot the system bench's system.csv.",
               "system.csv written by cargo bench --bench system", read_rows, plot)


if __name__ == "__main__":
    main()
