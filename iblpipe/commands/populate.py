"""``iblpipe populate``: run every auto-populated table (reserve_jobs, many workers)."""

from __future__ import annotations

import argparse
import sys

from iblpipe.commands._common import add_worker_options, log_flags, prefix_of, worker_options


def register(sub) -> None:
    p = sub.add_parser(
        "populate",
        help="run every auto-populated table (reserve_jobs, many workers)",
        description=(
            "Populate the auto-populated tables in dependency order. Keys are reserved in each table's jobs "
            "table, so any number of workers on any number of hosts can run against one database without "
            "duplicate work. Exit 0 when every key made in this run succeeded, 1 when any failed "
            "(see `iblpipe errors`). SIGTERM finishes the current key, then exits cleanly."
        ),
    )
    add_worker_options(p)
    p.add_argument("--processes", type=int, default=1, help="worker processes on this host (default: 1)")
    p.add_argument("--loop", action="store_true", help="repeat the passes until --duration or SIGTERM")
    p.add_argument("--sleep", type=float, default=60.0, help="(s) pause between passes with --loop (default: 60)")
    p.add_argument("--duration", type=float, help="(s) with --loop: stop starting passes after this long")
    p.add_argument("--no-progress", action="store_true", help="log lines only, no progress bars even on a TTY")
    p.set_defaults(func=run)


def progress_bar(args: argparse.Namespace):
    """A tqdm wrapper of a table's keys on a TTY, else None (log lines only)."""
    if not sys.stderr.isatty() or args.no_progress or args.processes != 1:
        return None
    from tqdm import tqdm

    def bar(items, total, desc):
        return tqdm(items, total=total, desc=desc, unit="key", file=sys.stderr)

    return bar


def run(args: argparse.Namespace) -> int:
    from iblpipe import operations

    options = worker_options(args)
    result = operations.populate(
        options,
        processes=args.processes,
        prefix=prefix_of(args),
        progress=progress_bar(args),
        log_flags=log_flags(args),
    )
    return result.exit_code
