"""Makes whose inputs vanished mid-make: an ingest deleted or invalidated a parent row while a worker made a key.

The make then fails with MySQL error 1452 (``Cannot add or update a child row``: its
parent row is gone), DataJoint's ``make_fetch data has changed``, or the ingest fence's
``InputsChanged`` (the make waited for an ingest that committed: ``schemas.fence``). That is not a data
error of the key, and neither is any failure of a key that has left the key source meanwhile
(its make read a session the ingest deleted): its job row is removed and, when the key is still in the key source
(the parent came back or was only invalidated), the key is queued again; otherwise it
has left the key source and is dropped.
"""

from __future__ import annotations

import logging

from iblpipe.schemas.djinternals import FETCH_CHANGED  # DataJoint's three-part make saw its inputs change
from iblpipe.schemas.fence import INPUTS_CHANGED

logger = logging.getLogger(__name__)

PARENT_GONE_CODE = 1452  # ER_NO_REFERENCED_ROW_2: a foreign key's parent row does not exist
MAX_REQUEUES = 3  # (count) immediate retries of one key whose inputs keep changing; then left pending
REQUEUED = "requeued"  # _populate_key's outcome: made again right away
VANISHED_TEXT = ("Cannot add or update a child row", FETCH_CHANGED, INPUTS_CHANGED)  # messages of a vanished input


def inputs_vanished(error: BaseException | str) -> bool:
    """True when ``error`` (or its cause) says a parent row vanished or the fetched inputs changed mid-make."""
    seen = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if error.args and error.args[0] == PARENT_GONE_CODE:
            return True
        if any(text in str(error) for text in VANISHED_TEXT):
            return True
        error = error.__cause__ or error.__context__
    return isinstance(error, str) and any(text in error for text in VANISHED_TEXT)


def left_key_source(table, key: dict) -> bool:
    """True when ``key`` is no longer in the key source (an ingest deleted its session after the keys were listed)."""
    pk = {k: key[k] for k in table.primary_key if k in key}
    return not len(table.key_source & pk)


def requeue_or_drop(table, key: dict, label: str) -> bool:
    """Remove the job of ``key`` (never a recorded error); queue it again if still in the key source. True if queued."""
    jobs = table.jobs
    pk = {k: key[k] for k in jobs.primary_key if k in key}
    (jobs & pk).delete_quick()
    if len(table.key_source & pk) and not len(table & pk):
        jobs.refresh(pk, delay=-1)
        logger.warning("%s %s: an input changed while it was made (ingest?); made again", label, pk)
        return True
    logger.info("%s %s: its input was deleted while it was made; dropped (no longer in the key source)", label, pk)
    return False
