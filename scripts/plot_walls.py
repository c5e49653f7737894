#!/usr/bin/env python3
"""Plot memory per link against links, from the sweep up to the walls.

Reads one or more of the engines bench's CSVs, in either of its two forms:
engines.csv (the sweep, `cargo bench --bench engines`; the rows of one
schedule, `--schedule`, default 1s) and wall.csv (`--wall`, which runs this
script on its own wall.csv at the end). Every point with a whole-memory
figure (total_bytes_per_link: resident + the kernel's growth) is drawn,
one colour per engine, in memory_wall.png:

  left   bytes per link, resident + kernel, log-log. A filled marker is a
         point that held every link to the end; a cross, one that did not
         (a wall: its figure is what it held when it failed). The wall's
         rows (dashed, squares) are series of their own: they run with the
         socket buffers the wall asked for (tcp_rmem, tcp_wmem on each row).
  right  the memory all the links take (bytes per link x links), with the
         machine's RAM as a line, and each series' last good point carried
         at its bytes per link out to 1,000,000 links (dotted): the C1M
         arithmetic drawn.

Usage:
  python3 scripts/plot_walls.py CSV... [-o OUTDIR] [--html FILE] [--ram-gib G]
  # the committed figure and page:
  python3 scripts/plot_walls.py docs/img/engines-sweep.csv \\
      docs/img/engines-wall-threads.csv docs/img/engines-wall-evloop.csv \\
      -o /tmp/walls --html docs/img/engines-walls.html --ram-gib 23.5

--ram-gib defaults to this machine's MemTotal; give the figure of the
machine the CSVs came from when plotting elsewhere. matplotlib is installed
with pip if missing (scripts/plotlib.py). Exit status: 0 ok, 1 matplotlib
unavailable or a PNG or the page cannot be written, 2 bad input.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plotlib import bench_main, csv_rows, fail, number, save  # noqa: E402
from report_html import Page  # noqa: E402

COLOURS = {"threads": "tab:blue", "evloop": "tab:green", "tokio": "tab:orange"}
EXTRA = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
C1M = 1_000_000


def read_rows(path):
    """The CSV's rows, each with `series`, `links_n`, `total` (bytes per
    link or None) and `held` added; a sweep's rows of every schedule (the
    plot keeps one)."""
    rows = csv_rows(path)
    if "links" not in rows[0] or "engine" not in rows[0]:
        fail(f"{path}: not an engines bench CSV (no engine or links column)")
    wall = "passed" in rows[0]
    out = []
    for r in rows:
        links = number(r.get("links"))
        if not links:
            continue
        total = number(r.get("total_bytes_per_link"))
        row = dict(r)
        row["series"] = f'{r["engine"]} (wall)' if wall else r["engine"]
        row["links_n"] = int(links)
        row["total"] = total if total and total > 0 else None
        if wall:
            row["held"] = r["passed"] == "true"
        else:
            row["held"] = not r.get("error") and (number(r.get("errors")) or 0) == 0
            row["passed"] = str(row["held"]).lower()
        out.append(row)
    return out


def mem_total_gib():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 2**30
    except OSError:
        pass
    return None


def options(ap):
    ap.add_argument("--schedule", default="1s",
                    help="which schedule's rows of an engines.csv to draw [1s]")
    ap.add_argument("--ram-gib", type=float, default=None,
                    help="the machine's RAM for the right panel's line [this machine's MemTotal]")


def plot(rows, out_dir, plt, args):
    rows[:] = [r for r in rows if r["series"].endswith("(wall)")
               or r.get("schedule") in (None, "", args.schedule)]
    pts = [r for r in rows if r["total"] is not None]
    if not pts:
        fail("no row has total_bytes_per_link (rows of an older bench, or another schedule?)")
    ram_gib = args.ram_gib or mem_total_gib()
    series = []
    for r in pts:
        if r["series"] not in series:
            series.append(r["series"])
    extra = iter(EXTRA)
    colour = {e: COLOURS.get(e.split(" ")[0]) or next(extra, "black") for e in series}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6))
    at_1m = []
    for e in series:
        mine = sorted((r for r in pts if r["series"] == e), key=lambda r: r["links_n"])
        c = colour[e]
        line, marker = ("--", "s") if e.endswith("(wall)") else ("-", "o")
        xs = [r["links_n"] for r in mine]
        ys = [r["total"] for r in mine]
        left.plot(xs, ys, line, color=c, alpha=0.5)
        right.plot(xs, [y * x / 2**30 for x, y in zip(xs, ys)], line, color=c, alpha=0.5)
        for x, y, held in zip(xs, ys, (r["held"] for r in mine)):
            style = dict(marker=marker, color=c) if held else dict(marker="x", color=c, ms=9, mew=2)
            left.plot([x], [y], linestyle="none", **style)
            right.plot([x], [y * x / 2**30], linestyle="none", **style)
        left.plot([], [], line, marker=marker, color=c, label=e)
        good = [r for r in mine if r["held"]]
        if good and good[-1]["links_n"] < C1M:
            x, y = good[-1]["links_n"], good[-1]["total"]
            right.plot([x, C1M], [y * x / 2**30, y * C1M / 2**30], ":", color=c)
            at_1m.append(f"{e}: {y * C1M / 2**30:.1f} GiB")
    if at_1m:
        right.text(0.98, 0.03, "carried to 1M links:\n" + "\n".join(at_1m),
                   transform=right.transAxes, ha="right", va="bottom", fontsize=8,
                   bbox=dict(facecolor="white", alpha=0.8, edgecolor="lightgray"))
    left.plot([], [], "x", color="gray", ms=9, mew=2, label="did not hold")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("links")
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("bytes per link (resident + kernel)")
    left.set_title("Memory per link")
    left.legend(fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("GiB for all the links")
    right.set_title("All the links' memory; dotted: the last good point carried to 1M")
    if ram_gib:
        right.axhline(ram_gib, color="black", linestyle="--", linewidth=1)
        right.annotate(f"RAM {ram_gib:.1f} GiB", (right.get_xlim()[0], ram_gib),
                       textcoords="offset points", xytext=(4, 4), fontsize=8)
    save(fig, os.path.join(out_dir, "memory_wall.png"),
         how="left: bytes per link, resident + kernel, log-log, one colour per engine (the "
         "wall's own runs dashed, with its small socket buffers); a cross marks a point that "
         "did not hold every link. Right: those bytes times the links, with the machine's RAM "
         "dashed and each series' last good point carried to a million links (dotted).")


PAGE = Page("Engines bench: memory per link, up to the walls", [
    ("series", "series", None), ("links", "links", None), ("passed", "held", None),
    ("schedule", "schedule", None), ("interval_s", "interval", "s"),
    ("servers", "servers", None), ("clients", "clients", None),
    ("client_sources", "sources", None),
    ("rss_bytes_per_link", "RSS", "B/link"), ("kernel_bytes_per_link", "kernel", "B/link"),
    ("total_bytes_per_link", "total", "B/link"),
    ("errors", "errors", None), ("tcp_rmem", "tcp_rmem", "text"),
    ("limit", "limit", "text"), ("error", "error", "text"),
])


def main():
    bench_main("Plot memory per link against links, from the engines sweep to the walls.",
               "engines.csv or wall.csv files of the engines bench", read_rows, plot, PAGE,
               many=True, options=options)


if __name__ == "__main__":
    main()
