"""``iblpipe export``: IBL-style per-subject aggregate files (trials, training status, sessions)."""

from __future__ import annotations

import argparse

from iblpipe.commands._common import activate
from iblpipe.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write one trials, training and sessions file per mouse, as IBL's aggregates",
        description=(
            "Write <out>/aggregates/Subjects/<lab>/<subject>/_ibl_subjectTrials.table.pqt (every trial, ALF names, "
            "with session eid, start time and protocol), _ibl_subjectTraining.table.pqt (status per date) and "
            "_ibl_subjectSessions.table.pqt, readable with one.alf.io.load_file_content. Only mice whose content "
            "changed since the last export are rewritten; each file is written to a temporary name, then renamed."
        ),
    )
    p.add_argument("--out", metavar="DIR", help="export root (default: $IBLPIPE_EXPORT_DIR)")
    p.add_argument("--subject", nargs="+", metavar="NICKNAME", help="export only these mice")
    p.add_argument("--force", action="store_true", help="rewrite every mouse's files, changed or not")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iblpipe import operations, settings

    out = settings.export_dir(args.out)
    if out is None:
        raise ConfigError("export: no folder; pass --out DIR or set $IBLPIPE_EXPORT_DIR")
    activate(args)
    result = operations.export(out, subjects=args.subject, force=args.force)
    print(f"exported {len(result.written)} mice, {len(result.unchanged)} unchanged, to {out / 'aggregates'}")
    for name in result.written:
        print(f"  wrote {name}")
    for name in result.skipped:
        print(f"  skipped {name}: no lab (subject.SubjectLab)")
    return 0
