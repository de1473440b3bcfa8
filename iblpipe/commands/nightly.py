"""``iblpipe nightly``: ingest, populate and plot: the one command for cron."""

from __future__ import annotations

import argparse
import logging
import os

from iblpipe.commands._common import add_worker_options, log_flags, prefix_of, worker_options
from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)


def register(sub) -> None:
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


def run(args: argparse.Namespace) -> int:
    from iblpipe import operations
    from iblpipe.commands.plot import print_drawn

    if args.extra and not args.slurm:
        raise ConfigError(f"unrecognized arguments: {' '.join(args.extra)} (sbatch options go with --slurm)")
    worker = worker_options(args)
    slurm_spec = None
    if args.slurm:
        from iblpipe import slurm
        from iblpipe.commands.slurm import spec_from_args

        slurm_spec = slurm.prepare(spec_from_args(args, worker))
    options = operations.NightlyOptions(
        source=args.source or os.environ.get("IBLPIPE_SOURCE"),
        alyx_user=args.alyx_user,
        skip_ingest=args.skip_ingest,
        skip_plot=args.skip_plot,
        report_dir=args.out,
        export_dir=args.export,
        processes=args.processes,
        worker=worker,
        slurm=slurm_spec,
    )
    result = operations.nightly(options, prefix=prefix_of(args), log_flags=log_flags(args))
    if result.skipped:
        logger.warning("%s; not starting a second one", result.skipped)
        return 0
    if result.ingest is not None:
        print(result.ingest.summary())
    if result.slurm_job is not None:
        print(
            f"submitted Slurm job array {result.slurm_job}: {slurm_spec.workers} workers on partition {slurm_spec.partition}"
        )
    if result.drawn is not None:
        print_drawn(result.drawn)
    return result.exit_code
