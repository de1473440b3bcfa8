"""``iblpipe status``: what each table holds (issue 7 adds pending, reserved and errors)."""

from __future__ import annotations

import argparse
import json

from iblpipe.commands._common import activate


def register(sub) -> None:
    p = sub.add_parser("status", help="per-table row counts (and, for computed tables, jobs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def table_counts() -> list[dict]:
    """Row count of every table of every activated schema module, in dependency order."""
    import datajoint as dj

    from iblpipe import schemas

    rows = []
    for mod in schemas.modules():
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and issubclass(obj, dj.Table) and obj.__module__ == mod.__name__:
                rows.append({"schema": mod.__name__.rsplit(".", 1)[1], "table": name, "rows": len(obj())})
    return rows


def run(args: argparse.Namespace) -> int:
    names = activate(args)
    rows = table_counts()
    if args.json:
        print(json.dumps({"schemas": names, "tables": rows}))
        return 0
    width = max((len(f"{r['schema']}.{r['table']}") for r in rows), default=10)
    print(f"{'table':<{width}}  {'rows':>10}")
    for r in rows:
        print(f"{r['schema'] + '.' + r['table']:<{width}}  {r['rows']:>10}")
    return 0
