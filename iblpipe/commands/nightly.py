"""``iblpipe nightly``: ingest, populate and plot: the one command for cron."""

from __future__ import annotations

from iblpipe.commands._common import not_available


def register(sub) -> None:
    p = sub.add_parser("nightly", help="ingest, populate and plot: the one command for cron")
    p.set_defaults(func=not_available("nightly", 7))
