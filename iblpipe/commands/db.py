"""``iblpipe db start|stop|status``: the embedded MariaDB."""

from __future__ import annotations

import argparse
import json
import logging

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("db", help="start, stop or inspect the embedded MariaDB server")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    start = dbsub.add_parser("start", help="start the embedded server (reuse it if running)")
    start.set_defaults(func=_start)
    stop = dbsub.add_parser("stop", help="stop the embedded server")
    stop.set_defaults(func=_stop)
    st = dbsub.add_parser("status", help="show whether the embedded server runs and where")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_status)
    check = dbsub.add_parser(
        "check", help="connect to the configured server (DJ_* env, datajoint.json or embedded) and report it"
    )
    check.set_defaults(func=_check)


def _start(args: argparse.Namespace) -> int:
    from iblpipe import dbserver

    info = dbserver.start()
    print(f"embedded MariaDB running: pid {info.pid}, {info.host}:{info.port}, user {info.user}")
    print(f"data directory: {info.datadir}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from iblpipe import dbserver

    stopped = dbserver.stop()
    print("embedded MariaDB stopped" if stopped else "embedded MariaDB was not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from iblpipe import dbserver

    st = dbserver.status()
    if args.json:
        print(json.dumps(st))
    elif st["running"]:
        print(f"running: pid {st['pid']}, {st['host']}:{st['port']}, data in {st['datadir']}")
    else:
        print(f"not running (data directory {st['datadir']}{'' if st['initialised'] else ', not initialised'})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from iblpipe.connection import check_reachable, resolve

    spec = resolve()
    check_reachable(spec)
    print(f"reachable: {spec.user}@{spec.host}:{spec.port} (from {spec.origin})")
    return 0
