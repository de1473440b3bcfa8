"""``iblpipe slurm submit``: populate workers as a Slurm job array."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from iblpipe.commands._common import add_worker_options, prefix_of, worker_options

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


def register(sub) -> None:
    p = sub.add_parser("slurm", help="run populate workers as a Slurm job array")
    ssub = p.add_subparsers(dest="slurm_command", metavar="ACTION", required=True)
    submit = ssub.add_parser(
        "submit",
        help="write and submit a Slurm job array of populate workers",
        description=(
            "Submit a Slurm job array whose tasks each run `iblpipe populate` against the configured database "
            "(DJ_* environment, datajoint.json or the embedded server). Credentials stay in the environment the "
            "tasks inherit, never in the script or squeue. Options not listed here are passed to sbatch "
            "(e.g. --account=lab --qos=long). A task killed by the scheduler leaves nothing half-written; its "
            "key is redone by the next worker (after --stale-timeout if it was killed mid-make)."
        ),
    )
    add_slurm_options(submit)
    add_worker_options(submit)
    submit.add_argument(
        "--loop", action="store_true", help="each task a long-running worker (populate --loop) until its --time"
    )
    submit.add_argument("--sleep", type=float, help="(s) with --loop: pause between passes (default 60)")
    submit.add_argument("--dry-run", action="store_true", help="print the job script and the sbatch command only")
    submit.add_argument("--wait", action="store_true", help="wait for the array to finish; exit 1 if a task failed")
    submit.set_defaults(func=run_submit, accepts_extra=True)


def add_slurm_options(p: argparse.ArgumentParser, *, workers_flag: str = "--workers") -> None:
    """Options of the array, shared with ``nightly --slurm``."""
    from iblpipe.slurm import DEFAULT_MEM, DEFAULT_TIME, DEFAULT_WORKERS

    g = p.add_argument_group("Slurm")
    g.add_argument(
        workers_flag, dest="workers", type=int, default=DEFAULT_WORKERS, help=f"array tasks (default {DEFAULT_WORKERS})"
    )
    g.add_argument("--time", default=DEFAULT_TIME, help=f"time limit of each task (default {DEFAULT_TIME})")
    g.add_argument("--mem", default=DEFAULT_MEM, help=f"memory of each task (default {DEFAULT_MEM})")
    g.add_argument("--partition", help="Slurm partition (default: the cluster's default partition)")
    g.add_argument(
        "--log-dir", type=Path, help="task logs (default: $IBLPIPE_HOME/slurm/logs); compute nodes write here"
    )


def spec_from_args(args: argparse.Namespace, worker=None):
    """The ``ArraySpec`` of the parsed options (checked: bad values fail before any Slurm call)."""
    from iblpipe import settings
    from iblpipe.operations.populate import stale_timeout
    from iblpipe.populate import select_tables
    from iblpipe.slurm import ArraySpec

    worker = worker or worker_options(args)
    select_tables(worker.tables)
    spec = ArraySpec(
        workers=args.workers,
        worker=worker.replace(stale_timeout=stale_timeout(worker.stale_timeout)),
        prefix=settings.schema_prefix(prefix_of(args)),
        time=args.time,
        mem=args.mem,
        partition=args.partition,
        log_dir=(args.log_dir or settings.home() / "slurm" / "logs").resolve(),
        sbatch_args=list(getattr(args, "extra", []) or []),
    )
    spec.check()
    return spec


def run_submit(args: argparse.Namespace) -> int:
    import shlex

    from iblpipe import slurm

    spec = slurm.prepare(spec_from_args(args), dry_run=args.dry_run)
    script = slurm.script_path()
    if args.dry_run:
        print(slurm.job_script(spec), end="")
        print(f"# submit with: {shlex.join(['sbatch', '--parsable', *spec.sbatch_args, str(script)])}")
        return EXIT_OK
    job_id = slurm.submit(spec, script)
    print(f"submitted Slurm job array {job_id}: {spec.workers} workers on partition {spec.partition}")
    if not args.wait:
        return EXIT_OK
    return slurm.wait_array(job_id)
