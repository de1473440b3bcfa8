"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
import contextlib
import logging

from iblpipe.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

ACTIVATE_LOCK_WAIT_S = 300  # (s) how long a command waits while another one declares the schemas
LOCK_NAME_CHARS = 64  # (characters) longest name GET_LOCK accepts (MySQL 8)


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

    conn = connect()
    with server_lock(conn, f"activate:{settings.schema_prefix(prefix)}", ACTIVATE_LOCK_WAIT_S) as mine:
        if not mine:
            raise DatabaseUnavailable(
                f"another iblpipe process has been declaring the schemas {settings.schema_prefix(prefix)}* for "
                f"{ACTIVATE_LOCK_WAIT_S} s; try again later or look for a stuck process (iblpipe status)"
            )
        return schemas.activate(prefix, connection=conn)


@contextlib.contextmanager
def server_lock(conn, name: str, wait_s: float):
    """Hold the server-wide named lock ``iblpipe:<name>`` (yield True), or yield False when not had within ``wait_s``.

    Named locks are the server's (any host, any client) and go away with the connection holding them.
    """
    full = f"iblpipe:{name}"[:LOCK_NAME_CHARS]
    got = conn.query("SELECT GET_LOCK(%s, %s)", args=(full, wait_s)).fetchone()[0]
    if got != 1:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(Exception):  # a lost connection has released it already
            conn.query("SELECT RELEASE_LOCK(%s)", args=(full,))
