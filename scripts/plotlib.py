"""What the plot scripts share: failing with a clear message, reading a
number from a CSV cell, getting matplotlib (installed with pip when it is
missing), saving a figure and, on request, an HTML report of every figure
(report_html.py).

Messages start with the running script's name (`plot_bench: ...`), so each
script reads as its own tool. Exit status convention of every plot script:
0 ok, 1 matplotlib unavailable or a PNG (or the HTML page) cannot be
written, 2 bad input.
"""

import importlib
import os
import subprocess
import sys

from csvcell import number  # noqa: F401  (the plot scripts take it from here)

TOOL = os.path.splitext(os.path.basename(sys.argv[0] or "plot"))[0]


def fail(message, code=2):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def csv_rows(path):
    """The CSV's rows as dicts; fails with a clear message when the file is
    missing or has no data rows."""
    import csv
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        fail(f"{path} has no data rows")
    return rows


def import_matplotlib():
    """matplotlib.pyplot with the Agg backend (no display needed). A fresh
    machine has no matplotlib: install it with pip, system-wide first, then
    for this user, and say so."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"{TOOL}: matplotlib is not installed; running "
              f"`{os.path.basename(sys.executable)} -m pip install --quiet matplotlib`",
              file=sys.stderr)
        attempts = [[], ["--user"]]
        for extra in attempts:
            cmd = [sys.executable, "-m", "pip", "install", "--quiet", *extra, "matplotlib"]
            if subprocess.run(cmd).returncode == 0:
                break
            if extra != attempts[-1]:
                print(f"{TOOL}: pip install failed; retrying with --user", file=sys.stderr)
        importlib.invalidate_caches()
        try:
            import site
            site.addsitedir(site.getusersitepackages())
        except Exception:  # noqa: BLE001 - best effort for a fresh --user install
            pass
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("matplotlib is still not importable; install it by hand "
                 "(python3 -m pip install matplotlib) and run again", code=1)
        print(f"{TOOL}: installed matplotlib", file=sys.stderr)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# The charts drawn so far, kept for the HTML report (report_html.py) while
# bench_main is asked for one; None otherwise. Module state rather than an
# argument threaded through every plot function: the scripts draw with
# save() and need not know whether a page is being made.
_kept = None


def save(fig, path, dpi=110, how=None):
    """Writes the figure to path as a PNG. `how`: one line on how to read
    the chart, shown under it in the HTML report."""
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        fail(f"cannot write {path}: {e}", code=1)
    print(f"{TOOL}: wrote {path}")
    if _kept is not None:
        import report_html
        _kept.append(report_html.chart(fig, os.path.basename(path), how, dpi))


def bench_main(description, csv_help, read_rows, plot, page=None, many=False, options=None):
    """The command line of a bench's plot script: CSV in, PNGs out beside
    it (or in -o DIR). With a `page` (report_html.Page) it also offers
    `--html FILE`: the same charts and the CSV's rows in one HTML file.
    `many`: one CSV or more, their rows drawn together (the PNGs go beside
    the first). `options(parser)` adds a script's own options; then `plot`
    is also given the parsed arguments."""
    global _kept
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("csv", help=csv_help, nargs="+" if many else None)
    ap.add_argument("-o", "--out-dir", help="where the PNGs go [the CSV's directory]")
    if page:
        ap.add_argument("--html", metavar="FILE",
                        help="also write FILE: every chart and the rows in one page that opens offline")
    if options:
        options(ap)
    args = ap.parse_args()
    paths = args.csv if many else [args.csv]
    rows = [r for path in paths for r in read_rows(path)]
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(paths[0]))
    os.makedirs(out_dir, exist_ok=True)
    html = getattr(args, "html", None)
    if html:
        _kept = []
    if options:
        plot(rows, out_dir, import_matplotlib(), args)
    else:
        plot(rows, out_dir, import_matplotlib())
    if html:
        import report_html
        try:
            report_html.write(html, page, ", ".join(os.path.basename(p) for p in paths), rows,
                              _kept, "scripts/" + os.path.basename(sys.argv[0]))
        except OSError as e:
            fail(f"cannot write {html}: {e}", code=1)
        print(f"{TOOL}: wrote {html}")
