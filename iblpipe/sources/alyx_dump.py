"""Read an Alyx JSON dump (Django ``dumpdata``: ``[{"model", "pk", "fields"}]``) into records."""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path

from iblpipe.errors import SourceError
from iblpipe.sources import alyx_fields as A
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

    def labs_of(pk, f):
        return memberships[pk] | {lab_names.get(str(x), x) for x in _as_list(f.get("lab") or f.get("labs"))}

    builders = {
        "lab": A.lab,
        "user": lambda pk, f: A.lab_member(pk, f, labs=labs_of(pk, f)),
        "project": A.project,
        "subject": lambda pk, f: A.subject(
            pk,
            f,
            lab_name=lab_names.get(str(f["lab"]), f["lab"]),
            strain=name("subjects.strain", f.get("strain")),
            line=name("subjects.line", f.get("line")),
            responsible_user=user_names.get(str(f.get("responsible_user")), f.get("responsible_user")),
        ),
        "session": lambda pk, f: A.session(
            pk,
            f,
            subject_uuid=R.parse_uuid(f["subject"]),
            lab_name=lab_names.get(str(f["lab"]), f["lab"]),
            users=[user_names.get(str(u), u) for u in f.get("users") or ()],
            procedures=[name("actions.proceduretype", p) for p in f.get("procedures") or ()],
            projects=[name("subjects.project", p) for p in f.get("projects") or ()],
        ),
        "weighing": lambda pk, f: A.weighing(pk, f, subject_uuid=R.parse_uuid(f["subject"])),
        "water_administration": lambda pk, f: A.water_administration(
            pk, f, subject_uuid=R.parse_uuid(f["subject"]), water_type=name("actions.watertype", f.get("water_type"))
        ),
        "water_restriction": lambda pk, f: A.water_restriction(pk, f, subject_uuid=R.parse_uuid(f["subject"])),
        "insertion": lambda pk, f: A.insertion(
            pk, f, probe_model=name("experiments.probemodel", f.get("model"), "probe_model")
        ),
        "trajectory": lambda pk, f: A.trajectory(pk, f["probe_insertion"], f),
    }
    for kind, build in builders.items():
        for pk, f in models[MODEL_KINDS[kind]].items():
            add(kind, pk, f, build)
    snap.records = dict(out)
    return R.finalize(snap)


def _record_id(kind: str, pk: str, fields: dict) -> str:
    """The id a bad record is reported and kept under: its name for labs, users, projects (the mirror's key)."""
    name = fields.get(NAME_FIELDS[kind]) if kind in NAME_FIELDS and isinstance(fields, dict) else None
    return name if isinstance(name, str) and name else pk


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
