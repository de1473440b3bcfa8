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
ONE_ID_COLUMNS = r"^e?id(_\d)?$"  # index columns of a ONE table: id / eid, id (2.x/3.x) or id_0, id_1, eid_0... (1.x)


def read_one_cache(cache_dir: str | os.PathLike) -> R.Snapshot:
    """Records derived from ``<cache_dir>/sessions.pqt``, checked (``records.finalize``)."""
    sessions = load_sessions(cache_dir)
    return from_sessions(sessions.to_dict("records"), source=f"one-cache:{cache_dir}")


def load_table(cache_dir: str | os.PathLike, name: str):
    """One cache table (``sessions``, ``datasets``) of a ONE cache of any version, as ONE loads it.

    Read by ``one.alf.cache.load_tables`` (ONE 1.x integer ``id_0, id_1`` uuid halves become uuid
    strings, 1.x ``project`` becomes ``projects``); a table without ONE's metadata (written by
    plain pandas) is read and patched by ONE's ``patch_tables``.
    """
    import pandas as pd
    from one.alf.cache import load_tables, patch_tables

    path = Path(cache_dir) / f"{name}.pqt"
    if not path.exists():
        raise SourceError(f"cannot read ONE cache table {path}: file not found")
    try:
        table = load_tables(Path(cache_dir), glob_pattern=path.name)[name]
        if table.empty:  # no ONE metadata: load_tables skipped it
            table = pd.read_parquet(path)
            ids = sorted(table.filter(regex=ONE_ID_COLUMNS).columns)
            if isinstance(table.index, pd.RangeIndex) and ids:
                table = table.set_index(ids)
            table = patch_tables(table, name=name)
    except (OSError, ValueError, KeyError) as err:
        raise SourceError(f"cannot read ONE cache table {path}: {err}") from None
    return table


def load_sessions(cache_dir: str | os.PathLike):
    """The sessions table of a ONE cache of any version (``load_table``): one row per session, a string ``id``."""
    path = Path(cache_dir) / "sessions.pqt"
    sessions = load_table(cache_dir, "sessions")
    if sessions.index.name in ("id", "eid") or "id" not in sessions.columns:
        sessions = sessions.reset_index()
    missing = {"id", "lab", "subject", "date", "number"} - set(sessions.columns)
    if missing:
        raise SourceError(f"{path}: columns {sorted(missing)} missing (not a ONE sessions table)")
    return sessions.assign(id=sessions["id"].astype(str))


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
