"""Helpers of the mirror tests: empty the mirror, read every mirrored table, a ONE cache from a dump, a test table."""

from __future__ import annotations

import contextlib

import datajoint as dj
import pandas as pd

from iblpipe.schemas import acquisition, columnar, ephys, reference, subject
from iblpipe.schemas import mirror as book

TABLES = {
    "Lab": reference.Lab,
    "LabMember": reference.LabMember,
    "LabMembership": reference.LabMembership,
    "Project": reference.Project,
    "Subject": subject.Subject,
    "SubjectLab": subject.SubjectLab,
    "SubjectUser": subject.SubjectUser,
    "Session": acquisition.Session,
    "SessionUser": acquisition.Session.User,
    "SessionProcedure": acquisition.Session.Procedure,
    "SessionProject": acquisition.Session.Project,
    "Weighing": subject.Weighing,
    "WaterAdministration": subject.WaterAdministration,
    "WaterRestriction": subject.WaterRestriction,
    "ProbeInsertion": ephys.ProbeInsertion,
    "ProbeTrajectory": ephys.ProbeTrajectory,
}
# Dump model -> mirrored table holding one row per record.
MODEL_TABLES = {
    "misc.lab": reference.Lab,
    "misc.labmember": reference.LabMember,
    "subjects.project": reference.Project,
    "subjects.subject": subject.Subject,
    "actions.session": acquisition.Session,
    "actions.weighing": subject.Weighing,
    "actions.wateradministration": subject.WaterAdministration,
    "actions.waterrestriction": subject.WaterRestriction,
    "experiments.probeinsertion": ephys.ProbeInsertion,
    "experiments.trajectoryestimate": ephys.ProbeTrajectory,
}
# What a ONE cache knows: (table, columns); the session start is only a date there.
ONE_CACHE_COLUMNS = {
    "Lab": ["lab_name", "lab_uuid"],
    "Subject": ["subject_uuid", "subject_nickname"],
    "SubjectLab": ["subject_uuid", "lab_name"],
    "Session": ["session_uuid", "subject_uuid", "session_lab", "session_date", "session_number", "task_protocol"],
    "SessionProject": ["session_uuid", "project_name"],
}


def reset() -> None:
    """Empty the mirror (cascading to anything computed from it)."""
    for table in (subject.Subject, reference.Lab, reference.LabMember, reference.Project, book.MirroredRecord):
        table().delete(prompt=False)


def contents() -> dict[str, pd.DataFrame]:
    """Every mirrored table as text, sorted, so tables from different sources compare with assert_frame_equal."""
    out = {}
    for name, table in TABLES.items():
        frame = table().to_pandas().reset_index()
        if name == "Session":
            frame["session_date"] = pd.to_datetime(frame["session_start_time"]).dt.date
        out[name] = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def assert_same(got: dict, expected: dict, columns: dict | None = None) -> None:
    """Equal tables (all columns, or ``columns[name]`` of the tables named there)."""
    for name in columns or expected:
        a, b = got[name], expected[name]
        if columns:
            cols = columns[name]
            a = a[cols].sort_values(cols).reset_index(drop=True)
            b = b[cols].sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=name)


def checksums(prefix: str) -> dict[str, int]:
    """``CHECKSUM TABLE`` of every table of every schema under ``prefix`` (jobs tables included)."""
    import datajoint as dj

    conn = dj.conn()
    like = prefix.replace("_", r"\_") + "%"
    names = conn.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE %s", args=(like,)
    ).fetchall()
    out = {}
    for schema_name, table_name in names:
        full = f"`{schema_name}`.`{table_name}`"
        out[full] = conn.query(f"CHECKSUM TABLE {full}").fetchone()[1]
    return out


def moved(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Tables whose checksum changed, appeared or disappeared, by bare name (``session``, ``_trial_set``)."""
    names = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return {name.rsplit(".", 1)[1].strip("`") for name in names}


MAKE_PAUSES: list = []  # callables ``pause(key)`` SessionSummary.make runs after reading its session (tests hold it)


def session_summary(schema_name: str, context: dict | None = None):
    """``SessionSummary`` (a computed row and a part row per session) declared or bound in ``schema_name``.

    Returns ``(schema, SessionSummary)``; ``context`` adds names other tables of that schema reference.
    """
    schema = dj.Schema(schema_name, context={"acquisition": acquisition, **(context or {})})

    @schema
    class SessionSummary(columnar.Computed):
        definition = """
        # a computed row per session
        -> acquisition.Session
        ---
        protocol_length : int32   # (chars) length of the task protocol
        """

        class Part(columnar.Part):
            definition = """
            # a part row per session
            -> master
            """

        def make(self, key):
            protocol = (acquisition.Session & key).fetch1("task_protocol") or ""
            for pause in MAKE_PAUSES:
                pause(key)
            self.insert1(dict(key, protocol_length=len(protocol)))
            self.Part.insert1(key)

    return schema, SessionSummary


@contextlib.contextmanager
def summary_table(schema_name: str):
    """``SessionSummary`` in its own schema ``schema_name``, dropped after the block."""
    schema, table = session_summary(schema_name)
    try:
        yield table
    finally:
        schema.drop(prompt=False)
