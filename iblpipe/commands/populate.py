"""``iblpipe populate``: run every auto-populated table (reserve_jobs, many workers)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


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


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``populate`` and ``nightly``."""
    from iblpipe.populate import DEFAULT_STALE_TIMEOUT_S, DEFAULT_TRANSIENT_BUDGET_S, RESTRICT_KEYS

    p.add_argument(
        "--tables",
        default="all",
        help="all (default), or comma-separated schemas (behavior, ephys) and tables (behavior.TrialSet, Clusters)",
    )
    p.add_argument("--max-calls", type=int, help="at most this many makes per table and pass")
    p.add_argument(
        "--restrict",
        metavar="NAME=VALUE",
        help=f"only keys of these sessions: NAME one of {', '.join(RESTRICT_KEYS)} (e.g. subject=KS014,lab=cortexlab)",
    )
    p.add_argument(
        "--stale-timeout",
        type=float,
        help=(
            "(s) reservations older than this are taken as a dead worker's and redone "
            f"(default: $IBLPIPE_STALE_TIMEOUT or {DEFAULT_STALE_TIMEOUT_S}); keep it above your slowest make"
        ),
    )
    p.add_argument(
        "--retry-budget",
        type=float,
        default=float(DEFAULT_TRANSIENT_BUDGET_S),
        metavar="SECONDS",
        help=(
            "(s) how long a lost or unreachable server (at startup or during a key) is retried with backoff "
            f"before the worker gives up (default: {DEFAULT_TRANSIENT_BUDGET_S}); a dead embedded server is restarted"
        ),
    )
    p.add_argument("--log-keys", action="store_true", help="log every key made (the audit trail), not just counts")


def make_worker(args: argparse.Namespace, *, progress: bool):
    """A ``Worker`` for the parsed options (tables and restriction checked here: bad input fails before any work)."""
    from iblpipe.populate import Worker, parse_restriction, select_tables

    restrict = parse_restriction(args.restrict)
    if args.retry_budget < 0:
        raise ConfigError(f"--retry-budget {args.retry_budget}: must be >= 0 (seconds)")
    check_restriction(restrict)
    args.stale_timeout = stale_timeout(args.stale_timeout)
    tables = select_tables(args.tables)
    require_data_root(tables)
    follow_new_sortings(tables, restrict)
    bar = None
    if progress:
        from tqdm import tqdm

        def bar(items, total, desc):
            return tqdm(items, total=total, desc=desc, unit="key", file=sys.stderr)

    return Worker(
        tables,
        restrict=restrict,
        max_calls=args.max_calls,
        stale_timeout=args.stale_timeout,
        transient_budget=args.retry_budget,
        progress=bar,
        log_keys=args.log_keys,
    )


def check_restriction(restrict: dict[str, str]) -> None:
    """Refuse a ``--restrict`` naming a subject, lab or session the mirror lacks: a typo in cron would do nothing.

    Names that exist but select no session yet (a new mouse) are only logged: that is a normal state.
    """
    if not restrict:
        return
    from iblpipe.populate import sessions_matching
    from iblpipe.schemas import acquisition, reference, subject

    where = {
        "subject": (subject.Subject, "subject_nickname"),
        "lab": (reference.Lab, "lab_name"),
        "session": (acquisition.Session, "session_uuid"),
    }
    for name, value in restrict.items():
        table, attribute = where[name]
        if not len(table & {attribute: value}):
            raise ConfigError(
                f"--restrict {name}={value}: no {name} {value!r} in the mirror; check the spelling "
                "(or run `iblpipe ingest` first). Nothing was populated"
            )
    if not len(sessions_matching(restrict)):
        text = ",".join(f"{k}={v}" for k, v in restrict.items())
        logger.warning("--restrict %s selects no session yet: nothing to populate", text)


def stale_timeout(option: float | None) -> float:
    """``--stale-timeout``, else ``$IBLPIPE_STALE_TIMEOUT``, else the default (s)."""
    from iblpipe.populate import DEFAULT_STALE_TIMEOUT_S

    if option is not None:
        return option
    text = os.environ.get("IBLPIPE_STALE_TIMEOUT")
    try:
        return float(text) if text else float(DEFAULT_STALE_TIMEOUT_S)
    except ValueError:
        raise ConfigError(f"IBLPIPE_STALE_TIMEOUT={text!r}: expected seconds, e.g. 3600") from None


