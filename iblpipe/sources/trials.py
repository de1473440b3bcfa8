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
from iblpipe.sources import locate
from iblpipe.sources.alf import load_object
from iblpipe.sources.locate import trials

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
    session = Path(session)
    found = [(task, located) for task, located in trials(session) if locate.is_choice_task(task)]
    if not found:
        raise DataError(f"{session / 'alf'}/_ibl_trials.*: trials object not found (no active task with trials)")
    task, located = found[0]
    if len(found) > 1:
        logger.info("%s: several active tasks with trials; reading the first, %s", session, located.collection)
    files = [f for f in located.files("trials") if f.name.split(".")[1] not in SKIPPED_ATTRIBUTES]
    where = f"{located.folder}/_ibl_trials" + (f" (revision {located.revision})" if located.revision else "")
    if not files:  # only in a ONE cache: datasets.pqt lists them, the disk does not hold them
        raise DataError(
            f"{where}.*: datasets.pqt of the ONE cache lists the trials object but no file is on disk; "
            "download it (SessionLoader(...).load_trials()) or update the cache"
        )
    return load_object(files, "trials"), where


SETTINGS_FILE = "_iblrig_taskSettings.raw.json"


def task_settings(session: str | os.PathLike) -> tuple[str | None, float | None]:
    """Rig name and start delay (s) from the task settings, as ``ibllib.pipes.training_status`` reads them.

    Every choice-world task collection ``ibllib.pipes.training_status.get_data_collection`` names
    (passive ones excluded) that has ``_iblrig_taskSettings.raw.json``: delays summed, the rig of the last.
    iblrig v8 (``RIG_NAME``, ``SESSION_DELAY_START``) and older (``PYBPOD_BOARD``,
    ``SESSION_START_DELAY_SEC``) keys are both read. Nones when no settings file exists.
    """
    from ibllib.io.raw_data_loaders import load_settings
    from ibllib.pipes.training_status import get_data_collection

    session = Path(session)
    rig, delay = None, None
    for collection in get_data_collection(session)[0]:
        if not (session / collection / SETTINGS_FILE).exists():
            continue
        settings = load_settings(session, task_collection=collection) or {}
        rig = settings.get("RIG_NAME") or settings.get("PYBPOD_BOARD")
        value = settings.get("SESSION_DELAY_START", settings.get("SESSION_START_DELAY_SEC"))
        if value is not None:
            delay = (delay or 0.0) + float(value)
    return rig, delay
