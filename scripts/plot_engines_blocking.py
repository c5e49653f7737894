#!/usr/bin/env python3
"""Plot blocking.csv written by `cargo bench --bench engines -- --blocking`.

Renders blocking.png next to the CSV: latency p50, p99 and p99.9 (columns)
of the links that never block and of all links (rows), per engine, without
(faded) and with (solid) the injected block, and for tokio with the block
inside `block_in_place` (hatched); each bar the median over the rounds,
its whisker the range.

With --html FILE it also writes FILE: the chart, a line on how to read
it, and the table of rows, in one page that opens offline
(scripts/report_html.py). The bench writes blocking.html beside the CSV.

Usage:
  python3 scripts/plot_engines_blocking.py DIR/blocking.csv [-o OUTDIR] [--html FILE]

matplotlib is installed with pip if missing (scripts/plotlib.py). Exit
status: 0 ok, 1 matplotlib unavailable or a PNG or the page cannot be
written, 2 bad input.
"""

import csv
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plotlib import bench_main, fail, number, save  # noqa: E402
from report_html import Page  # noqa: E402

COLOURS = {"threads": "tab:blue", "evloop": "tab:green", "tokio": "tab:orange"}
QUANTILES = (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))
GROUPS = (("others", "links that never block"), ("all", "all links"))
# The CSV's `block` values: legend text, alpha, hatch.
VARIANTS = {"off": ("without block", 0.35, None),
            "on": ("with block", 1.0, None),
            "on-block_in_place": ("with block, tokio's block_in_place", 1.0, "//")}


def read_rows(path):
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if number(r.get("all_latency_p50_us")) is not None]
    if not rows:
        fail(f"{path} has no usable rows")
    return rows


def plot(rows, out_dir, plt):
    engines = [e for e in COLOURS if any(r["engine"] == e for r in rows)]
    engines += sorted({r["engine"] for r in rows} - set(engines))
    first = rows[0]
    fig, axes = plt.subplots(len(GROUPS), len(QUANTILES), figsize=(12, 7.2), squeeze=False)
    fig.suptitle(
        f"Latency, send to ack, {int(float(first['links'])):,} links at {first['schedule']}: "
        f"without (faded) and with (solid; hatched: inside block_in_place) a {first_on(rows, 'block_us')} us block on every "
        f"{first_on(rows, 'block_every')} update(s) of {first_on(rows, 'slow_links')} links\n"
        f"median of {len({r['round'] for r in rows})} round(s), whiskers the range",
        fontsize=10)
    width = 0.27
    for row, (group, group_title) in enumerate(GROUPS):
        for col, (q, q_title) in enumerate(QUANTILES):
            ax = axes[row][col]
            for i, e in enumerate(engines):
                for k, block in enumerate(VARIANTS):
                    vals = [number(r[f"{group}_latency_{q}_us"]) for r in rows
                            if r["engine"] == e and r["block"] == block]
                    vals = [v / 1000.0 for v in vals if v is not None]
                    if not vals:
                        continue
                    med = statistics.median(vals)
                    x = i + (k - 1) * width
                    alpha, hatch = VARIANTS[block][1:]
                    ax.bar(x, med, width, color=COLOURS.get(e, "tab:gray"), alpha=alpha,
                           hatch=hatch, edgecolor="white",
                           label=VARIANTS[block][0] if e == "tokio" else None)
                    ax.errorbar(x, med, yerr=[[med - min(vals)], [max(vals) - med]],
                                color="black", capsize=2, linewidth=1)
                    ax.annotate(f"{med:.2f}", (x, med), ha="center", va="bottom", fontsize=6,
                                xytext=(0, 2), textcoords="offset points")
            ax.set_xticks(range(len(engines)))
            ax.set_xticklabels(engines)
            ax.set_yscale("log")
            ax.set_ylabel("ms")
            ax.set_title(f"{group_title}: {q_title}", fontsize=9)
            ax.grid(True, axis="y", which="major", alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    save(fig, os.path.join(out_dir, "blocking.png"),
         how="columns p50, p99 and p99.9 of latency (send to ack, ms, log axis); top row the "
             "links that never block, bottom row all links; per engine a faded bar without the "
             "block and a solid one with it (hatched: tokio with the block inside "
             "block_in_place). A bar is the median over the rounds, its whisker the range. The "
             "top row's step from faded to solid is what one link's slow work costs the links "
             "that do none.")
    plt.close(fig)


def first_on(rows, column):
    return next((r[column] for r in rows if r["block"] == "on"), "?")


# The report's table: the run, then latency of the links that never block
# and of all links. Columns a CSV lacks are left out of the page.
PAGE = Page("Engines bench: when one link's work blocks", [
    ("round", "round", None), ("engine", "engine", None), ("block", "block", None),
    ("block_us", "block", "us"), ("block_every", "every", "updates"),
    ("slow_links", "slow links", None), ("links", "links", None), ("schedule", "schedule", None),
    ("achieved_per_s", "achieved", "/s"),
    ("others_latency_p50_us", "others p50", "us"), ("others_latency_p99_us", "others p99", "us"),
    ("others_latency_p999_us", "others p99.9", "us"),
    ("all_latency_p50_us", "all p50", "us"), ("all_latency_p99_us", "all p99", "us"),
    ("all_latency_p999_us", "all p99.9", "us"),
    ("slow_latency_p99_us", "slow p99", "us"),
    ("errors", "errors", None), ("reconnects", "reconnects", None), ("verify_ok", "verify", None),
    ("error", "error", "text"),
])


def main():
    bench_main("Plot the engines bench's blocking.csv.",
               "blocking.csv written by cargo bench --bench engines -- --blocking",
               read_rows, plot, PAGE)


if __name__ == "__main__":
    main()