def require_data_root(tables: list) -> None:
    """Imported tables read ALF files: without ``$IBLPIPE_DATA_ROOT`` every key would fail, so refuse up front."""
    import datajoint as dj

    from iblpipe import settings
    from iblpipe.populate import table_label

    imported = [table_label(t) for t in tables if issubclass(t, dj.Imported)]
    root = settings.data_root()
    if imported and (root is None or not root.is_dir()):
        where = "is not set" if root is None else f"is {root}, which is not a directory"
        raise ConfigError(
            f"IBLPIPE_DATA_ROOT {where}: {', '.join(imported)} import ALF files from it; "
            "set it to the folder holding <lab>/Subjects/..."
        )


def follow_new_sortings(tables: list, restrict: dict) -> None:
    """Before populating ephys.Clusters: delete the rows whose spike sorting has a newer revision on disk."""
    from iblpipe.populate import restriction_for
    from iblpipe.schemas import ephys, files

    if ephys.Clusters in tables:
        files.follow_new_sortings(restriction_for(ephys.Clusters, restrict))


def report_exit(report) -> int:
    """Log the run's outcome; the exit code (1 when any key failed or gave up)."""
    for table, key, message in report.errors:
        logger.error("failed: %s %s: %s", table, key, message.splitlines()[0])
    if report.stopped:
        logger.info("stopped on request after %d makes", report.made)
    status = "ok" if report.ok else f"{len(report.errors)} failed, {len(report.gave_up)} gave up"
    logger.info("populate done: %d made, %s", report.made, status)
    return EXIT_OK if report.ok else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from iblpipe.commands._common import activate_worker

    if args.processes < 1:
        raise ConfigError(f"--processes {args.processes}: must be at least 1")
    if args.sleep < 0 or (args.duration is not None and args.duration <= 0):
        raise ConfigError("--sleep must be >= 0 and --duration > 0 (seconds)")
    if args.duration is not None and not args.loop:
        raise ConfigError("--duration goes with --loop")
    activate_worker(args)
    # Built here even with --processes, so bad --tables / --restrict / data root fail before any work.
    worker = make_worker(args, progress=sys.stderr.isatty() and not args.no_progress and args.processes == 1)
    if args.processes > 1:
        return run_processes(args)
    from iblpipe.slurm import tag_this_job

    tag_this_job()  # under Slurm: `iblpipe status` names this worker's job
    report = worker.run(loop=args.loop, sleep=args.sleep, duration=args.duration)
    return report_exit(report)


def run_processes(args: argparse.Namespace) -> int:
    """``--processes N``: N independent workers (child processes of this one); SIGTERM is passed on to them."""
    return spawn_workers(args)[0]


def spawn_workers(args: argparse.Namespace) -> tuple[int, bool]:
    """Run ``args.processes`` worker processes to the end; (exit code, whether a stop signal was passed on)."""
    argv = [sys.executable, "-m", "iblpipe"]
    if getattr(args, "prefix", None):
        argv += ["--prefix", args.prefix]
    argv += ["-v"] * args.verbose + (["-q"] if args.quiet else [])
    argv += ["populate", "--processes", "1", "--no-progress", "--tables", args.tables]
    argv += ["--stale-timeout", str(args.stale_timeout), "--sleep", str(args.sleep)]
    argv += ["--retry-budget", str(args.retry_budget)]
    for flag, value in (("--max-calls", args.max_calls), ("--restrict", args.restrict), ("--duration", args.duration)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--loop"] * args.loop + ["--log-keys"] * args.log_keys
    children = [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for _ in range(args.processes)]
    logger.info("started %d worker processes: %s", len(children), ", ".join(str(c.pid) for c in children))

    stopped = []

    def forward(signum, _frame):
        stopped.append(signum)
        logger.info("passing signal %d on to the workers; they finish their current key", signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(c.poll() is None for c in children):
            time.sleep(0.2)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    codes = [c.returncode for c in children]
    logger.info("worker processes done, exit codes %s", codes)
    return (EXIT_OK if all(code == 0 for code in codes) else EXIT_FAILED), bool(stopped)
