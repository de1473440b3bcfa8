"""``iblpipe demo generate|run``: the synthetic lab, and the whole pipeline run on it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)


DEMO_RUN_MAX_SESSIONS = 30  # sessions per mouse in `demo run`: a few minutes end to end (whole lives: about twice that)


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate a synthetic lab, or run the whole pipeline on it")
    demosub = p.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    gen = demosub.add_parser("generate", help="write a synthetic lab: Alyx dump, ALF files, ONE cache")
    gen.add_argument("--out", required=True, help="output directory (must be empty unless --force)")
    gen.add_argument("--labs", default=3, help="number of labs (default: 3)")
    gen.add_argument("--mice", default=12, help="number of mice over all labs (default: 12)")
    gen.add_argument("--seed", default=0, help="random seed; same seed, same bytes (default: 0)")
    gen.add_argument("--max-sessions", default=None, help="cap sessions per mouse (small, fast labs)")
    gen.add_argument("--workers", default=1, help="processes simulating mice in parallel (default: 1)")
    gen.add_argument("--force", action="store_true", help="clear a non-empty --out first")
    gen.set_defaults(func=generate_lab)
    run = demosub.add_parser("run", help="generate, ingest, populate, plot and show the status, end to end")
    run.add_argument("--out", default="demo-lab", help="directory of the synthetic lab (default: demo-lab)")
    run.add_argument("--labs", default=3, help="number of labs (default: 3)")
    run.add_argument("--mice", default=12, help="number of mice over all labs (default: 12)")
    run.add_argument(
        "--max-sessions",
        default=DEMO_RUN_MAX_SESSIONS,
        help=f"cap sessions per mouse (default: {DEMO_RUN_MAX_SESSIONS}, enough to reach every status; 0 = whole lives)",
    )
    run.add_argument("--processes", default=2, help="populate worker processes (default: 2)")
    run.set_defaults(func=run_demo)


def _integer(option: str, text: str | int | None) -> int | None:
    """An integer option value, or a one-line ConfigError naming the option."""
    if text is None or isinstance(text, int):
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{option} must be an integer, got {text!r}") from None


def generate_lab(args: argparse.Namespace) -> int:
    """``demo generate``: write the synthetic lab."""
    _write_lab(
        args.out,
        labs=_integer("--labs", args.labs),
        mice=_integer("--mice", args.mice),
        seed=_integer("--seed", args.seed),
        max_sessions=_integer("--max-sessions", args.max_sessions),
        force=args.force,
        workers=_integer("--workers", args.workers),
    )
    return 0


def _write_lab(out, *, labs: int, mice: int, seed: int, max_sessions: int | None, force: bool, workers: int) -> None:
    """Write the synthetic lab through the operation, a progress bar per mouse on a TTY, and say what was written."""
    import sys

    from tqdm import tqdm

    from iblpipe.demo.build import check_args
    from iblpipe.operations import generate_lab as generate

    check_args(labs, mice, seed, max_sessions, workers)  # before the bar: it counts mice
    with tqdm(total=mice, unit="mouse", disable=not sys.stderr.isatty(), desc="demo lab") as bar:
        summary = generate(
            out,
            labs=labs,
            mice=mice,
            seed=seed,
            max_sessions=max_sessions,
            force=force,
            workers=workers,
            progress=bar.update,
        )
    print(
        f"wrote {summary.out}: {summary.labs} labs, {summary.mice} mice, {summary.sessions} sessions, "
        f"{summary.trials} trials, {summary.probes} probe insertions"
    )


def run_demo(args: argparse.Namespace) -> int:
    """Every stage through the operations layer, as the commands run them; stop at the first that fails."""
    from iblpipe import operations, settings
    from iblpipe.commands._common import log_flags, prefix_of
    from iblpipe.commands.plot import print_drawn
    from iblpipe.commands.status import format_status
    from iblpipe.connection import resolve

    prefix = prefix_of(args)
    spec = resolve()
    if spec.origin != "embedded" and not prefix:
        raise ConfigError(
            f"demo run would write a synthetic lab into the {settings.schema_prefix()}* schemas of "
            f"{spec.host}:{spec.port} (from {spec.origin}); pass --prefix demo_ (or another) to keep it apart"
        )
    out = Path(args.out).resolve()
    processes = _integer("--processes", args.processes)
    labs, mice = _integer("--labs", args.labs), _integer("--mice", args.mice)
    max_sessions = _integer("--max-sessions", args.max_sessions) or None  # 0: whole lives

    def stage(title: str) -> None:
        logger.info("demo stage: %s", title)

    stage("generate the synthetic lab")
    _write_lab(out, labs=labs, mice=mice, seed=0, max_sessions=max_sessions, force=True, workers=processes)
    stage("mirror the Alyx dump")
    # the lab was just regenerated: an earlier demo's records are meant to go
    report = operations.ingest(f"dump:{out / 'alyx_dump.json'}", prefix=prefix, allow_mass_delete=True)
    print(report.summary())
    if rc := operations.ingest_exit_code(report):
        logger.error("demo stage failed with exit %d: mirror the Alyx dump", rc)
        return rc
    stage("populate every table")
    with settings.override(data_root=out):  # the demo's ALF files, for this process and its workers
        done = operations.populate(
            operations.WorkerOptions(), processes=processes, prefix=prefix, log_flags=log_flags(args)
        )
    if done.exit_code:
        logger.error("demo stage failed with exit %d: populate every table", done.exit_code)
        return done.exit_code
    stage("draw the nightly figures")
    print_drawn(operations.draw(out / "report", processes=processes))
    stage("show the status")
    print(format_status(operations.status()))
    logger.info("demo finished: every stage ran; open %s", out / "report" / "index.html")
    return 0
