"""``iblpipe plot``: draw per-mouse performance figures and the lab report."""

from __future__ import annotations

from iblpipe.commands._common import not_available


def register(sub) -> None:
    p = sub.add_parser("plot", help="draw per-mouse performance figures and the lab report")
    p.set_defaults(func=not_available("plot", 8))
