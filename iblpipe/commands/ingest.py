"""``iblpipe ingest``: mirror Alyx metadata from dump:FILE, alyx:URL or one-cache:DIR."""

from __future__ import annotations

import argparse

from iblpipe.commands._common import prefix_of
from iblpipe.operations.ingest import DEFAULT_MAX_DELETE_PERCENT


def register(sub) -> None:
    p = sub.add_parser(
        "ingest",
        help="mirror Alyx metadata from dump:FILE, alyx:URL or one-cache:DIR",
        description=(
            "Mirror lab metadata into the database: insert new records, update changed ones in place "
            "(deleting computed rows downstream of them) and delete records gone from the source "
            "(with everything downstream). Re-running with the same input changes nothing."
        ),
    )
    p.add_argument(
        "--source",
        required=True,
        metavar="KIND:WHERE",
        help="dump:FILE (Alyx JSON dump), alyx:URL (Alyx REST through ONE), one-cache:DIR (sessions.pqt)",
    )
    p.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="delete even when the source is empty or drops more than --max-delete-percent of a table",
    )
    p.add_argument(
        "--max-delete-percent",
        type=float,
        default=DEFAULT_MAX_DELETE_PERCENT,
        help="(percent of a table's rows) deletions above this are refused without --allow-mass-delete",
    )
    p.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    p.add_argument("--alyx-user", help="Alyx username for alyx:URL (password from $ALYX_PASSWORD or ONE's params)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iblpipe import operations

    report = operations.ingest(
        args.source,
        prefix=prefix_of(args),
        alyx_user=args.alyx_user,
        allow_mass_delete=args.allow_mass_delete,
        max_delete_percent=args.max_delete_percent,
        dry_run=args.dry_run,
    )
    print(report.summary())
    return operations.ingest_exit_code(report)
