"""Typed metadata records shared by every source, and the checks run before mirroring.

Each source (Alyx dump, Alyx REST, ONE cache) returns a :class:`Snapshot` of
these records; ``iblpipe.mirror.mirror`` writes any snapshot the same way.
Field names equal the column names of the mirror tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Alyx experiments.trajectoryestimate provenance codes (higher is better).
PROVENANCE_RANK = {
    "Planned": 10,
    "Micro-manipulator": 30,
    "Histology track": 50,
    "Ephys aligned histology track": 70,
}
PROVENANCE_NAME = {rank: name for name, rank in PROVENANCE_RANK.items()}
# Alyx actions.session qc codes.
SESSION_QC = {0: "NOT_SET", 10: "PASS", 30: "WARNING", 40: "FAIL", 50: "CRITICAL"}


@dataclass(frozen=True)
class Lab:
    lab_name: str
    lab_uuid: uuid.UUID | None = None
    institution: str = ""
    address: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class LabMember:
    user_name: str
    user_uuid: uuid.UUID | None = None
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    is_active: bool = True
    labs: tuple[str, ...] = ()  # lab names (reference.LabMembership)


@dataclass(frozen=True)
class Project:
    project_name: str
    project_uuid: uuid.UUID | None = None
    project_description: str = ""


@dataclass(frozen=True)
class Subject:
    subject_uuid: uuid.UUID
    subject_nickname: str
    lab_name: str
    sex: str = "U"
    subject_birth_date: dt.date | None = None
    subject_strain: str | None = None
    subject_line: str | None = None
    death_date: dt.date | None = None
    responsible_user: str | None = None


@dataclass(frozen=True)
class Session:
    session_uuid: uuid.UUID
    subject_uuid: uuid.UUID
    session_lab: str
    session_start_time: dt.datetime
    session_end_time: dt.datetime | None = None
    session_number: int = 1
    task_protocol: str | None = None
    session_qc: str = "NOT_SET"
    users: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Weighing:
    weighing_uuid: uuid.UUID
    subject_uuid: uuid.UUID
    weighing_time: dt.datetime
    weight: float


@dataclass(frozen=True)
class WaterAdministration:
    wateradmin_uuid: uuid.UUID
    subject_uuid: uuid.UUID
    administration_time: dt.datetime
    water_administered: float | None = None
    water_type: str = "Water"
    adlib: bool = False
    session_uuid: uuid.UUID | None = None


@dataclass(frozen=True)
class WaterRestriction:
    restriction_uuid: uuid.UUID
    subject_uuid: uuid.UUID
    restriction_start_time: dt.datetime
    restriction_end_time: dt.datetime | None = None
    reference_weight: float | None = None


@dataclass(frozen=True)
class ProbeInsertion:
    probe_insertion_uuid: uuid.UUID
    session_uuid: uuid.UUID
    probe_name: str
    probe_model: str = ""


@dataclass(frozen=True)
class ProbeTrajectory:
    trajectory_uuid: uuid.UUID
    probe_insertion_uuid: uuid.UUID
    provenance: str
    provenance_rank: int
    x: float
    y: float
    z: float
    depth: float
    theta: float
    phi: float
    roll: float = 0.0
    is_best: bool = False  # set by finalize(): highest provenance_rank of its insertion


# Kind name -> (record class, key field), in dependency order.
KINDS: dict[str, tuple[type, str]] = {
    "lab": (Lab, "lab_name"),
    "user": (LabMember, "user_name"),
    "project": (Project, "project_name"),
    "subject": (Subject, "subject_uuid"),
    "session": (Session, "session_uuid"),
    "weighing": (Weighing, "weighing_uuid"),
    "water_administration": (WaterAdministration, "wateradmin_uuid"),
    "water_restriction": (WaterRestriction, "restriction_uuid"),
    "insertion": (ProbeInsertion, "probe_insertion_uuid"),
    "trajectory": (ProbeTrajectory, "trajectory_uuid"),
}


@dataclass(frozen=True)
class BadRecord:
    """A source record that cannot be mirrored: reported with its id and skipped."""

    kind: str
    record_id: str
    reason: str


@dataclass
class Snapshot:
    """Every record a source holds, by kind; ``provides`` names the kinds the source knows at all.

    Kinds a source does not provide (a ONE cache has no weighings) are left untouched by the mirror.
    """

    source: str
    records: dict[str, list] = field(default_factory=dict)
    provides: frozenset[str] = frozenset()
    bad: list[BadRecord] = field(default_factory=list)

    def add_bad(self, kind: str, record_id: object, reason: str) -> None:
        """Report a record present in the source that cannot be mirrored (its mirrored row is kept as it is)."""
        self.bad.append(BadRecord(kind, normalize_id(record_id), reason))


def normalize_id(record_id: object) -> str:
    """A record id as the mirror writes keys: uuids in canonical lower-case form, names as they are."""
    text = str(record_id)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def record_key(record) -> str:
    """The record's primary key as a string."""
    _, key = KINDS[kind_of(record)]
    return str(getattr(record, key))


