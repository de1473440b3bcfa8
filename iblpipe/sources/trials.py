"""A session's behaviour trials, from the task collection IBL reads them from (``sources.locate``).

Both layouts load through ``one.alf.io``: ``_ibl_trials.table.pqt`` (with ``intervals``
and the other per-trial event files beside it) or one ``_ibl_trials.<attribute>.npy`` per
attribute; each dataset from its latest revision, as ONE does.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from iblpipe.errors import DataError
from iblpipe.sources.locate import is_passive, trials

logger = logging.getLogger(__name__)

SKIPPED_ATTRIBUTES = ("itiDuration",)  # SessionLoader.load_trials leaves these out (often a mismatched length)


def load_session_trials(session: str | os.PathLike) -> tuple[dict, str]:
    """The trials object of a session's active (choice-world) task, and where it was read (for messages).

    The task collection is the first non-passive task of ``_ibl_experiment.description.yaml``
    that has trials files (``alf`` when the session has no description). Passive tasks are
    never returned: they are not trials for the training status.

    Raises
    ------
    DataError
        Naming the folder: no trials files in any active task collection.
    """
    import one.alf.io as alfio

    session = Path(session)
    found = [(task, located) for task, located in trials(session) if task is None or not is_passive(task.protocol)]
    if not found:
        raise DataError(f"{session / 'alf'}/_ibl_trials.*: trials object not found (no active task with trials)")
    task, located = found[0]
    if len(found) > 1:
        logger.info("%s: several active tasks with trials; reading the first, %s", session, located.collection)
    files = [f for f in located.files("trials") if f.name.split(".")[1] not in SKIPPED_ATTRIBUTES]
    where = f"{located.folder}/_ibl_trials" + (f" (revision {located.revision})" if located.revision else "")
    return dict(alfio.load_object(files, "trials").items()), where
