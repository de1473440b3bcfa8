"""``iblpipe plot``: draw per-mouse performance figures and the lab report."""

from __future__ import annotations

import argparse
import sys

from iblpipe.commands._common import activate


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="draw per-mouse performance figures and the lab report",
        description=(
            "Draw <out>/<lab>/<subject>.png for every mouse whose inputs changed since its last figure "
            "(report.MouseFigure), then write <out>/index.html and <out>/<lab>/index.html."
        ),
    )
    p.add_argument("--subject", nargs="+", metavar="NICKNAME", help="draw only these mice (the index still lists all)")
    p.add_argument("--out", metavar="DIR", help="report folder (default: $IBLPIPE_REPORT_DIR or $IBLPIPE_HOME/report)")
    p.add_argument("--force", action="store_true", help="redraw every figure, changed or not")
    p.add_argument("--processes", type=int, default=1, help="figures drawn in parallel (default: 1)")
    p.set_defaults(func=run)


def print_drawn(result) -> None:
    """The figures drawn (one line each) and the report's first page, on stdout."""
    print(f"drew {len(result.drawn)} figures, {len(result.unchanged)} unchanged")
    for name in result.drawn:
        print(f"  drew {name}")
    print(f"report: {result.pages[0]}")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from iblpipe import operations, settings

    activate(args)

    def progress(items, total):
        return tqdm(items, total=total, desc="figures", unit="mouse", disable=not sys.stderr.isatty())

    out = settings.report_dir(args.out)
    print_drawn(
        operations.draw(out, subjects=args.subject, force=args.force, processes=args.processes, progress=progress)
    )
    return 0
