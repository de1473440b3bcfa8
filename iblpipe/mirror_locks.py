"""Ingest alongside workers and other ingests: one ingest per database at a time, rows locked before changing them.

- Two ingests of one database run one after the other (a server named lock), so the
  second plans against what the first wrote and reports only what it changed itself.
- Inside the transaction, every row the run will delete, update or invalidate (the
  cascade of each changed record, parents first) is locked ``FOR UPDATE`` before
  anything is deleted. A worker that would insert a row below one of them waits,
  then finds its parent gone (``populate.vanished`` requeues or drops that key)
  instead of slipping a child in between our deletes (which DataJoint reports as
  "Delete blocked by table ... in an unloaded schema").
- A collision that still happens (deadlock, lock wait timeout, a blocked delete) rolls
  the run back; it is planned and written again, a few times, then reported in one line.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

import datajoint as dj

from iblpipe.errors import IblpipeError
from iblpipe.locks import server_lock
from iblpipe.schemas import djinternals

logger = logging.getLogger(__name__)

INGEST_LOCK_WAIT_S = 900  # (s) how long an ingest waits for another ingest of the same database to finish
MAX_ATTEMPTS = 4  # (count) tries of one run colliding with concurrent writers
RETRY_WAIT_S = (1, 3, 10)  # (s) waits between those tries
COLLISION_CODES = {1205: "lock wait timeout", 1213: "deadlock", 1451: "a new row references a deleted one"}
_BLOCKED = re.compile(r"Delete blocked by table (`[^`]+`\.`[^`]+`)")
COLLISION_TEXT = ("Delete blocked by", "Cannot delete or update a parent row", "Deadlock found", "Lock wait timeout")


class IngestCollision(IblpipeError):
    """Another writer kept changing the rows an ingest changes, or another ingest never finished."""


@contextlib.contextmanager
def one_ingest(conn, database: str):
    """Hold the database's ingest lock for the block (waits up to ``INGEST_LOCK_WAIT_S``)."""
    with server_lock(conn, f"ingest:{database}", INGEST_LOCK_WAIT_S) as mine:
        if not mine:
            raise IngestCollision(
                f"another ingest into {database} has been running for {INGEST_LOCK_WAIT_S} s; "
                "nothing was written: run again later (or find the stuck ingest)"
            )
        yield


def is_collision(exc: BaseException) -> bool:
    """True for failures caused by concurrent writers, which a new attempt can avoid."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.args and exc.args[0] in COLLISION_CODES:
            return True
        if any(text in str(exc) for text in COLLISION_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def blocking_table(exc: BaseException) -> str | None:
    """The table named by DataJoint's "Delete blocked by table `db`.`t`", or None."""
    match = _BLOCKED.search(str(exc))
    return match.group(1) if match else None


def retrying(func, pipeline_prefix: str = ""):
    """``func()``, again after a collision with concurrent writers (its transaction was rolled back).

    A delete blocked by a table outside the pipeline (``pipeline_prefix``: an analyst's rows referencing
    a record the source deleted) is not a collision: it is reported at once, naming that table.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            return func()
        except Exception as exc:
            if not is_collision(exc):
                raise
            child = blocking_table(exc)
            if child and not child.strip("`").startswith(pipeline_prefix):
                raise IngestCollision(
                    f"ingest: records gone from the source cannot be deleted: rows of {child} (not a pipeline "
                    "table: an analyst's?) reference them. Nothing was written; ask its owner to delete those rows, "
                    "then run again"
                ) from exc
            detail = " ".join(str(exc).split())[:300]
            if attempt == MAX_ATTEMPTS - 1:
                raise IngestCollision(
                    f"ingest collided with other writers {MAX_ATTEMPTS} times ({detail}); nothing was written. "
                    "If a table outside the pipeline (an analyst's) references rows the source deleted, "
                    "delete those rows first; otherwise run again"
                ) from exc
            wait = RETRY_WAIT_S[min(attempt, len(RETRY_WAIT_S) - 1)]
            logger.warning("ingest collided with another writer (%s); rolled back, trying again in %d s", detail, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def lock_rows(expr) -> int:
    """Lock ``FOR UPDATE`` the rows of ``expr`` and every row a delete of them would cascade to, parents first.

    Returns the number of rows locked.
    """
    total = 0
    for ft in dj.Diagram.cascade(expr):
        sql = f"SELECT COUNT(*) FROM {djinternals.from_where_sql(ft)} FOR UPDATE"
        total += ft.connection.query(sql).fetchone()[0]
    return total
