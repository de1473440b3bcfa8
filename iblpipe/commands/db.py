"""``iblpipe db start|stop|status|check``: the embedded MariaDB; ``db grant``: accounts; ``db migrate``: layout."""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)

EXIT_RUNNING, EXIT_NOT_RUNNING = 0, 3  # LSB init-script status codes: 0 running, 3 not running


def register(sub) -> None:
    p = sub.add_parser("db", help="start, stop or inspect the embedded MariaDB server")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    start = dbsub.add_parser("start", help="start the embedded server (reuse it if running)")
    start.set_defaults(func=_start)
    stop = dbsub.add_parser("stop", help="stop the embedded server")
    stop.set_defaults(func=_stop)
    st = dbsub.add_parser(
        "status",
        help="show whether the embedded server runs and where (exit 3 when it does not)",
        description="Show whether the embedded server runs. Exit 0 running, 3 not running (LSB status codes).",
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_status)
    check = dbsub.add_parser(
        "check",
        help="connect to the configured server (DJ_* env, datajoint.json or embedded) and report it",
        description=(
            "Report which server the configuration chooses and whether it accepts us. Never starts a server: "
            "exit 0 reachable, 2 a configured server unreachable, 3 the embedded server not running."
        ),
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
    mig = dbsub.add_parser(
        "migrate",
        help="bring the pipeline's tables to this version's layout in place",
        description=(
            "Rename tables of an earlier iblpipe layout in place, e.g. behavior.Trials (per session) -> "
            "behavior.TrialSet, Trials.Trial -> TrialSet.Trial (now behavior.Trials). One atomic RENAME; "
            "foreign keys and DataJoint lineage follow. Nothing is re-imported. Run it once, as an "
            "administrator, before workers and analysts use the new version; a second run changes nothing. "
            "ephys.Clusters keyed by insertion only (before spike sortings were told apart) is dropped with "
            "every table below it; the next populate imports them again from the ALF files. "
            "Then brings parameter hashes to compute.params.content_hash and deletes psychometric fits of "
            "near-empty blocks and converged fits below psychofit's log-likelihood (issue 20), which the next "
            "populate refits."
        ),
    )
    mig.add_argument("--dry-run", action="store_true", help="list the renames without doing them")
    mig.set_defaults(func=_migrate)


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
    return EXIT_RUNNING if st["running"] else EXIT_NOT_RUNNING


def _check(args: argparse.Namespace) -> int:
    from iblpipe.connection import check_reachable, resolve

    spec = resolve(start_embedded=False)
    if spec is None:
        print(
            "embedded MariaDB not running and no DJ_HOST or datajoint.json configured: start it with `iblpipe db start`"
        )
        return EXIT_NOT_RUNNING
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


def _migrate(args: argparse.Namespace) -> int:
    from iblpipe import schemas
    from iblpipe.connection import connect
    from iblpipe.schemas import migrate

    names = schemas.schema_names(getattr(args, "prefix", None))
    conn = connect()
    if args.dry_run:
        todo = migrate.pending(names, conn)
        rebuilds = migrate.pending_rebuilds(names, conn)
        for db, old, new in todo:
            print(f"would rename {db}.{old} -> {db}.{new}")
        for db, table, order in rebuilds:
            dropped = ", ".join(f"{d}.{t}" for d, t in order)
            print(f"would drop {dropped} ({db}.{table} is keyed by an earlier layout; populate imports it again)")
        columns = migrate.pending_columns(names, conn)
        for db, table, column, _, _ in columns:
            print(f"would alter {db}.{table}.{column} to allow NULL")
        if not todo and not rebuilds and not columns:
            print("nothing to migrate")
        else:
            print(f"{len(todo)} table(s) to rename, {len(rebuilds)} to rebuild, {len(columns)} column(s) to alter")
        if not todo and not rebuilds and not columns:
            stale = migrate.refit_pending(getattr(args, "prefix", None), conn)
            print(
                f"would delete the psychometric fits of {stale} session(s) with near-empty blocks (refit by populate)"
            )
            worse = migrate.converged_pending(getattr(args, "prefix", None), conn)
            for key in worse:
                print(f"would delete the converged fit {migrate.describe_key(key)}: log-likelihood below psychofit's")
            print(f"would delete {len(worse)} converged fit(s) below psychofit's log-likelihood (refit by populate)")
            copies = migrate.region_units_pending(getattr(args, "prefix", None), conn)
            print(f"would copy the units of {copies} UnitQuality row(s) into UnitQuality.RegionUnit")
        return 0
    renamed = migrate.rename(names, conn)
    for line in renamed:
        print(f"renamed {line}")
    rebuilt = migrate.rebuild(names, conn)
    for line in rebuilt:
        print(f"rebuilt {line}")
    altered = migrate.relax(names, conn)
    for line in altered:
        print(f"altered {line}")
    if not renamed and not rebuilt and not altered:
        print("nothing to migrate: the layout is current")
    elif renamed:
        print(f"migrated {len(renamed)} table(s)")
    refreshed, refit, reconverged = migrate.refresh(getattr(args, "prefix", None), conn)
    for line in refreshed:
        print(f"rehashed {line}")
    if refit:
        print(
            f"deleted the psychometric fits of {refit} session(s) with near-empty blocks: `iblpipe populate` refits them"
        )
    for key in reconverged:
        print(f"deleted the converged fit {migrate.describe_key(key)}: log-likelihood below psychofit's")
    if reconverged:
        print(
            f"deleted {len(reconverged)} converged fit(s) below psychofit's log-likelihood: `iblpipe populate` refits them"
        )
    copied = migrate.fill_region_units(getattr(args, "prefix", None), conn)
    if copied:
        print(f"copied the units of {copied} UnitQuality row(s) into UnitQuality.RegionUnit")
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
