"""Read an Alyx JSON dump (Django ``dumpdata``: ``[{"model", "pk", "fields"}]``) into records."""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path

from iblpipe.errors import SourceError
from iblpipe.sources import records as R

logger = logging.getLogger(__name__)

# Every kind a dump holds, so records gone from it are deleted from the mirror.
DUMP_KINDS = frozenset(R.KINDS)
# Kind -> the Django model of its records.
MODEL_KINDS = {
    "lab": "misc.lab",
    "user": "misc.labmember",
    "project": "subjects.project",
    "subject": "subjects.subject",
    "session": "actions.session",
    "weighing": "actions.weighing",
    "water_administration": "actions.wateradministration",
    "water_restriction": "actions.waterrestriction",
    "insertion": "experiments.probeinsertion",
    "trajectory": "experiments.trajectoryestimate",
}
# Kinds keyed by a name, not the Alyx pk: the field holding it.
NAME_FIELDS = {"lab": "name", "user": "username", "project": "name"}


def read_dump(path: str | os.PathLike) -> R.Snapshot:
    """Every mirrored record of the dump at ``path``, checked (``records.finalize``)."""
    path = Path(path)
    try:
        with open(path) as f:
            items = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SourceError(f"cannot read Alyx dump {path}: {err}") from None
    if not isinstance(items, list):
        raise SourceError(f"{path}: not a Django dumpdata list of {{model, pk, fields}}")
    return from_dumpdata(items, source=f"dump:{path}")


