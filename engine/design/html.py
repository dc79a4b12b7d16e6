"""Small HTML builders for notebook display; every text passes through ``html.escape``."""

from __future__ import annotations

import html
from collections.abc import Sequence

STYLE = (
    "<style>"
    ".anon-design{border-collapse:collapse;font-size:12px;margin:4px 0 12px 0}"
    ".anon-design th,.anon-design td{border:1px solid #ccc;padding:2px 6px;text-align:left;"
    "vertical-align:top;white-space:nowrap}"
    ".anon-design caption{text-align:left;font-weight:bold;padding:2px 0}"
    ".anon-design .null{color:#999;font-style:italic}"
    ".anon-design .changed{background:#fff4d6}"
    ".anon-design .bad{background:#fbd5d5}"
    ".anon-design .good{background:#dcf5dc}"
    "</style>"
)


class Cell:
    """A table cell with a CSS class; plain strings become cells without one."""

    def __init__(self, text: object, css: str = "", colspan: int = 1) -> None:
        self.text = text
        self.css = css
        self.colspan = colspan

    def render(self, tag: str) -> str:
        if self.text is None:
            body, css = "NULL", f"{self.css} null".strip()
        else:
            body, css = html.escape(str(self.text)), self.css
        attributes = f' class="{css}"' if css else ""
        if self.colspan > 1:
            attributes += f' colspan="{self.colspan}"'
        return f"<{tag}{attributes}>{body}</{tag}>"


def _cell(value: object) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def render_table(
    header_rows: Sequence[Sequence[object]], rows: Sequence[Sequence[object]], caption: str = ""
) -> str:
    """Render an HTML table with one or more header rows."""
    parts = [STYLE, '<table class="anon-design">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    for header in header_rows:
        parts.append("<tr>" + "".join(_cell(value).render("th") for value in header) + "</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(_cell(value).render("td") for value in row) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def heading(text: str, level: int = 4) -> str:
    return f"<h{level}>{html.escape(text)}</h{level}>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"
