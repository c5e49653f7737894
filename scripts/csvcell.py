"""One CSV cell read as a number, shared by the plot scripts (through
plotlib) and the HTML report writer (report_html), which plotlib itself
calls: a module of its own keeps the two from importing each other."""


def number(text):
    """A CSV cell as a float; None when it is empty or not a number."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None
