"""``iblpipe status``: per table, rows and keys done, pending, reserved (host, pid, age) and errors."""

from __future__ import annotations

import argparse
import json

from iblpipe.commands._common import activate


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="per table: rows, keys to do, pending, reserved (host/pid/age), errors (count, newest message)",
        description=(
            "One line per table. For auto-populated tables: todo = keys of the key source not in the table yet; "
            "pending / reserved / errors / ignored = the table's job queue. Reservations are listed below the "
            "table with host, pid and age (and the Slurm job of a worker under Slurm); `iblpipe errors` shows every "
            "failed key."
        ),
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--all", action="store_true", help="also list tables that are not auto-populated")
    p.set_defaults(func=run)


def _cell(value) -> str:
    return "-" if value is None else str(value)


def format_status(rows: list) -> str:
    """The status table as text (one line per table, reservations after)."""
    head = ("table", "rows", "todo", "pending", "reserved", "errors", "ignored")
    lines = [[r.table, r.rows, r.todo, r.pending, r.reserved, r.errors, r.ignored] for r in rows]
    cells = [head, *[[_cell(v) for v in line] for line in lines]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    text = []
    for i, c in enumerate(cells):
        text.append("  ".join(c[0].ljust(widths[0]) if j == 0 else c[j].rjust(widths[j]) for j in range(len(head))))
        err = rows[i - 1].newest_error if i else None
        if err:
            text[-1] += f"  newest error: {err[:100]}"
    reservations = [(r.table, res) for r in rows for res in r.reservations]
    if reservations:
        text.append("")
        text.append("reserved keys:")
        for table, res in reservations:
            age = "?" if res["age_s"] is None else f"{res['age_s']:.0f} s"
            key = " ".join(f"{k}={v}" for k, v in res["key"].items())
            job = f" (Slurm job {res['slurm_job']})" if res.get("slurm_job") else ""
            text.append(f"  {table}: {res['host']} pid {res['pid']}{job}, {age}: {key}")
    return "\n".join(text)


def run(args: argparse.Namespace) -> int:
    from iblpipe import operations

    names = activate(args)
    rows = operations.status(include_manual=args.all)
    if args.json:
        print(json.dumps({"schemas": names, "tables": [r.as_dict() for r in rows]}, default=str))
        return 0
    print(format_status(rows))
    return 0
