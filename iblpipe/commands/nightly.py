"""``iblpipe nightly``: ingest, populate and plot: the one command for cron."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import time

from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)


def register(sub) -> None:
    from iblpipe.commands.populate import add_worker_options

    p = sub.add_parser(
        "nightly",
        help="ingest, populate and plot: the one command for cron",
        description=(
            "Mirror the configured source (--source or $IBLPIPE_SOURCE), populate every table once, then draw "
            "the figures of mice whose data changed and rewrite the report pages, then (with --export or "
            "$IBLPIPE_EXPORT_DIR) rewrite the aggregate files of mice whose content changed. A failed ingest stops the run; "
            "failed populate keys are reported (exit 1) but the figures are still drawn. Only one nightly runs "
            "per $IBLPIPE_HOME at a time."
        ),
    )
    p.add_argument("--source", help="dump:FILE, alyx:URL or one-cache:DIR (default: $IBLPIPE_SOURCE)")
    p.add_argument("--alyx-user", help="Alyx username for alyx:URL (password from $ALYX_PASSWORD or ONE's params)")
    p.add_argument("--skip-ingest", action="store_true", help="populate and plot only")
    p.add_argument("--skip-plot", action="store_true", help="ingest and populate only")
    p.add_argument("--out", metavar="DIR", help="report folder (default: $IBLPIPE_REPORT_DIR or $IBLPIPE_HOME/report)")
    p.add_argument(
        "--export",
        metavar="DIR",
        help="also write the per-mouse aggregate files of changed mice there (default: $IBLPIPE_EXPORT_DIR; none)",
    )
    p.add_argument(
        "--processes", type=int, default=1, help="populate workers, then figure processes, on this host (default: 1)"
    )
    add_worker_options(p)
    from iblpipe.commands.slurm import add_slurm_options

    p.add_argument(
        "--slurm",
        action="store_true",
        help="populate as a Slurm job array (the options below), wait for it, then draw the figures here",
    )
    add_slurm_options(p)
    p.set_defaults(func=run, accepts_extra=True)


@contextlib.contextmanager
def single_instance(path):
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


def run(args: argparse.Namespace) -> int:
    from iblpipe import settings
    from iblpipe.commands import ingest, plot
    from iblpipe.commands._common import activate_worker
    from iblpipe.commands.populate import make_worker, report_exit, spawn_workers

    if args.processes < 1:
        raise ConfigError(f"--processes {args.processes}: must be at least 1")
    if args.extra and not args.slurm:
        raise ConfigError(f"unrecognized arguments: {' '.join(args.extra)} (sbatch options go with --slurm)")
    source = args.source or os.environ.get("IBLPIPE_SOURCE")
    if not args.skip_ingest and not source:
        raise ConfigError(
            "no source to ingest: pass --source dump:FILE|alyx:URL|one-cache:DIR, set $IBLPIPE_SOURCE, or --skip-ingest"
        )
    from iblpipe.connection import connect
    from iblpipe.locks import server_lock

    prefix = settings.schema_prefix(getattr(args, "prefix", None))
    with (
        single_instance(settings.home() / "nightly.lock") as mine,
        server_lock(connect(), f"nightly:{prefix}", 0) if mine else contextlib.nullcontext(False) as ours,
    ):
        if not mine:
            logger.warning("another `iblpipe nightly` holds %s; not starting a second one", settings.home())
            return 0
        if not ours:
            logger.warning(
                "another `iblpipe nightly` runs against %s* (another host?); not starting a second one", prefix
            )
            return 0
        start = time.monotonic()
        ingest_rc = 0
        if not args.skip_ingest:
            logger.info("nightly: ingest %s", source)
            report = ingest.ingest(source, prefix=getattr(args, "prefix", None), alyx_user=args.alyx_user)
            print(report.summary())
            # bad records are reported (exit 1 at the end) but do not stop the night: the rest was mirrored
            ingest_rc = ingest.exit_code(report)
        activate_worker(args)
        logger.info("nightly: populate")
        worker = make_worker(args, progress=False)  # also checks the options before any work
        if args.slurm:
            from iblpipe.commands.slurm import submit_array, wait_array

            rc, stopped = wait_array(submit_array(args)), False
        elif args.processes > 1:
            rc, stopped = spawn_workers(argparse.Namespace(**vars(args), loop=False, sleep=0.0, duration=None))
        else:
            rc, stopped = report_exit(worker.run()), worker.stop_requested
        if stopped:
            return max(rc, ingest_rc)
        if not args.skip_plot:
            logger.info("nightly: figures")
            rc = max(rc, plot.run(argparse.Namespace(**vars(args), subject=None, force=False)))
        export_root = settings.export_dir(args.export)
        if export_root is not None:
            from iblpipe import export

            logger.info("nightly: export to %s", export_root)
            done = export.export(export_root)
            logger.info("nightly: exported %d mice, %d unchanged", len(done.written), len(done.unchanged))
        rc = max(rc, ingest_rc)
        logger.info("nightly done in %.0f s (exit %d)", time.monotonic() - start, rc)
        return rc
