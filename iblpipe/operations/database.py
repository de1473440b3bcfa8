"""Binding the schemas for an operation: one process at a time per database, a restarting server waited for."""

from __future__ import annotations

import logging

from iblpipe.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

ACTIVATE_LOCK_WAIT_S = 300  # (s) how long an operation waits while another one declares the schemas


def activate(prefix: str | None = None) -> dict[str, str]:
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


def activate_worker(prefix: str | None, retry_budget: float) -> dict[str, str]:
    """``activate`` for workers (populate, nightly): a server that is down or restarting is waited for.

    Retried like a transient failure of a make, for ``retry_budget`` seconds; then DatabaseUnavailable.
    """
    from iblpipe.populate import TransientFailure, retry_transient

    try:
        return retry_transient(
            lambda _retry: activate(prefix),
            what="connecting to the database",
            budget=retry_budget,
            then="is the server running?",
            reconnect=False,
        )
    except TransientFailure as exc:
        raise DatabaseUnavailable(str(exc)) from None