def kind_of(record) -> str:
    for kind, (cls, _) in KINDS.items():
        if isinstance(record, cls):
            return kind
    raise TypeError(f"not a metadata record: {type(record).__name__}")


def content_hash(record) -> str:
    """md5 of the record's canonical JSON: equal contents give equal hashes whatever the source."""
    data = dataclasses.asdict(record)
    for name, value in data.items():
        if isinstance(value, float):
            data[name] = round(value, 4)  # float32 columns and JSON round-trips differ below this
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.md5(text.encode()).hexdigest()


def finalize(snap: Snapshot, check: Callable[[str, object], str | None] | None = None) -> Snapshot:
    """Check references, drop bad records (reported in ``snap.bad``), flag best trajectories.

    Run in dependency order so a skipped subject also skips its sessions, and so on.
    Unknown users or projects named by a session or subject are dropped from it (logged),
    not fatal: Alyx allows deleting users without rewriting history. ``check(kind, record)``,
    when given, returns why a record cannot be written (the mirror passes its column checks)
    or None. Running it again on a finalized snapshot changes nothing but what ``check`` adds.
    """
    n_bad_before = len(snap.bad)
    rec = {kind: list(snap.records.get(kind, [])) for kind in KINDS}

    def keep(kind, rule):
        good = []
        for r in rec[kind]:
            reason = rule(r)
            if reason:
                snap.add_bad(kind, record_key(r), reason)
            else:
                good.append(r)
        rec[kind] = good

    rec = {k: _dedupe(snap, k, v) for k, v in rec.items()}
    if check is not None:
        for kind in KINDS:
            keep(kind, lambda r, kind=kind: check(kind, r))
    labs = {r.lab_name for r in rec["lab"]} if "lab" in snap.provides else None
    users = {r.user_name for r in rec["user"]} if "user" in snap.provides else None
    projects = {r.project_name for r in rec["project"]} if "project" in snap.provides else None

    # Names of labs, users and projects the source holds but could not give: a record naming one is skipped
    # too (kept as mirrored), not silently rewritten without it (its membership, project ... would be lost).
    unreadable = {kind: {b.record_id for b in snap.bad if b.kind == kind} for kind in ("lab", "user", "project")}

    def names_unreadable(kind: str, names) -> str | None:
        hits = sorted(set(names) & unreadable[kind])
        return f"{kind} {hits[0]!r} is in the source but skipped" if hits else None

    keep("user", lambda u: names_unreadable("lab", u.labs))
    keep("subject", lambda s: names_unreadable("lab", [s.lab_name]) or names_unreadable("user", [s.responsible_user]))
    keep(
        "session",
        lambda s: (
            names_unreadable("lab", [s.session_lab])
            or names_unreadable("user", s.users)
            or names_unreadable("project", s.projects)
        ),
    )
    if labs is not None:
        rec["user"] = [dataclasses.replace(u, labs=tuple(sorted(set(u.labs) & labs))) for u in rec["user"]]
        keep("subject", lambda s: None if s.lab_name in labs else f"unknown lab {s.lab_name!r}")
    nicknames = {}
    for s in sorted(rec["subject"], key=lambda s: str(s.subject_uuid)):
        nicknames.setdefault((s.lab_name, s.subject_nickname.lower()), s.subject_uuid)
    keep(
        "subject",
        lambda s: (
            None
            if nicknames[(s.lab_name, s.subject_nickname.lower())] == s.subject_uuid
            else f"duplicate nickname {s.subject_nickname!r} in lab {s.lab_name} (kept subject "
            f"{nicknames[(s.lab_name, s.subject_nickname.lower())]})"
        ),
    )
    if users is not None:
        rec["subject"] = [
            s if s.responsible_user in users or s.responsible_user is None else _drop_user(s) for s in rec["subject"]
        ]
    subjects = {s.subject_uuid for s in rec["subject"]} if "subject" in snap.provides else None

    def session_check(s):
        if subjects is not None and s.subject_uuid not in subjects:
            return f"subject {s.subject_uuid} missing or skipped"
        if labs is not None and s.session_lab not in labs:
            return f"unknown lab {s.session_lab!r}"
        return None

    keep("session", session_check)
    rec["session"] = [
        dataclasses.replace(
            s,
            users=tuple(sorted(set(s.users) & users)) if users is not None else tuple(sorted(set(s.users))),
            projects=tuple(sorted(set(s.projects) & projects))
            if projects is not None
            else tuple(sorted(set(s.projects))),
            procedures=tuple(sorted(set(s.procedures))),
        )
        for s in rec["session"]
    ]
    for kind in ("weighing", "water_administration", "water_restriction"):
        if subjects is not None:
            keep(kind, lambda r: None if r.subject_uuid in subjects else f"subject {r.subject_uuid} missing or skipped")
    sessions = {s.session_uuid for s in rec["session"]} if "session" in snap.provides else None
    if sessions is not None:
        keep(
            "insertion",
            lambda r: None if r.session_uuid in sessions else f"session {r.session_uuid} missing or skipped",
        )
    seen = {}
    for r in sorted(rec["insertion"], key=lambda r: str(r.probe_insertion_uuid)):
        seen.setdefault((r.session_uuid, r.probe_name), r.probe_insertion_uuid)
    keep(
        "insertion",
        lambda r: (
            None
            if seen[(r.session_uuid, r.probe_name)] == r.probe_insertion_uuid
            else f"duplicate probe {r.probe_name} in session {r.session_uuid}"
        ),
    )
    insertions = {r.probe_insertion_uuid for r in rec["insertion"]} if "insertion" in snap.provides else None
    if insertions is not None:
        keep(
            "trajectory",
            lambda r: (
                None
                if r.probe_insertion_uuid in insertions
                else f"insertion {r.probe_insertion_uuid} missing or skipped"
            ),
        )
    best = {}
    for t in sorted(rec["trajectory"], key=lambda t: (-t.provenance_rank, str(t.trajectory_uuid))):
        best.setdefault(t.probe_insertion_uuid, t.trajectory_uuid)
    rec["trajectory"] = [
        dataclasses.replace(t, is_best=best[t.probe_insertion_uuid] == t.trajectory_uuid) for t in rec["trajectory"]
    ]
    snap.records = {k: v for k, v in rec.items() if k in snap.provides}
    for bad in snap.bad[n_bad_before:]:
        logger.warning("skipped %s %s: %s", bad.kind, bad.record_id, bad.reason)
    return snap


def _drop_user(subject: Subject) -> Subject:
    logger.info("subject %s: unknown responsible user %r left empty", subject.subject_uuid, subject.responsible_user)
    return dataclasses.replace(subject, responsible_user=None)


def _dedupe(snap: Snapshot, kind: str, records: list) -> list:
    """Drop every record whose key repeats, reporting each: which one is right is not ours to guess."""
    if not records:
        return records
    _, key_attr = KINDS[kind]
    keys = [str(getattr(r, key_attr)) for r in records]
    counts = Counter(keys)
    if len(counts) == len(keys):
        return records
    for key in keys:
        if counts[key] > 1:
            snap.add_bad(kind, key, duplicate_reason(counts[key]))
    return [r for r, key in zip(records, keys, strict=True) if counts[key] == 1]


def duplicate_reason(n: int) -> str:
    """Why records sharing one primary key are all skipped."""
    return f"duplicate primary key: {n} records in the source have it; none is mirrored, fix the source"


def parse_datetime(value) -> dt.datetime | None:
    """An ISO date-time as naive local time (Alyx stores lab-local times); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def parse_date(value) -> dt.date | None:
    """An ISO date; None or empty stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def parse_uuid(value) -> uuid.UUID | None:
    """A uuid from its string form (None stays None)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
