"""The ingest fence: an ingest's transaction and a make's transaction never overlap.

A make reads the mirror inside its transaction from a snapshot taken when the transaction
started; an ingest updates mirrored rows in place and deletes what was computed from them.
Without a fence, a make that read the old metadata could insert after the ingest committed
(its parent row still exists: no foreign-key error) and keep a result the ingest's
invalidation had already passed over; and an ingest could miss rows a make committed after
the ingest's own snapshot.

The one row of ``mirror.MirrorFence`` serialises them:

- a make's transaction share-locks the row first thing (``enter_make``, called by the
  columnar base classes before ``make`` and before the in-transaction ``make_fetch``) and
  holds it until it commits. Makes share it with each other;
- an ingest's transaction (``ingest_transaction``: READ COMMITTED, so it reads what the makes
  it waited for committed) bumps the row's count first thing, so it waits for the running
  makes, and makes starting meanwhile wait for it;
- a make that waited for an ingest finds the count changed since its snapshot: it raises
  ``InputsChanged`` and the worker makes the key again from the new metadata (or drops it,
  when the ingest deleted its inputs: ``populate.vanished``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging

from iblpipe.errors import IblpipeError

logger = logging.getLogger(__name__)

MAKE_WAIT_S = 3600  # (s) how long an ingest waits for running makes to commit (as long as a slow make may take)
FENCE_ROW = 0  # (id) the one row of MirrorFence
INPUTS_CHANGED = "an ingest changed the mirror while this make waited for it"  # InputsChanged's message starts so


class InputsChanged(IblpipeError):
    """An ingest committed while a make waited: the make's snapshot of the mirror is stale (it is made again)."""


def _table():
    """The bound ``MirrorFence`` table, or None when the mirror schema is not activated."""
    from iblpipe.schemas import mirror

    return mirror.MirrorFence if mirror.schema.database else None


def enter_make(conn) -> None:
    """Inside a make's transaction: wait for a running ingest, then hold the fence shared until commit.

    Raises ``InputsChanged`` when an ingest committed after the transaction's snapshot was taken.
    """
    table = _table()
    if table is None or not conn.in_transaction:
        return
    sql = f"SELECT ingests FROM {table.full_table_name} WHERE fence = {FENCE_ROW}"
    now = conn.query(sql + " LOCK IN SHARE MODE").fetchone()  # the latest count: waits for a running ingest
    seen = conn.query(sql).fetchone()  # the count in this transaction's snapshot
    if now != seen:
        raise InputsChanged(f"{INPUTS_CHANGED} (ingest {seen[0] if seen else 0} -> {now[0] if now else 0})")


@contextlib.contextmanager
def ingest_transaction(conn):
    """An ingest's transaction: READ COMMITTED, fence closed first (waits up to ``MAKE_WAIT_S`` for running makes)."""
    table = _table()
    conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")  # the next transaction only
    with conn.transaction:
        if table is not None:
            (previous,) = conn.query("SELECT @@SESSION.innodb_lock_wait_timeout").fetchone()
            conn.query(f"SET SESSION innodb_lock_wait_timeout = {MAKE_WAIT_S}")
            try:
                conn.query(
                    f"INSERT INTO {table.full_table_name} (fence, ingests) VALUES ({FENCE_ROW}, 1) "
                    "ON DUPLICATE KEY UPDATE ingests = ingests + 1"
                )
            finally:
                conn.query(f"SET SESSION innodb_lock_wait_timeout = {int(previous)}")
        yield


def fenced(func):
    """``func`` (a plain ``make`` or a ``make_fetch``) entering the fence first when called inside a transaction."""
    if getattr(func, "_fenced", False) or inspect.isgeneratorfunction(func):
        return func

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        enter_make(self.connection)
        return func(self, *args, **kwargs)

    wrapper._fenced = True
    return wrapper
