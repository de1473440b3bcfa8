"""``iblpipe db start|stop|status|check``: the embedded MariaDB; ``db grant``: analyst and worker accounts."""

from __future__ import annotations

import argparse
import json
import logging
import sys

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
    grant = dbsub.add_parser(
        "grant",
        help="create an analyst or worker account on the configured server",
        description=(
            "Create a database account for one role and print its generated password once. "
            "An analyst reads every pipeline schema (<prefix>%) and owns the schemas user_<name>_%; "
            "a worker writes the pipeline schemas but cannot alter, drop or truncate their tables nor touch user_ schemas. "
            "Run it as an administrator (e.g. DJ_USER=root). An existing account is refused "
            "unless --reset-password, which re-applies the role (and revokes what older versions gave workers beyond it)."
        ),
    )
    who = grant.add_argument_group("role (exactly one)")
    who.add_argument("--analyst", metavar="USER", help="reads the pipeline, owns schemas user_USER_*")
    who.add_argument("--worker", metavar="USER", help="writes the pipeline schemas (populate, ingest)")
    grant.add_argument(
        "--host", default="%", help="where the account may connect from (default '%%': anywhere), e.g. 10.0.0.%%"
    )
    grant.add_argument(
        "--reset-password",
        action="store_true",
        help="the account exists: set a new password and re-apply the role's grants",
    )
    grant.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin instead of generating one"
    )
    grant.set_defaults(func=_grant)


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


def _grant(args: argparse.Namespace) -> int:
    from iblpipe import roles, settings
    from iblpipe.errors import ConfigError

    chosen = [(role, user) for role, user in (("analyst", args.analyst), ("worker", args.worker)) if user is not None]
    if len(chosen) != 1:
        raise ConfigError("db grant: give exactly one of --analyst USER or --worker USER")
    role, user = chosen[0]
    prefix = settings.schema_prefix(getattr(args, "prefix", None))
    roles.check_account(role, user, args.host)
    roles.check_prefix(prefix)
    password = _read_password() if args.password_stdin else roles.generate_password()
    conn = _admin_connection()
    try:
        done = roles.grant_role(
            conn, role, user, password=password, prefix=prefix, host=args.host, reset_password=args.reset_password
        )
    finally:
        conn.close()
    print(f"{'created' if done.created else 'new password for'} {role} {done.account}:")
    for line in done.grants:
        print(f"  GRANT {line}")
    if not args.password_stdin:
        print(f"password (shown once, stored nowhere): {password}")
    return 0


def _read_password() -> str:
    from iblpipe.errors import ConfigError

    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise ConfigError("--password-stdin: no password on standard input (one line expected)")
    return line


def _admin_connection():
    """A plain pymysql connection to the configured server (DataJoint logs query text at debug level)."""
    import pymysql

    from iblpipe.connection import CONNECT_TIMEOUT_S, check_reachable, resolve

    spec = resolve()
    check_reachable(spec)
    return pymysql.connect(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password,
        connect_timeout=CONNECT_TIMEOUT_S,
        autocommit=True,
    )
