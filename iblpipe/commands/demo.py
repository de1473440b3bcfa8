"""``iblpipe demo generate|run``: the synthetic lab, and the whole pipeline run on it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from iblpipe.commands._common import not_available

logger = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate a synthetic lab, or run the whole pipeline on it")
    demosub = p.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    gen = demosub.add_parser("generate", help="write a synthetic lab: Alyx dump, ALF files, ONE cache")
    gen.set_defaults(func=not_available("demo generate", 3))
    run = demosub.add_parser("run", help="generate, ingest, populate, plot and show the status, end to end")
    run.add_argument("--out", default="demo-lab", help="directory of the synthetic lab (default: demo-lab)")
    run.set_defaults(func=run_demo)


def demo_stages(out: Path) -> list[tuple[str, list[str]]]:
    """The demo's stages as ``iblpipe`` argument lists."""
    return [
        ("generate the synthetic lab", ["demo", "generate", "--out", str(out), "--force"]),
        ("mirror the Alyx dump", ["ingest", "--source", f"dump:{out / 'alyx_dump.json'}"]),
        ("populate every table", ["populate", "--tables", "all"]),
        ("draw the nightly figures", ["plot", "--out", str(out / "report")]),
        ("show the status", ["status"]),
    ]


def run_demo(args: argparse.Namespace) -> int:
    """Run each built stage through the real command line; report the ones not built yet."""
    from iblpipe.cli import build_parser, main

    out = Path(args.out).resolve()
    prefix = ["--prefix", args.prefix] if getattr(args, "prefix", None) else []
    missing = []
    for title, argv in demo_stages(out):
        func = getattr(build_parser().parse_args(argv), "func", None)
        if getattr(func, "not_available", None):
            logger.warning("demo stage skipped, %s", func.not_available)
            missing.append(title)
            continue
        logger.info("demo stage: %s (iblpipe %s)", title, " ".join(argv))
        rc = main(prefix + argv)
        if rc != 0:
            logger.error("demo stage failed with exit %d: %s", rc, title)
            return rc
    if missing:
        logger.warning("demo finished; stages not built yet: %s", "; ".join(missing))
    else:
        logger.info("demo finished: every stage ran")
    return 0
