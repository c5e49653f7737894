"""A plot script's charts and its CSV's rows as one HTML file that opens
offline: every chart is a PNG inside the page (a base64 data URI), the
style is inline, and there is no script, so the page can be mailed,
committed or opened from a disk without a network or a server.

The charts come from the same drawing code as the PNG files
(plotlib.save keeps a copy of each figure when a report is asked for), so
the page and the PNGs cannot drift apart. The copies are quantized to 256
colours: matplotlib's flat lines and fills lose nothing a reader sees, and
the page is about a quarter of the PNGs' size.
"""

import base64
import html
import io
import os
from dataclasses import dataclass

from csvcell import number


@dataclass
class Chart:
    """One figure as the page shows it."""
    name: str   # the PNG's file name, e.g. "achieved.png": the image's alt text
    how: str    # one line on how to read it, under the image
    png: bytes  # the figure, quantized


@dataclass
class Page:
    """What a plot script says about its report: the title, and which CSV
    columns the table shows: (column, heading, unit), the unit "%" for a
    ratio shown as a percent and "text" for words that may wrap. Columns no row fills are left out, so a CSV from before a
    column existed still makes a page."""
    title: str
    columns: list


def chart(fig, name, how, dpi):
    """The figure as a Chart: a PNG in memory, quantized. Pillow comes with
    matplotlib."""
    from PIL import Image
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi)
    image = Image.open(io.BytesIO(raw.getvalue())).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(small, format="PNG",
                                                                       optimize=True)
    return Chart(name, how or "", small.getvalue())


def write(path, page, csv_path, rows, charts, tool):
    """Writes the page: header (commit and machine when the CSV has them),
    the charts with a line each on how to read them, then the table."""
    text = render(page, os.path.basename(csv_path), rows, charts, tool)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def render(page, csv_name, rows, charts, tool):
    e = html.escape
    out = ["<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{e(page.title)}: {e(csv_name)}</title>", f"<style>{STYLE}</style>", "</head>",
           "<body>", f"<h1>{e(page.title)}</h1>"]
    out.append('<dl class="meta">')
    out.append(f"<dt>data</dt><dd><code>{e(csv_name)}</code>, {len(rows)} row(s)</dd>")
    for column, label in (("commit", "commit"), ("machine", "machine")):
        values = distinct(rows, column)
        if values:
            out.append(f"<dt>{label}</dt><dd>{'; '.join(f'<code>{e(v)}</code>' for v in values)}</dd>")
    out.append(f"<dt>drawn by</dt><dd><code>{e(tool)}</code>; one file, every chart inside it: "
               "it opens offline</dd>")
    out.append("</dl>")
    for c in charts:
        data = base64.b64encode(c.png).decode("ascii")
        out.append("<figure>")
        out.append(f'<img alt="{e(c.name)}" src="data:image/png;base64,{data}">')
        out.append(f"<figcaption><b>How to read it:</b> {e(c.how)}</figcaption>")
        out.append("</figure>")
    out.extend(table(page.columns, rows))
    out.extend(["</body>", "</html>", ""])
    return "\n".join(out)


def distinct(rows, column):
    """The column's non-empty values in first-seen order; none when the CSV
    lacks the column."""
    seen = []
    for r in rows:
        v = r.get(column)
        if isinstance(v, str) and v.strip() and v.strip() not in seen:
            seen.append(v.strip())
    return seen


def table(columns, rows):
    e = html.escape
    shown = [c for c in columns if any(cell(r.get(c[0]), c[2]) for r in rows)]
    out = ["<h2>Rows</h2>", '<div class="scroll"><table>', "<thead><tr>"]
    for column, heading, unit in shown:
        unit_text = f" ({e(unit)})" if unit and unit != "text" else ""
        out.append(f'<th title="CSV column {e(column)}">{e(heading)}{unit_text}</th>')
    out.append("</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        cells = "".join(('<td class="text">' if unit == "text" else "<td>")
                        + e(cell(r.get(c), unit)) + "</td>" for c, _, unit in shown)
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    out.append('<p class="note">Hover a heading for its CSV column; an empty cell: not '
               "applicable or not read. Every column is in the CSV.</p>")
    return out


def cell(value, unit):
    """A cell as text: numbers with thousands separators and a few digits,
    ratios as percents, anything else as it stands in the CSV."""
    v = value if isinstance(value, float) else number(value if isinstance(value, str) else None)
    if v is None or unit == "text":
        return value.strip() if isinstance(value, str) else ""
    if unit == "%":
        v *= 100
    if v == int(v) and abs(v) >= 1:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


# Inline, so the page needs nothing beside it.
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; }
dl.meta dt { color: #666; }
dl.meta dd { margin: 0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { max-width: 70em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; white-space: normal; vertical-align: bottom; min-width: 3.5em; }
td:first-child, th:first-child { text-align: left; }
td.text { white-space: normal; min-width: 16em; text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { color: #666; font-size: 12px; }
"""
