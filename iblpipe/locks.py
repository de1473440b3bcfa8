"""Server-wide named locks (``GET_LOCK``): one holder per database, whatever host it runs on."""

from __future__ import annotations

import contextlib

LOCK_NAME_CHARS = 64  # (characters) longest name GET_LOCK accepts (MySQL 8)


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
