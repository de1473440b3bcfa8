"""``iblpipe ingest``: mirror Alyx metadata from dump:FILE, alyx:URL or one-cache:DIR."""

from __future__ import annotations

from iblpipe.commands._common import not_available


def register(sub) -> None:
    p = sub.add_parser("ingest", help="mirror Alyx metadata from dump:FILE, alyx:URL or one-cache:DIR")
    p.set_defaults(func=not_available("ingest", 4))
