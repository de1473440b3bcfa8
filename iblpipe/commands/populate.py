"""``iblpipe populate``: run every auto-populated table (reserve_jobs, many workers)."""

from __future__ import annotations

from iblpipe.commands._common import not_available


def register(sub) -> None:
    p = sub.add_parser("populate", help="run every auto-populated table (reserve_jobs, many workers)")
    p.set_defaults(func=not_available("populate", 7))
