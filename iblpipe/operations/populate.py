"""Populating: one worker in this process, or several worker processes (``populate --processes``)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from iblpipe.errors import ConfigError
from iblpipe.operations.options import WorkerOptions

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
CHILD_POLL_S = 0.2  # (s) how often the parent looks whether its worker processes ended


@dataclass(frozen=True)
class PopulateResult:
    """How a populate ended: its exit code (0 ok, 1 a key failed) and whether a stop signal ended it early."""

    exit_code: int
    stopped: bool = False


def prepare_worker(options: WorkerOptions, *, progress: Callable | None = None):
    """A ``Worker`` for ``options``, checked against the database: bad input fails before any work.

    ``progress``: ``progress(items, total=, desc=)`` wrapper (tqdm on a TTY), or None.
    """
    from iblpipe.populate import Worker, select_tables

    check_restriction(options.restrict)
    tables = select_tables(options.tables)
    require_data_root(tables)
    return Worker(
        tables,
        restrict=dict(options.restrict),
        max_calls=options.max_calls,
        stale_timeout=stale_timeout(options.stale_timeout),
        transient_budget=options.retry_budget,
        progress=progress,
        log_keys=options.log_keys,
        before_pass=lambda: follow_new_sortings(tables, options.restrict),
    )


def populate(
    options: WorkerOptions,
    *,
    processes: int = 1,
    prefix: str | None = None,
    progress: Callable | None = None,
    log_flags: tuple[str, ...] = (),
) -> PopulateResult:
    """Bind the schemas under ``prefix`` and run ``processes`` workers with ``options`` to the end.

    ``log_flags``: the ``-v`` / ``-q`` flags handed to worker processes.
    """
    from iblpipe.operations.database import activate_worker

    if processes < 1:
        raise ConfigError(f"--processes {processes}: must be at least 1")
    activate_worker(prefix, options.retry_budget)
    worker = prepare_worker(options, progress=progress if processes == 1 else None)  # checks, even for processes
    if processes > 1:
        return spawn_workers(options, processes, prefix=prefix, log_flags=log_flags)
    from iblpipe.slurm import tag_this_job

    tag_this_job()  # under Slurm: `iblpipe status` names this worker's job
    report = worker.run(loop=options.loop, sleep=options.sleep, duration=options.duration)
    return PopulateResult(report_exit(report), report.stopped)


def check_restriction(restrict) -> None:
    """Refuse a restriction naming a subject, lab or session the mirror lacks: a typo in cron would do nothing.

    Names that exist but select no session yet (a new mouse) are only logged: that is a normal state.
    """
    if not restrict:
        return
    from iblpipe.populate import RESTRICT_KEYS, sessions_matching
    from iblpipe.schemas import acquisition, reference, subject

    where = {
        "subject": (subject.Subject, "subject_nickname"),
        "lab": (reference.Lab, "lab_name"),
        "session": (acquisition.Session, "session_uuid"),
    }
    for name, value in restrict.items():
        if name not in where:
            raise ConfigError(f"--restrict {name}={value}: {name} is not one of {', '.join(RESTRICT_KEYS)}")
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
    """``option``, else ``$IBLPIPE_STALE_TIMEOUT`` (``settings.stale_timeout``), else the default (s)."""
    from iblpipe import settings
    from iblpipe.populate import DEFAULT_STALE_TIMEOUT_S

    seconds = settings.stale_timeout(option)
    return float(DEFAULT_STALE_TIMEOUT_S) if seconds is None else seconds


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
            "set it to the folder holding <lab>/Subjects/... (data downloaded with ONE: its ONE().cache_dir)"
        )


def follow_new_sortings(tables: list, restrict) -> None:
    """Before each pass that populates ephys.Clusters: delete the rows whose spike sorting changed on disk."""
    from iblpipe.populate import restriction_for
    from iblpipe.schemas import ephys, files

    if ephys.Clusters in tables:
        files.follow_new_sortings(restriction_for(ephys.Clusters, dict(restrict)))


def report_exit(report) -> int:
    """Log the run's outcome; the exit code (1 when any key failed or gave up)."""
    for table, key, message in report.errors:
        logger.error("failed: %s %s: %s", table, key, message.splitlines()[0])
    if report.stopped:
        logger.info("stopped on request after %d makes", report.made)
    status = "ok" if report.ok else f"{len(report.errors)} failed, {len(report.gave_up)} gave up"
    logger.info("populate done: %d made, %s", report.made, status)
    return EXIT_OK if report.ok else EXIT_FAILED


def worker_argv(
    options: WorkerOptions, *, prefix: str | None = None, log_flags: tuple[str, ...] = (), python: str = sys.executable
) -> list[str]:
    """The command line of one worker process with ``options`` (the same for local processes and Slurm tasks)."""
    argv = [python, "-m", "iblpipe"]
    if prefix:
        argv += ["--prefix", prefix]
    return [*argv, *log_flags, "populate", "--processes", "1", "--no-progress", *options.argv()]


def spawn_workers(
    options: WorkerOptions, processes: int, *, prefix: str | None = None, log_flags: tuple[str, ...] = ()
) -> PopulateResult:
    """Run ``processes`` worker processes to the end; SIGTERM and SIGINT are passed on to them."""
    options = options.replace(stale_timeout=stale_timeout(options.stale_timeout))  # one value for every child
    argv = worker_argv(options, prefix=prefix, log_flags=log_flags)
    from iblpipe import settings

    env = settings.child_environment()
    children = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env) for _ in range(processes)]
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
            time.sleep(CHILD_POLL_S)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    codes = [c.returncode for c in children]
    logger.info("worker processes done, exit codes %s", codes)
    return PopulateResult(EXIT_OK if all(code == 0 for code in codes) else EXIT_FAILED, bool(stopped))
