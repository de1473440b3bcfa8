"""The nightly job: ingest, populate, draw, export; one at a time per database and prefix."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from iblpipe.errors import ConfigError
from iblpipe.operations.options import WorkerOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightlyOptions:
    """What one nightly run does."""

    source: str | None = None  # dump:FILE, alyx:URL or one-cache:DIR; None with skip_ingest
    alyx_user: str | None = None
    skip_ingest: bool = False
    skip_plot: bool = False
    report_dir: Path | None = None  # None: $IBLPIPE_REPORT_DIR or $IBLPIPE_HOME/report
    export_dir: Path | None = None  # None: $IBLPIPE_EXPORT_DIR, or no export
    processes: int = 1  # populate workers, then figure processes
    worker: WorkerOptions = field(default_factory=WorkerOptions)
    slurm: object | None = None  # an ``iblpipe.slurm.ArraySpec``: populate as a Slurm array instead

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ConfigError(f"--processes {self.processes}: must be at least 1")
        if not self.skip_ingest and not self.source:
            raise ConfigError(
                "no source to ingest: pass --source dump:FILE|alyx:URL|one-cache:DIR, set $IBLPIPE_SOURCE, "
                "or --skip-ingest"
            )


@dataclass
class NightlyResult:
    """What a nightly run did; ``exit_code`` 0 ok, 1 a bad record or a failed key (the rest was done)."""

    exit_code: int = 0
    skipped: str | None = None  # why nothing ran (another nightly holds the lock)
    ingest: object | None = None  # mirror.Report
    slurm_job: str | None = None  # the Slurm array that populated, with NightlyOptions.slurm
    drawn: object | None = None  # report.ReportResult
    exported: object | None = None  # export.ExportResult


@contextlib.contextmanager
def single_instance(path: Path):
    """Hold an exclusive lock on ``path`` (yield True), or yield False when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        handle.write(str(os.getpid()))
        handle.flush()
        yield True


def nightly(options: NightlyOptions, *, prefix: str | None = None, log_flags: tuple[str, ...] = ()) -> NightlyResult:
    """Run the night: ingest (bad records reported, not fatal), populate, draw the changed mice, export."""
    from iblpipe import settings
    from iblpipe.connection import connect
    from iblpipe.locks import server_lock

    full_prefix = settings.schema_prefix(prefix)
    with (
        single_instance(settings.home() / "nightly.lock") as mine,
        server_lock(connect(), f"nightly:{full_prefix}", 0) if mine else contextlib.nullcontext(False) as ours,
    ):
        if not mine:
            return NightlyResult(skipped=f"another `iblpipe nightly` holds {settings.home()}")
        if not ours:
            return NightlyResult(skipped=f"another `iblpipe nightly` runs against {full_prefix}* (another host?)")
        return _night(options, prefix, log_flags)


def _night(options: NightlyOptions, prefix: str | None, log_flags: tuple[str, ...]) -> NightlyResult:
    from iblpipe import settings
    from iblpipe.operations import outputs
    from iblpipe.operations.database import activate_worker
    from iblpipe.operations.ingest import exit_code, ingest
    from iblpipe.operations.populate import prepare_worker, report_exit, spawn_workers

    start = time.monotonic()
    result = NightlyResult()
    ingest_rc = 0
    if not options.skip_ingest:
        logger.info("nightly: ingest %s", options.source)
        result.ingest = ingest(options.source, prefix=prefix, alyx_user=options.alyx_user)
        ingest_rc = exit_code(result.ingest)  # bad records do not stop the night: the rest was mirrored
    activate_worker(prefix, options.worker.retry_budget)
    logger.info("nightly: populate")
    worker = prepare_worker(options.worker)  # also checks the options before any work
    once = options.worker.replace(loop=False, duration=None)
    if options.slurm is not None:
        from iblpipe import slurm

        result.slurm_job = slurm.submit(options.slurm, slurm.script_path())
        rc, stopped = slurm.wait_array(result.slurm_job), False
    elif options.processes > 1:
        done = spawn_workers(once, options.processes, prefix=prefix, log_flags=log_flags)
        rc, stopped = done.exit_code, done.stopped
    else:
        rc, stopped = report_exit(worker.run()), worker.stop_requested
    if stopped:
        result.exit_code = max(rc, ingest_rc)
        return result
    if not options.skip_plot:
        logger.info("nightly: figures")
        result.drawn = outputs.draw(settings.report_dir(options.report_dir), processes=options.processes)
    export_root = settings.export_dir(options.export_dir)
    if export_root is not None:
        logger.info("nightly: export to %s", export_root)
        result.exported = outputs.export(export_root)
        logger.info(
            "nightly: exported %d mice, %d unchanged", len(result.exported.written), len(result.exported.unchanged)
        )
    result.exit_code = max(rc, ingest_rc)
    logger.info("nightly done in %.0f s (exit %d)", time.monotonic() - start, result.exit_code)
    return result
