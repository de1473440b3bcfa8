"""Derive labs, subjects, projects and sessions from a ONE cache (``sessions.pqt``) for a lab without Alyx.

Sessions keep the cache eid; labs and subjects get the name-based uuids of
``iblpipe.sources.ids``. A cache knows only the session date, so the start time
is midnight of that day.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from iblpipe.errors import SourceError
from iblpipe.sources import ids
from iblpipe.sources import records as R

logger = logging.getLogger(__name__)

ONE_CACHE_KINDS = frozenset({"lab", "project", "subject", "session"})


def read_one_cache(cache_dir: str | os.PathLike) -> R.Snapshot:
    """Records derived from ``<cache_dir>/sessions.pqt``, checked (``records.finalize``)."""
    import pandas as pd

    path = Path(cache_dir) / "sessions.pqt"
    try:
        sessions = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise SourceError(f"cannot read ONE cache table {path}: {err}") from None
    if sessions.index.name in ("id", "eid") or "id" not in sessions.columns:
        sessions = sessions.reset_index()
    missing = {"id", "lab", "subject", "date", "number"} - set(sessions.columns)
    if missing:
        raise SourceError(f"{path}: columns {sorted(missing)} missing (not a ONE sessions table)")
    return from_sessions(sessions.to_dict("records"), source=f"one-cache:{cache_dir}")


def from_sessions(rows: list[dict], source: str = "one-cache") -> R.Snapshot:
    """Records from ONE cache session rows (``id, lab, subject, date, number, task_protocol, projects``)."""
    snap = R.Snapshot(source=source, provides=ONE_CACHE_KINDS)
    labs, subjects, projects, sessions = {}, {}, set(), []
    for row in rows:
        eid = row.get("id")
        try:
            lab, nickname = str(row["lab"]), str(row["subject"])
            day = R.parse_date(row["date"])
            names = tuple(p for p in str(row.get("projects") or "").split(",") if p)
            subject_uuid = ids.subject_uuid(lab, nickname)
            session = R.Session(
                session_uuid=R.parse_uuid(eid),
                subject_uuid=subject_uuid,
                session_lab=lab,
                session_start_time=dt.datetime.combine(day, dt.time()),
                session_number=int(row["number"]),
                task_protocol=row.get("task_protocol") or None,
                projects=names,
            )
        except (KeyError, ValueError, TypeError) as err:
            snap.add_bad("session", eid, f"unreadable cache row: {err}")
            continue
        labs.setdefault(lab, R.Lab(lab_name=lab, lab_uuid=ids.lab_uuid(lab)))
        subjects.setdefault(subject_uuid, R.Subject(subject_uuid=subject_uuid, subject_nickname=nickname, lab_name=lab))
        projects.update(names)
        sessions.append(session)
    snap.records = {
        "lab": list(labs.values()),
        "subject": list(subjects.values()),
        "project": [R.Project(project_name=p) for p in sorted(projects)],
        "session": sessions,
    }
    return R.finalize(snap)
