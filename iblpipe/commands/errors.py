"""``iblpipe errors``: inspect, retry or ignore failed populate keys."""

from __future__ import annotations

from iblpipe.commands._common import not_available


def register(sub) -> None:
    p = sub.add_parser("errors", help="inspect, retry or ignore failed populate keys")
    p.set_defaults(func=not_available("errors", 7))
