#!/usr/bin/env python3
"""Plot engines.csv written by `cargo bench --bench engines`.

Renders six PNGs next to the CSV, links on a log x axis, one colour per
engine (threads, evloop, tokio, redis, mixed pairs), one panel per schedule
where the schedule matters:

  memory_per_link.png   bytes per link, resident + kernel (solid) and
                        resident alone (dashed), log-log
  cpu_per_op.png        CPU microseconds per update, user (solid) and
                        system (hatched) stacked, per engine and link count
  achieved.png          achieved / target, percent (closed loop: updates/s)
  latency_ccdf.png      latency CCDF (fraction of updates slower than x) at
                        three sizes (smallest, middle, largest) per engine
  fairness.png          acked per link: min, median, max per engine and size
  ctx_per_op.png        context switches per update

With --html FILE it also writes FILE: the same charts, a line on how to
read each, and the table of rows, in one page that opens offline
(scripts/report_html.py). The bench writes engines.html beside the CSV.

Usage:
  python3 scripts/plot_engines.py DIR/engines.csv [-o OUTDIR] [--html FILE]
  # the committed report (its PNGs go to a scratch folder; docs/img's
  # engines-*.png are these PNGs renamed):
  python3 scripts/plot_engines.py docs/img/engines-sweep.csv -o /tmp/engines-png \
      --html docs/img/engines-report.html

matplotlib is installed with pip if missing (scripts/plotlib.py). Exit
status: 0 ok, 1 matplotlib unavailable or a PNG or the page cannot be
written, 2 bad input.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plotlib import bench_main, csv_rows, fail, number, save  # noqa: E402
from report_html import Page  # noqa: E402

COLOURS = {"threads": "tab:blue", "evloop": "tab:green", "tokio": "tab:orange",
           "redis": "tab:red"}
EXTRA = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
SCHEDULE_ORDER = ("10ms", "1s", "closed-loop")


def read_rows(path):
    raw = csv_rows(path)
    rows = []
    for r in raw:
        row = dict(r)
        for c in ("links", "target_per_s", "achieved_per_s", "achieved_ratio",
                  "cpu_user_us_per_op", "cpu_sys_us_per_op", "ctx_per_op",
                  "rss_bytes_per_link", "total_bytes_per_link", "acked_min", "acked_median", "acked_max"):
            row[c] = number(r.get(c))
        row["ccdf"] = []
        for pair in (r.get("latency_ccdf") or "").split():
            q, _, v = pair.partition(":")
            if number(q) is not None and number(v) is not None:
                row["ccdf"].append((float(q), max(float(v), 1.0)))
        if row["links"] is not None:
            rows.append(row)
    if not rows:
        fail(f"{path} has no usable rows")
    return rows


def colours(rows):
    engines = sorted({r["engine"] for r in rows},
                     key=lambda e: (e not in COLOURS, list(COLOURS).index(e) if e in COLOURS else 0, e))
    table, extra = {}, iter(EXTRA)
    for e in engines:
        table[e] = COLOURS.get(e) or next(extra, "black")
    return engines, table


def schedules_of(rows):
    present = {r["schedule"] for r in rows}
    return [s for s in SCHEDULE_ORDER if s in present] + sorted(present - set(SCHEDULE_ORDER))


def panels(plt, n, title, width=5.4):
    fig, axes = plt.subplots(1, n, figsize=(max(width * n, 8), 4.4), squeeze=False)
    fig.suptitle(title, fontsize=11)
    return fig, axes[0]


def link_axis(ax, links):
    ax.set_xscale("log")
    if links:
        ax.set_xticks(links)
        ax.set_xticklabels([f"{int(x):,}" for x in links], rotation=30)
        ax.minorticks_off()
        if len(links) == 1:
            ax.set_xlim(links[0] / 2, links[0] * 2)
    ax.set_xlabel("links")
    ax.grid(True, which="major", alpha=0.3)


def lines(ax, rows, schedule, engines, colour, y, style="-", suffix=""):
    drawn = False
    for e in engines:
        pts = sorted((r["links"], y(r)) for r in rows
                     if r["engine"] == e and r["schedule"] == schedule and y(r) is not None)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4,
                    color=colour[e], label=e + suffix, linestyle=style)
            drawn = True
    return drawn


def per_schedule(plt, rows, out_dir, name, title, ylabel, y, how, log_y=False, y2=None):
    """One panel per schedule, a line per engine of `y`; with `y2`, a
    dashed line per engine of it beside (`y2` is (function, label))."""
    engines, colour = colours(rows)
    schedules = schedules_of(rows)
    fig, axes = panels(plt, len(schedules), title)
    for ax, sched in zip(axes, schedules):
        suffix = "" if y2 is None else " " + y2[2]
        if not lines(ax, rows, sched, engines, colour, y, suffix=suffix):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
        if y2 is not None:
            lines(ax, rows, sched, engines, colour, y2[0], style="--", suffix=" " + y2[1])
        if log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_title(sched)
        ax.set_ylabel(ylabel)
        link_axis(ax, sorted({r["links"] for r in rows if r["schedule"] == sched}))
        ax.legend(fontsize=7)
    save(fig, os.path.join(out_dir, name), how=how)
    plt.close(fig)


def plot(rows, out_dir, plt):
    engines, colour = colours(rows)
    schedules = schedules_of(rows)

    # Total (resident + the kernel's) where the CSV has it, with RSS dashed
    # beside it: the gap is what RSS misses. An old CSV has RSS only.
    def total(r):
        t = r.get("total_bytes_per_link")
        return t if t is not None and t > 0 else None
    if any(total(r) is not None for r in rows):
        per_schedule(plt, rows, out_dir, "memory_per_link.png",
                     "Memory per link: resident + kernel (solid), resident only (dashed), log-log",
                     "bytes per link", total,
                     "one colour per engine, lower is cheaper. Solid: the resident memory (RSS) "
                     "of every process of the point plus what the kernel's own memory grew by "
                     "(kernel stacks, unreclaimable slab, page tables, TCP buffers), over the "
                     "links; dashed: RSS alone. The gap between them is what RSS misses. Both axes "
                     "are log, so parallel lines grow alike; small points' kernel figures are "
                     "within other work's noise.",
                     log_y=True, y2=(lambda r: r["rss_bytes_per_link"], "RSS", "total"))
    else:
        per_schedule(plt, rows, out_dir, "memory_per_link.png",
                     "Resident memory per link, all processes (log-log)", "bytes per link",
                     lambda r: r["rss_bytes_per_link"],
                     "one line per engine, lower is cheaper: the resident memory (RSS) of every "
                     "process of the point at the window's end, over its links. Both axes are "
                     "log, so parallel lines grow alike. RSS leaves out the kernel's memory per "
                     "link (kernel stacks, socket buffers).",
                     log_y=True)
    per_schedule(plt, rows, out_dir, "ctx_per_op.png",
                 "Context switches per update, all processes", "switches per update",
                 lambda r: r["ctx_per_op"],
                 "one line per engine, lower is better: context switches of every process of the "
                 "point (voluntary and involuntary together) per acked update, i.e. how often the "
                 "scheduler had to run to move one update.")

    # Achieved: percent of target, or updates/s under closed loop.
    fig, axes = panels(plt, len(schedules), "Achieved rate (closed loop: updates/s)")
    for ax, sched in zip(axes, schedules):
        closed = sched == "closed-loop"
        y = (lambda r: r["achieved_per_s"]) if closed else (
            lambda r: None if r["achieved_ratio"] is None else r["achieved_ratio"] * 100)
        lines(ax, rows, sched, engines, colour, y)
        if not closed:
            ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("updates/s" if closed else "achieved / target, %")
        ax.set_title(sched)
        link_axis(ax, sorted({r["links"] for r in rows if r["schedule"] == sched}))
        ax.legend(fontsize=7)
    save(fig, os.path.join(out_dir, "achieved.png"),
         how="fixed-rate panels: the rate achieved over the target, in percent; on the dotted "
             "100% line the engine kept up, below it the links fell behind their schedule. "
             "Closed-loop panel: updates per second with each link sending as soon as its last "
             "update was acked; higher is better.")
    plt.close(fig)

    # CPU per update: user and system stacked, bars grouped by link count.
    fig, axes = panels(plt, len(schedules), "CPU per update, all processes: user (solid) + system (hatched)")
    for ax, sched in zip(axes, schedules):
        sizes = sorted({r["links"] for r in rows if r["schedule"] == sched})
        width = 0.8 / max(len(engines), 1)
        for k, e in enumerate(engines):
            for i, links in enumerate(sizes):
                r = next((r for r in rows if r["engine"] == e and r["schedule"] == sched
                          and r["links"] == links), None)
                if not r or r["cpu_user_us_per_op"] is None:
                    continue
                x = i + (k - (len(engines) - 1) / 2) * width
                u, s = r["cpu_user_us_per_op"], r["cpu_sys_us_per_op"] or 0
                ax.bar(x, u, width, color=colour[e], label=e if i == 0 else None)
                ax.bar(x, s, width, bottom=u, color=colour[e], alpha=0.45, hatch="//",
                       edgecolor="white")
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{int(x):,}" for x in sizes], rotation=30)
        ax.set_xlabel("links")
        ax.set_ylabel("CPU us per update")
        ax.set_title(sched)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, os.path.join(out_dir, "cpu_per_op.png"),
         how="one group of bars per link count, one bar per engine, lower is cheaper: CPU "
             "microseconds per acked update over every process of the point, user time (solid) "
             "under system time (hatched: the kernel's work for the engine, e.g. system calls "
             "and switches).")
    plt.close(fig)

    # Latency CCDF at three sizes per engine, on the schedule with most data.
    with_ccdf = [r for r in rows if r["ccdf"]]
    if with_ccdf:
        sched = max(schedules, key=lambda s: sum(1 for r in with_ccdf if r["schedule"] == s))
        shown = [e for e in engines if any(r["engine"] == e and r["schedule"] == sched for r in with_ccdf)]
        fig, axes = panels(plt, max(len(shown), 1), f"Latency CCDF ({sched}): fraction of updates slower than x", width=4.2)
        for ax, e in zip(axes, shown):
            mine = sorted((r for r in with_ccdf if r["engine"] == e and r["schedule"] == sched),
                          key=lambda r: r["links"])
            picks = [mine[0], mine[len(mine) // 2], mine[-1]] if len(mine) >= 3 else mine
            seen = set()
            for r, style in zip(picks, ("-", "--", ":")):
                if r["links"] in seen:
                    continue
                seen.add(r["links"])
                pts = [(v / 1000.0, max(1.0 - q, 1e-6)) for q, v in r["ccdf"]]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour[e],
                        marker=".", label=f"{int(r['links']):,} links")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("latency, ms")
            ax.set_ylabel("fraction slower")
            ax.set_title(e)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7)
        save(fig, os.path.join(out_dir, "latency_ccdf.png"),
             how="one panel per engine, one line per link count (smallest, middle, largest): "
                 "for each latency x (send to ack), the fraction of updates slower than x, both "
                 "axes log. Further left is faster; where a line meets the bottom is the slowest "
                 "update measured, and the height at x = 1 ms is the share slower than a "
                 "millisecond.")
        plt.close(fig)

    # Fairness: min / median / max acked per link, as boxes.
    fair = [r for r in rows if r["acked_median"] is not None]
    if fair:
        fig, axes = panels(plt, len(schedules), "Fairness: acked per link (whiskers min and max, line median)")
        for ax, sched in zip(axes, schedules):
            mine = sorted((r for r in fair if r["schedule"] == sched),
                          key=lambda r: (r["links"], engines.index(r["engine"])))
            stats = [{"med": r["acked_median"], "q1": r["acked_median"], "q3": r["acked_median"],
                      "whislo": r["acked_min"], "whishi": r["acked_max"],
                      "label": f"{r['engine']}\n{int(r['links']):,}"} for r in mine]
            if stats:
                boxes = ax.bxp(stats, showfliers=False, patch_artist=True)
                for box, r in zip(boxes["boxes"], mine):
                    box.set_edgecolor(colour[r["engine"]])
                for line, r in zip(boxes["medians"], mine):
                    line.set_color(colour[r["engine"]])
                    line.set_linewidth(3)
                ax.tick_params(axis="x", labelsize=6, rotation=90)
                ax.set_yscale("symlog")
            ax.set_ylabel("updates acked per link")
            ax.set_title(sched)
        save(fig, os.path.join(out_dir, "fairness.png"),
             how="one box per engine and link count: updates acked per link over the window, "
                 "the thick line the median link, the whiskers the least and the most served "
                 "link. A short box means the links got a like share; a tall one that some links "
                 "waited while others raced (it matters most under closed loop, where nothing "
                 "caps a fast link).")
        plt.close(fig)


# The report's table: the point, then what each engine cost and delivered.
# Columns a CSV lacks (an older bench's) are left out of the page.
PAGE = Page("Engines bench: threads, event loop, tokio and redis on one workload", [
    ("engine", "engine", None), ("schedule", "schedule", None), ("links", "links", None),
    ("target_per_s", "target", "/s"), ("achieved_per_s", "achieved", "/s"),
    ("achieved_ratio", "of target", "%"),
    ("cpu_user_us_per_op", "user CPU", "us/update"), ("cpu_sys_us_per_op", "system CPU", "us/update"),
    ("cpu_sched_us_per_op", "CPU (scheduler's ns)", "us/update"),
    ("ctx_per_op", "switches", "/update"),
    ("rss_bytes_per_link", "RSS", "B/link"), ("kernel_bytes_per_link", "kernel", "B/link"),
    ("total_bytes_per_link", "total", "B/link"),
    ("threads", "threads", None), ("threads_expected", "threads expected", None),
    ("connect_s", "connect", "s"),
    ("latency_p50_us", "p50", "us"), ("latency_p99_us", "p99", "us"),
    ("latency_p999_us", "p99.9", "us"), ("lateness_p99_us", "late p99", "us"),
    ("acked_min", "acked min", None), ("acked_median", "acked median", None),
    ("acked_max", "acked max", None),
    ("errors", "errors", None), ("reconnects", "reconnects", None), ("verify_ok", "verify", None),
    ("limit", "limit", "text"), ("error", "error", "text"),
])


def main():
    bench_main("Plot the engines bench's engines.csv.",
               "engines.csv written by cargo bench --bench engines", read_rows, plot, PAGE)


if __name__ == "__main__":
    main()
