"""The ``iblpipe`` command line: ``main(argv) -> int``.

Each subcommand lives in ``iblpipe.commands.<name>`` with ``register(subparsers)``
that sets ``func(args) -> int`` on its parser. Exit codes: 0 success, 1 work
failed (e.g. populate errors), 2 bad input or unreachable database, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from iblpipe import __version__
from iblpipe.errors import ConfigError, IblpipeError

logger = logging.getLogger("iblpipe.cli")

COMMANDS = ("db", "demo", "ingest", "populate", "status", "errors", "plot", "export", "nightly", "slurm")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line error (its default) but never prints a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = _Parser(
        prog="iblpipe",
        description="IBL-style DataJoint pipeline: mirror Alyx, import ALF, populate, plot.",
    )
    parser.add_argument("--version", action="version", version=f"iblpipe {__version__}")
    parser.add_argument(
        "--prefix",
        help="schema prefix (default: $IBLPIPE_SCHEMA_PREFIX or iblpipe_)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"iblpipe.commands.{name}").register(sub)
    _add_prefix_everywhere(sub)
    return parser


def _add_prefix_everywhere(sub: argparse._SubParsersAction) -> None:
    """Accept ``--prefix`` after any subcommand too (``iblpipe populate --prefix lab_``)."""
    for p in set(sub.choices.values()):
        if not any("--prefix" in a.option_strings for a in p._actions):
            p.add_argument("--prefix", default=argparse.SUPPRESS, help="schema prefix (overrides the global one)")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_prefix_everywhere(action)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log lines to stderr with time, pid, level and logger name; DataJoint's through ours."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    dj_level = logging.DEBUG if verbose > 1 else logging.WARNING
    # DataJoint logs at INFO while it is imported ("Loading configuration from ..."), before its level is ours
    handler.addFilter(lambda record: record.levelno >= dj_level or not record.name.startswith("datajoint"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    try:
        import datajoint  # noqa: F401  (its import installs a stdout handler; replace it now)
    except ValueError as exc:  # pydantic's ValidationError of a bad DJ_* variable, e.g. DJ_PORT=abc
        raise ConfigError(f"bad DataJoint setting: {_one_line(exc)}") from None

    dj_logger = logging.getLogger("datajoint")
    dj_logger.handlers = []
    dj_logger.filters = [_drop_by_design_warnings]
    dj_logger.propagate = True
    dj_logger.setLevel(dj_level)
    for noisy in ("urllib3", "matplotlib", "PIL", "fontTools", "one", "iblutil"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# DataJoint warnings that describe our tables as designed, not a problem: per-date and per-block tables keep
# non-foreign-key attributes in their primary key, so their job is the whole subject or session (one make).
BY_DESIGN_WARNINGS = ("Ignoring non-FK primary key attribute",)


def _drop_by_design_warnings(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in BY_DESIGN_WARNINGS)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    os.environ.setdefault("DJ_IGNORE_CONFIG_FILE", "true") if not _has_datajoint_json() else None
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # passed through (slurm submit: to sbatch)
    try:
        setup_logging(args.verbose, args.quiet)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except IblpipeError as exc:
        logger.error("%s", exc, exc_info=args.verbose > 0)
        return EXIT_USAGE
    except KeyboardInterrupt:
        logger.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        from iblpipe.failures import explain

        line = explain(exc, f"iblpipe {args.command}")
        if line is None:
            raise  # a bug: keep the traceback
        logger.error("%s", line, exc_info=args.verbose > 0)
        return EXIT_USAGE


def _one_line(exc: Exception) -> str:
    """A validation error as one line: ``DJ_PORT='abc': Input should be a valid integer ...``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in errors())
    return " ".join(str(exc).split())


def _has_datajoint_json() -> bool:
    from iblpipe.connection import _find_datajoint_json

    return _find_datajoint_json() is not None


if __name__ == "__main__":
    sys.exit(main())
