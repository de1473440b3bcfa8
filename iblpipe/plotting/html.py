"""The static report pages: one ``index.html`` per lab and one overall, opened from disk (no server).

Each row: mouse, lab, current training status, sessions, last session date,
days since the last session, and a thumbnail linking to the full figure.
Rows start sorted by status (most advanced first); clicking a column header
sorts by it (a few lines of inline JavaScript, no external resources).
"""

from __future__ import annotations

import datetime as dt
import html
import os
from dataclasses import dataclass
from pathlib import Path

from iblpipe.compute.training import STATUSES

STATUS_ORDER = {status: rank for rank, status in enumerate(STATUSES)}  # sort key: habituation first


@dataclass(frozen=True)
class ReportRow:
    """One mouse on the report page."""

    lab: str
    subject: str
    status: str | None
    n_sessions: int
    last_session: dt.date | None
    figure: Path  # the full PNG
    thumbnail: Path  # the small PNG shown in the table

    def days_since(self, today: dt.date) -> int | None:
        """(days) from the last session to ``today``; None without sessions."""
        return None if self.last_session is None else (today - self.last_session).days


def _status_rank(status: str | None) -> int:
    return STATUS_ORDER.get(status, -1) if status else -1


def _link(target: Path, page_dir: Path) -> str:
    return html.escape(Path(os.path.relpath(target, page_dir)).as_posix(), quote=True)


_SORT_SCRIPT = """
function sortBy(col, numeric) {
  const body = document.querySelector('#mice tbody');
  const rows = Array.from(body.rows);
  const th = document.querySelectorAll('#mice th')[col];
  const dir = th.dataset.dir === 'asc' ? -1 : 1;
  document.querySelectorAll('#mice th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = dir === 1 ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
    return dir * (numeric ? Number(x) - Number(y) : x.localeCompare(y));
  });
  rows.forEach(r => body.appendChild(r));
}
"""

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #eee; cursor: pointer; }
img { display: block; }
"""

COLUMNS = (  # (header, numeric sort)
    ("mouse", False),
    ("lab", False),
    ("status", True),
    ("sessions", True),
    ("last session", False),
    ("days since", True),
    ("figure", False),
)


def render_index(
    rows: list[ReportRow], page_dir: Path, *, title: str, today: dt.date, links: dict[str, Path] | None = None
) -> str:
    """The HTML of one report page whose file will live in ``page_dir`` (links are relative to it)."""
    ordered = sorted(rows, key=lambda r: (-_status_rank(r.status), r.lab, r.subject))
    head = "".join(
        f'<th onclick="sortBy({i}, {str(numeric).lower()})">{html.escape(name)}</th>'
        for i, (name, numeric) in enumerate(COLUMNS)
    )
    body = []
    for r in ordered:
        days = r.days_since(today)
        last = r.last_session.isoformat() if r.last_session else ""
        cells = (
            (r.subject, html.escape(r.subject)),
            (r.lab, html.escape(r.lab)),
            (str(_status_rank(r.status)), html.escape(r.status or "none")),
            (str(r.n_sessions), str(r.n_sessions)),
            (last, last),
            ("" if days is None else str(days), "" if days is None else str(days)),
            (
                r.subject,
                f'<a href="{_link(r.figure, page_dir)}"><img src="{_link(r.thumbnail, page_dir)}" '
                f'alt="{html.escape(r.subject, quote=True)} figure" width="280"></a>',
            ),
        )
        tds = "".join(f'<td data-sort="{html.escape(key, quote=True)}">{content}</td>' for key, content in cells)
        body.append(f'<tr id="mouse-{html.escape(r.lab, quote=True)}-{html.escape(r.subject, quote=True)}">{tds}</tr>')
    nav = ""
    if links:
        nav = (
            "<p>"
            + " · ".join(f'<a href="{_link(p, page_dir)}">{html.escape(n)}</a>' for n, p in links.items())
            + "</p>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_SORT_SCRIPT}</script></head>\n"
        f"<body><h1>{html.escape(title)}</h1><p>{len(rows)} mice; generated {today.isoformat()}; "
        "click a column header to sort.</p>"
        f'{nav}\n<table id="mice"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></body></html>\n"
    )


def write_report(rows: list[ReportRow], out: Path, *, today: dt.date) -> list[Path]:
    """Write ``<out>/index.html`` (every mouse) and ``<out>/<lab>/index.html`` (that lab's); returns the pages."""
    out = Path(out)
    labs = sorted({r.lab for r in rows})
    pages = {lab: out / lab / "index.html" for lab in labs}
    written = []
    overall = out / "index.html"
    out.mkdir(parents=True, exist_ok=True)
    overall.write_text(render_index(rows, out, title="All labs: mouse training report", today=today, links=pages))
    written.append(overall)
    for lab, page in pages.items():
        page.parent.mkdir(parents=True, exist_ok=True)
        lab_rows = [r for r in rows if r.lab == lab]
        page.write_text(
            render_index(
                lab_rows, page.parent, title=f"{lab}: mouse training report", today=today, links={"all labs": overall}
            )
        )
        written.append(page)
    return written
