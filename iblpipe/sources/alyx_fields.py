"""One mapping from Alyx fields to metadata records, shared by the dump and REST readers.

The two readers differ only in how a reference arrives (a dump gives primary keys, REST gives
names or nicknames); they resolve it and pass the result in. Everything else about a field
(parsing, defaults, what is required) is written here once.
"""

from __future__ import annotations

from iblpipe.sources import records as R

DEFAULT_WATER_TYPE = "Water"  # Alyx's water type when a record names none
DEFAULT_SESSION_NUMBER = 1  # Alyx's session number when a record has none


def lab(uid, f: dict) -> R.Lab:
    return R.Lab(
        lab_name=f["name"],
        lab_uuid=R.parse_uuid(uid),
        institution=f.get("institution") or "",
        address=f.get("address") or "",
        time_zone=f.get("timezone") or "",
    )


def lab_member(uid, f: dict, *, labs) -> R.LabMember:
    return R.LabMember(
        user_name=f["username"],
        user_uuid=R.parse_uuid(uid),
        email=f.get("email") or "",
        first_name=f.get("first_name") or "",
        last_name=f.get("last_name") or "",
        is_active=bool(f.get("is_active", True)),
        labs=tuple(sorted(labs)),
    )


def project(uid, f: dict) -> R.Project:
    return R.Project(
        project_name=f["name"], project_uuid=R.parse_uuid(uid), project_description=f.get("description") or ""
    )


def subject(uid, f: dict, *, lab_name, strain, line, responsible_user) -> R.Subject:
    return R.Subject(
        subject_uuid=R.parse_uuid(uid),
        subject_nickname=f["nickname"],
        lab_name=lab_name,
        sex=f.get("sex") or "U",
        subject_birth_date=R.parse_date(f.get("birth_date")),
        subject_strain=strain,
        subject_line=line,
        death_date=R.parse_date(f.get("death_date")),
        responsible_user=responsible_user,
    )


def session(uid, f: dict, *, subject_uuid, lab_name, users, procedures, projects) -> R.Session:
    return R.Session(
        session_uuid=R.parse_uuid(uid),
        subject_uuid=subject_uuid,
        session_lab=lab_name,
        session_start_time=required(R.parse_datetime(f["start_time"]), "start_time"),
        session_end_time=R.parse_datetime(f.get("end_time")),
        session_number=int(f.get("number") or DEFAULT_SESSION_NUMBER),
        task_protocol=f.get("task_protocol") or None,
        session_qc=qc(f.get("qc")),
        users=tuple(users),
        procedures=tuple(procedures),
        projects=tuple(projects),
    )


def weighing(uid, f: dict, *, subject_uuid) -> R.Weighing:
    return R.Weighing(
        weighing_uuid=R.parse_uuid(uid),
        subject_uuid=subject_uuid,
        weighing_time=required(R.parse_datetime(f["date_time"]), "date_time"),
        weight=float(f["weight"]),
    )


def water_administration(uid, f: dict, *, subject_uuid, water_type) -> R.WaterAdministration:
    return R.WaterAdministration(
        wateradmin_uuid=R.parse_uuid(uid),
        subject_uuid=subject_uuid,
        administration_time=required(R.parse_datetime(f["date_time"]), "date_time"),
        water_administered=optional_float(f.get("water_administered")),
        water_type=water_type or DEFAULT_WATER_TYPE,
        adlib=bool(f.get("adlib", False)),
        session_uuid=R.parse_uuid(f.get("session")),
    )


def water_restriction(uid, f: dict, *, subject_uuid) -> R.WaterRestriction:
    return R.WaterRestriction(
        restriction_uuid=R.parse_uuid(uid),
        subject_uuid=subject_uuid,
        restriction_start_time=required(R.parse_datetime(f["start_time"]), "start_time"),
        restriction_end_time=R.parse_datetime(f.get("end_time")),
        reference_weight=optional_float(f.get("reference_weight")),
    )


def insertion(uid, f: dict, *, probe_model) -> R.ProbeInsertion:
    return R.ProbeInsertion(
        probe_insertion_uuid=R.parse_uuid(uid),
        session_uuid=R.parse_uuid(f["session"]),
        probe_name=f["name"],
        probe_model=probe_model or "",
    )


def trajectory(uid, insertion_id, f: dict) -> R.ProbeTrajectory:
    """A trajectory from Alyx fields; provenance given as its code (dump) or its label (REST)."""
    prov = f["provenance"]
    if isinstance(prov, str) and not prov.isdigit():
        if prov not in R.PROVENANCE_RANK:
            raise ValueError(f"unknown provenance {prov!r}")
        rank = R.PROVENANCE_RANK[prov]
    else:
        rank = int(prov)
        if rank not in R.PROVENANCE_NAME:
            raise ValueError(f"unknown provenance code {rank}")
    return R.ProbeTrajectory(
        trajectory_uuid=R.parse_uuid(uid),
        probe_insertion_uuid=R.parse_uuid(insertion_id),
        provenance=R.PROVENANCE_NAME[rank],
        provenance_rank=rank,
        **{k: float(f[k]) for k in ("x", "y", "z", "depth", "theta", "phi")},
        roll=float(f.get("roll") or 0.0),
    )


def qc(value) -> str:
    """Session QC as its label: Alyx gives the label (REST) or its code (dump); none is NOT_SET."""
    if value is None:
        return "NOT_SET"
    if isinstance(value, str) and not value.isdigit():
        return value
    return R.SESSION_QC[int(value)]


def optional_float(value) -> float | None:
    return None if value is None else float(value)


def required(value, field: str):
    """``value``, or ValueError naming the empty field (the record is reported, not mirrored)."""
    if value is None:
        raise ValueError(f"{field} is empty")
    return value
