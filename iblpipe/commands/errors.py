"""``iblpipe errors``: inspect, retry or ignore failed populate keys."""

from __future__ import annotations

import argparse
import json
import logging

from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "errors",
        help="inspect, retry or ignore failed populate keys",
        description=(
            "List the keys whose make failed (newest first), with the message. --retry requeues them "
            "(the next populate tries again), --ignore silences them until retried."
        ),
    )
    p.add_argument("--table", help="only these tables or schemas (comma-separated, as populate --tables)")
    p.add_argument("--match", metavar="TEXT", help="only errors whose message contains TEXT")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--retry", action="store_true", help="requeue the listed keys for the next populate")
    action.add_argument("--ignore", action="store_true", help="mark the listed keys ignored (populate skips them)")
    p.add_argument("--ignored", action="store_true", help="list (or --retry) ignored keys too")
    p.add_argument("--full", action="store_true", help="whole messages, not just their first line")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iblpipe.commands._common import activate, parse_tables
    from iblpipe.populate import select_tables
    from iblpipe.populate.queue import failed_keys, ignore, retry

    if args.ignore and args.ignored:
        raise ConfigError("--ignore with --ignored: ignored keys are already ignored")
    activate(args)
    tables = select_tables(parse_tables(args.table))
    failed = failed_keys(tables, include_ignored=args.ignored)
    if args.match:
        failed = [f for f in failed if args.match in f.message]
    if args.json:
        print(json.dumps([f.__dict__ for f in failed], default=str))
    else:
        for f in failed:
            key = " ".join(f"{k}={v}" for k, v in f.key.items())
            message = f.message if args.full else (f.message.splitlines() or [""])[0]
            flag = " (ignored)" if f.status == "ignore" else ""
            print(f"{f.table} {key}{flag}\n    {f.when} on {f.host} pid {f.pid}: {message}")
        if not failed:
            print("no failed keys")
    if args.retry:
        logger.info("requeued %d keys; the next populate tries them again", retry(failed, tables))
    elif args.ignore:
        logger.info("ignoring %d keys", ignore(failed, tables))
    return 0
