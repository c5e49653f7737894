#!/usr/bin/env python3
"""The engines bench's HTML reports open offline (issue 27): each plot
script, run as the bench runs it on a small CSV from fixtures/, writes a
page that

  * names no http:// or https:// address anywhere, and has no script,
    stylesheet link, frame or object, nor a CSS url() or @import, that
    could fetch one;
  * shows every chart the script drew as a PNG file, once, as an <img>
    whose source is a PNG inside the page (a data URI), each with a
    "How to read it" line;
  * is well-formed: html.parser sees every element closed, in order;
  * shows one table row per CSV row, and the commit and machine when the
    CSV has those columns (and does not crash when it lacks them: the
    committed sweep from before issue 27 does).

Run by engines/tests/html_report.rs (so by `cargo test`), or by hand:
  python3 engines/tests/html_report.py
Exit status 0 when every check holds; otherwise the failures are printed.
"""

import base64
import csv
import html.parser
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts")
FIXTURES = os.path.join(HERE, "fixtures")

# Elements with no end tag (the HTML standard's void elements).
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# Elements that load something from elsewhere or run code; none belongs here.
FORBIDDEN = {"script", "link", "iframe", "object", "embed", "frame", "base"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(html.parser.HTMLParser):
    """Collects what the checks need, and the ways the page is malformed."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open = []          # the elements open at this point, outermost first
        self.problems = []
        self.images = []        # each <img>'s src
        self.captions = []      # each <figcaption>'s text
        self.body_rows = 0      # <tr> inside <tbody>
        self.terms = {}         # the header's <dt> text -> its <dd> text
        self._caption = None    # a <figcaption>'s text so far, while in one
        self._term = None       # the last <dt>'s text, while in it or its <dd>

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN:
            self.problems.append(f"<{tag}> present")
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data") and value \
                    and not value.startswith("data:image/png;base64,"):
                self.problems.append(f"<{tag} {name}={value[:60]!r}> points outside the page")
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag == "tr" and "tbody" in self.open:
            self.body_rows += 1
        if tag == "figcaption":
            self._caption = []
        if tag == "dt":
            self._term = [""]
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problems.append(f"</{tag}> closes a void element")
        elif not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> while {self.open[-1:] or 'nothing'} is open")
        else:
            self.open.pop()
        if tag == "figcaption" and self._caption is not None:
            self.captions.append("".join(self._caption).strip())
            self._caption = None
        if tag == "dt" and self._term is not None:
            self._term.append("")
        if tag == "dd" and self._term is not None:
            self.terms[self._term[0].strip()] = self._term[1].strip()
            self._term = None

    def handle_data(self, data):
        if self._caption is not None:
            self._caption.append(data)
        if self._term is not None:
            self._term[-1] += data


def check(script, fixture, page_name, expect_charts):
    """Runs script on fixture as the bench does; returns the failures."""
    failures = []
    csv_path = os.path.join(FIXTURES, fixture)
    with tempfile.TemporaryDirectory(prefix="html-report-") as out:
        page_path = os.path.join(out, page_name)
        run = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), csv_path,
                              "-o", out, "--html", page_path],
                             capture_output=True, text=True)
        if run.returncode != 0:
            return [f"{script} exited {run.returncode}:\n{run.stdout}{run.stderr}"]
        pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
        with open(page_path, encoding="utf-8") as f:
            text = f.read()
    if len(pngs) != expect_charts:
        failures.append(f"{script} drew {len(pngs)} PNGs ({pngs}), the check expects {expect_charts}")
    lowered = text.lower()
    for scheme in ("http://", "https://"):
        if scheme in lowered:
            at = lowered.index(scheme)
            failures.append(f"names {scheme}: ...{text[max(at - 40, 0):at + 40]!r}...")
    # The style could fetch without naming a scheme (`url(//host/x)`);
    # neither form can occur inside base64, whose alphabet has no ( or @.
    for fetch in ("url(", "@import"):
        if fetch in lowered:
            failures.append(f"names {fetch!r}: the style would fetch from elsewhere")
    page = Page()
    page.feed(text)
    page.close()
    failures += page.problems
    if page.open:
        failures.append(f"left open at the end: {page.open}")
    if len(page.images) != len(pngs):
        failures.append(f"{len(page.images)} <img> for {len(pngs)} charts")
    for i, src in enumerate(page.images):
        png = base64.b64decode(src.partition(",")[2] or "", validate=True) if src else b""
        if not png.startswith(PNG_MAGIC):
            failures.append(f"image {i + 1} is not a PNG inside the page")
    if len(page.captions) != len(page.images) or not all(
            c.startswith("How to read it:") and len(c) > 40 for c in page.captions):
        failures.append(f"captions: {page.captions!r}")
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if page.body_rows != len(rows):
        failures.append(f"table has {page.body_rows} rows, the CSV {len(rows)}")
    for column in ("commit", "machine"):
        if column not in rows[0]:
            if column in page.terms:
                failures.append(f"header shows {column} though the CSV has no such column")
        elif page.terms.get(column) != rows[0][column]:
            failures.append(f"header's {column}: {page.terms.get(column)!r}, "
                            f"the CSV's {rows[0][column]!r}")
    return [f"{fixture}: {f}" for f in failures]


def main():
    failures = []
    failures += check("plot_engines.py", "engines.csv", "engines.html", 6)
    failures += check("plot_engines.py", "engines-old-columns.csv", "engines.html", 6)
    failures += check("plot_engines_blocking.py", "blocking.csv", "blocking.html", 1)
    failures += check("plot_walls.py", "wall.csv", "wall.html", 1)
    for f in failures:
        print(f"FAIL {f}")
    if failures:
        sys.exit(1)
    print("html_report: 4 pages, each self-contained and well-formed")


if __name__ == "__main__":
    main()
