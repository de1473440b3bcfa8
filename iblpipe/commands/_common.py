"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
import logging

from iblpipe.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

ACTIVATE_LOCK_WAIT_S = 300  # (s) how long a command waits while another one declares the schemas


def activate(args: argparse.Namespace) -> dict[str, str]:
    """Connect and bind the schemas under the prefix chosen by ``--prefix`` or the environment."""
    return activate_prefix(getattr(args, "prefix", None))


def activate_prefix(prefix: str | None) -> dict[str, str]:
    """Bind the schemas under ``prefix``, one process at a time per database.

    Commands started together on several hosts (two nightlies, workers after a reboot) would
    otherwise race to declare the same schemas and tables (errors 1007, duplicate entries).
    """
    from iblpipe import schemas, settings
    from iblpipe.connection import connect
    from iblpipe.locks import server_lock

    conn = connect()
    with server_lock(conn, f"activate:{settings.schema_prefix(prefix)}", ACTIVATE_LOCK_WAIT_S) as mine:
        if not mine:
            raise DatabaseUnavailable(
                f"another iblpipe process has been declaring the schemas {settings.schema_prefix(prefix)}* for "
                f"{ACTIVATE_LOCK_WAIT_S} s; try again later or look for a stuck process (iblpipe status)"
            )
        return schemas.activate(prefix, connection=conn)


def activate_worker(args: argparse.Namespace) -> dict[str, str]:
    """``activate`` for workers (populate, nightly): a server that is down or restarting is waited for.

    Retried like a transient failure of a make, for ``--retry-budget`` seconds; then one line, exit 2.
    """
    from iblpipe.populate import TransientFailure, retry_transient

    try:
        return retry_transient(
            lambda _retry: activate(args),
            what="connecting to the database",
            budget=args.retry_budget,
            then="is the server running?",
            reconnect=False,
        )
    except TransientFailure as exc:
        raise DatabaseUnavailable(str(exc)) from None
