"""Helpers shared by subcommands: the parsed options as the operations layer's types."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import uuid

from iblpipe.errors import ConfigError
from iblpipe.operations.options import WorkerOptions

logger = logging.getLogger(__name__)

RESTRICT_HELP = "subject=NICK, lab=NAME, session=UUID"


def prefix_of(args: argparse.Namespace) -> str | None:
    """``--prefix`` (global or after the subcommand), or None for the environment's."""
    return getattr(args, "prefix", None)


def log_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``-v`` / ``-q`` flags of this command, for the worker processes it starts."""
    return ("-v",) * args.verbose + (("-q",) if args.quiet else ())


def activate(args: argparse.Namespace) -> dict[str, str]:
    """Connect and bind the schemas under the prefix chosen by ``--prefix`` or the environment."""
    from iblpipe import operations

    return operations.activate(prefix_of(args))


def add_worker_options(p: argparse.ArgumentParser) -> None:
    """Flags of ``WorkerOptions`` shared by ``populate``, ``nightly`` and ``slurm submit``."""
    from iblpipe.populate import DEFAULT_STALE_TIMEOUT_S, DEFAULT_TRANSIENT_BUDGET_S, RESTRICT_KEYS

    p.add_argument(
        "--tables",
        default="all",
        help="all (default), or comma-separated schemas (behavior, ephys) and tables (behavior.TrialSet, Clusters)",
    )
    p.add_argument("--max-calls", type=int, help="at most this many makes per table and pass")
    p.add_argument(
        "--restrict",
        metavar="NAME=VALUE",
        help=f"only keys of these sessions: NAME one of {', '.join(RESTRICT_KEYS)} (e.g. subject=KS014,lab=cortexlab)",
    )
    p.add_argument(
        "--stale-timeout",
        type=float,
        help=(
            "(s) reservations older than this are taken as a dead worker's and redone "
            f"(default: $IBLPIPE_STALE_TIMEOUT or {DEFAULT_STALE_TIMEOUT_S}); keep it above your slowest make"
        ),
    )
    p.add_argument(
        "--retry-budget",
        type=float,
        default=float(DEFAULT_TRANSIENT_BUDGET_S),
        metavar="SECONDS",
        help=(
            "(s) how long a lost or unreachable server (at startup or during a key) is retried with backoff "
            f"before the worker gives up (default: {DEFAULT_TRANSIENT_BUDGET_S}); a dead embedded server is restarted"
        ),
    )
    p.add_argument("--log-keys", action="store_true", help="log every key made (the audit trail), not just counts")


def parse_tables(text: str | None) -> tuple[str, ...]:
    """``"behavior,ephys.Clusters"`` -> ``("behavior", "ephys.Clusters")``; empty means all."""
    words = tuple(w.strip() for w in (text or "all").split(",") if w.strip())
    return words or ("all",)


def parse_restriction(text: str | None) -> dict[str, str]:
    """``"subject=KS014,lab=cortexlab"`` -> ``{"subject": "KS014", "lab": "cortexlab"}``; bad input raises ConfigError."""
    from iblpipe.populate import RESTRICT_KEYS

    if not text:
        return {}
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value or name not in RESTRICT_KEYS:
            raise ConfigError(
                f"--restrict {text!r}: expected NAME=VALUE[,NAME=VALUE] with NAME one of {', '.join(RESTRICT_KEYS)}"
            )
        if name == "session":
            try:
                value = str(uuid.UUID(value))
            except ValueError:
                raise ConfigError(
                    f"--restrict session={value!r}: not a session uuid (ONE eid), e.g. "
                    "session=3b4e0e45-6fae-4f6c-a4c9-2b1cfa9a4b0d"
                ) from None
        out[name] = value
    return out


def worker_options(args: argparse.Namespace) -> WorkerOptions:
    """The ``WorkerOptions`` of the parsed worker flags (checked: bad values fail before any work).

    Built from the dataclass fields: each field is the flag of its name, parsed by ``FLAG_PARSERS`` where
    the flag is text; a flag the command lacks or left unset (None) keeps the field's default.
    """
    values = {}
    for f in dataclasses.fields(WorkerOptions):
        value = getattr(args, f.name, None)
        if f.name in FLAG_PARSERS:
            values[f.name] = FLAG_PARSERS[f.name](value)
        elif value is not None:
            values[f.name] = value
    return WorkerOptions(**values)


FLAG_PARSERS = {"tables": parse_tables, "restrict": parse_restriction}  # WorkerOptions fields given as text
