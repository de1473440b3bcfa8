"""``iblpipe slurm submit``: populate workers as a Slurm job array."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path

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
    from iblpipe.commands.populate import add_worker_options

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


def spec_from_args(args: argparse.Namespace):
    """The ``ArraySpec`` of the parsed options (checked: bad values fail before any Slurm call)."""
    from iblpipe import settings
    from iblpipe.commands.populate import stale_timeout
    from iblpipe.populate import parse_restriction, select_tables
    from iblpipe.slurm import ArraySpec

    parse_restriction(args.restrict)
    select_tables(args.tables)
    spec = ArraySpec(
        workers=args.workers,
        tables=args.tables,
        restrict=args.restrict,
        max_calls=args.max_calls,
        stale_timeout=stale_timeout(args.stale_timeout),
        retry_budget=args.retry_budget,
        loop=getattr(args, "loop", False),
        sleep=getattr(args, "sleep", None),
        prefix=settings.schema_prefix(getattr(args, "prefix", None)),
        time=args.time,
        mem=args.mem,
        partition=args.partition,
        log_dir=(args.log_dir or settings.home() / "slurm" / "logs").resolve(),
        sbatch_args=list(getattr(args, "extra", []) or []),
    )
    spec.check()
    return spec


def prepare(args: argparse.Namespace):
    """Check everything a submission needs: Slurm, options, the database and whether the nodes reach it."""
    import dataclasses

    from iblpipe import slurm
    from iblpipe.connection import check_reachable, resolve

    slurm.require_slurm()
    spec = spec_from_args(args)
    dry = getattr(args, "dry_run", False)
    db = resolve(start_embedded=not dry)  # a dry run starts nothing
    if db is not None:
        check_reachable(db)
    host, origin = (db.host, db.origin) if db is not None else ("127.0.0.1", "embedded, not running")
    partition = slurm.check_reachable_from(spec.partition, host, origin)
    return dataclasses.replace(spec, partition=partition)


def submit_array(args: argparse.Namespace) -> str | None:
    """Submit (or print, with --dry-run) the array; its job id, None for a dry run."""
    import shlex

    from iblpipe import settings, slurm

    spec = prepare(args)
    script = settings.home() / "slurm" / f"populate-{dt.datetime.now():%Y%m%dT%H%M%S%f}.sh"
    if getattr(args, "dry_run", False):
        print(slurm.job_script(spec), end="")
        print(f"# submit with: {shlex.join(['sbatch', '--parsable', *spec.sbatch_args, str(script)])}")
        return None
    job_id = slurm.submit(spec, script)
    print(f"submitted Slurm job array {job_id}: {spec.workers} workers on partition {spec.partition}")
    return job_id


def wait_array(job_id: str) -> int:
    """Wait for the array; exit 1 when a task failed or was killed."""
    from iblpipe import slurm

    logger.info("waiting for Slurm job array %s", job_id)
    states = slurm.wait(job_id)
    failed = {task: s for task, s in states.items() if s[0] != "COMPLETED" or s[1] != 0}
    for task, (state, code) in sorted(failed.items()):
        logger.error("Slurm task %s_%s ended %s (exit %d): see its log", job_id, task, state, code)
    logger.info("Slurm array %s done: %d tasks, %d failed", job_id, len(states), len(failed))
    return EXIT_FAILED if failed else EXIT_OK


def run_submit(args: argparse.Namespace) -> int:
    job_id = submit_array(args)
    if job_id is None or not args.wait:
        return EXIT_OK
    return wait_array(job_id)