def from_dumpdata(items: list[dict], source: str = "dump") -> R.Snapshot:
    """Records from a list of dumpdata items (models this mirror does not know are ignored)."""
    models = defaultdict(dict)
    repeated = defaultdict(int)  # (model, pk) -> how many items share it
    for item in items:
        model, pk = item.get("model", ""), str(item.get("pk"))
        if pk in models[model]:
            repeated[(model, pk)] += 1
        else:
            models[model][pk] = item.get("fields", {})
            repeated[(model, pk)] = 1
    snap = R.Snapshot(source=source, provides=DUMP_KINDS)
    kinds = {model: kind for kind, model in MODEL_KINDS.items()}
    for (model, pk), n in repeated.items():
        if n > 1 and model in kinds:  # which copy is right is not ours to guess: all are reported, none is used
            for _ in range(n):
                snap.add_bad(kinds[model], _record_id(kinds[model], pk, models[model][pk]), R.duplicate_reason(n))

    def name(model: str, value, attr: str = "name"):
        """A foreign key given as a pk of ``model`` becomes that row's name; a plain name stays."""
        if value is None:
            return None
        row = models[model].get(str(value))
        return row.get(attr) if row is not None else value

    lab_names = {pk: f["name"] for pk, f in models["misc.lab"].items()}
    user_names = {pk: f["username"] for pk, f in models["misc.labmember"].items()}
    memberships = defaultdict(set)
    for f in models["misc.labmembership"].values():
        memberships[str(f.get("user"))].add(lab_names.get(str(f.get("lab")), f.get("lab")))
    out = defaultdict(list)

    def add(kind, pk, f, build):
        if repeated[(MODEL_KINDS[kind], pk)] > 1:
            return
        try:
            out[kind].append(build(pk, f))
        except (KeyError, ValueError, TypeError) as err:
            snap.add_bad(kind, _record_id(kind, pk, f), f"unreadable record: {type(err).__name__} {err}")

    for pk, f in models["misc.lab"].items():
        add(
            "lab",
            pk,
            f,
            lambda pk, f: R.Lab(
                lab_name=f["name"],
                lab_uuid=R.parse_uuid(pk),
                institution=f.get("institution") or "",
                address=f.get("address") or "",
                time_zone=f.get("timezone") or "",
            ),
        )
    for pk, f in models["misc.labmember"].items():
        add(
            "user",
            pk,
            f,
            lambda pk, f: R.LabMember(
                user_name=f["username"],
                user_uuid=R.parse_uuid(pk),
                email=f.get("email") or "",
                first_name=f.get("first_name") or "",
                last_name=f.get("last_name") or "",
                is_active=bool(f.get("is_active", True)),
                labs=tuple(
                    sorted(
                        memberships[pk] | {lab_names.get(str(x), x) for x in _as_list(f.get("lab") or f.get("labs"))}
                    )
                ),
            ),
        )
    for pk, f in models["subjects.project"].items():
        add(
            "project",
            pk,
            f,
            lambda pk, f: R.Project(
                project_name=f["name"], project_uuid=R.parse_uuid(pk), project_description=f.get("description") or ""
            ),
        )
    for pk, f in models["subjects.subject"].items():
        add(
            "subject",
            pk,
            f,
            lambda pk, f: R.Subject(
                subject_uuid=R.parse_uuid(pk),
                subject_nickname=f["nickname"],
                lab_name=lab_names.get(str(f["lab"]), f["lab"]),
                sex=f.get("sex") or "U",
                subject_birth_date=R.parse_date(f.get("birth_date")),
                subject_strain=name("subjects.strain", f.get("strain")),
                subject_line=name("subjects.line", f.get("line")),
                death_date=R.parse_date(f.get("death_date")),
                responsible_user=user_names.get(str(f.get("responsible_user")), f.get("responsible_user")),
            ),
        )
    for pk, f in models["actions.session"].items():
        add(
            "session",
            pk,
            f,
            lambda pk, f: R.Session(
                session_uuid=R.parse_uuid(pk),
                subject_uuid=R.parse_uuid(f["subject"]),
                session_lab=lab_names.get(str(f["lab"]), f["lab"]),
                session_start_time=_required(R.parse_datetime(f["start_time"]), "start_time"),
                session_end_time=R.parse_datetime(f.get("end_time")),
                session_number=int(f.get("number") or 1),
                task_protocol=f.get("task_protocol") or None,
                session_qc=_qc(f.get("qc")),
                users=tuple(user_names.get(str(u), u) for u in f.get("users") or ()),
                procedures=tuple(name("actions.proceduretype", p) for p in f.get("procedures") or ()),
                projects=tuple(name("subjects.project", p) for p in f.get("projects") or ()),
            ),
        )
    for pk, f in models["actions.weighing"].items():
        add(
            "weighing",
            pk,
            f,
            lambda pk, f: R.Weighing(
                weighing_uuid=R.parse_uuid(pk),
                subject_uuid=R.parse_uuid(f["subject"]),
                weighing_time=_required(R.parse_datetime(f["date_time"]), "date_time"),
                weight=float(f["weight"]),
            ),
        )
    for pk, f in models["actions.wateradministration"].items():
        add(
            "water_administration",
            pk,
            f,
            lambda pk, f: R.WaterAdministration(
                wateradmin_uuid=R.parse_uuid(pk),
                subject_uuid=R.parse_uuid(f["subject"]),
                administration_time=_required(R.parse_datetime(f["date_time"]), "date_time"),
                water_administered=_float(f.get("water_administered")),
                water_type=name("actions.watertype", f.get("water_type")) or "Water",
                adlib=bool(f.get("adlib", False)),
                session_uuid=R.parse_uuid(f.get("session")),
            ),
        )
    for pk, f in models["actions.waterrestriction"].items():
        add(
            "water_restriction",
            pk,
            f,
            lambda pk, f: R.WaterRestriction(
                restriction_uuid=R.parse_uuid(pk),
                subject_uuid=R.parse_uuid(f["subject"]),
                restriction_start_time=_required(R.parse_datetime(f["start_time"]), "start_time"),
                restriction_end_time=R.parse_datetime(f.get("end_time")),
                reference_weight=_float(f.get("reference_weight")),
            ),
        )
    for pk, f in models["experiments.probeinsertion"].items():
        add(
            "insertion",
            pk,
            f,
            lambda pk, f: R.ProbeInsertion(
                probe_insertion_uuid=R.parse_uuid(pk),
                session_uuid=R.parse_uuid(f["session"]),
                probe_name=f["name"],
                probe_model=name("experiments.probemodel", f.get("model"), "probe_model") or "",
            ),
        )
    for pk, f in models["experiments.trajectoryestimate"].items():
        add("trajectory", pk, f, lambda pk, f: trajectory(pk, f["probe_insertion"], f))
    snap.records = dict(out)
    return R.finalize(snap)


def trajectory(pk, insertion, f: dict) -> R.ProbeTrajectory:
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
        trajectory_uuid=R.parse_uuid(pk),
        probe_insertion_uuid=R.parse_uuid(insertion),
        provenance=R.PROVENANCE_NAME[rank],
        provenance_rank=rank,
        **{k: float(f[k]) for k in ("x", "y", "z", "depth", "theta", "phi")},
        roll=float(f.get("roll") or 0.0),
    )


def _record_id(kind: str, pk: str, fields: dict) -> str:
    """The id a bad record is reported and kept under: its name for labs, users, projects (the mirror's key)."""
    name = fields.get(NAME_FIELDS[kind]) if kind in NAME_FIELDS and isinstance(fields, dict) else None
    return name if isinstance(name, str) and name else pk


def _qc(value) -> str:
    if value is None:
        return "NOT_SET"
    if isinstance(value, str) and not value.isdigit():
        return value
    return R.SESSION_QC[int(value)]


def _float(value) -> float | None:
    return None if value is None else float(value)


def _required(value, field: str):
    if value is None:
        raise ValueError(f"{field} is empty")
    return value


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
