"""What an ingest must leave alone: mirrored rows of records the source holds but cannot give us.

A record present in the source but unreadable (an unparsable date, an unknown subject, a
missing field, a value its column cannot hold, a primary key used twice) is not "gone from
the source": its mirrored row is *protected*, neither updated nor deleted. A record that is
really gone is not deleted either while its deletion would cascade into a protected row (a
subject whose unreadable session is still in the source): that deletion is *held* and reported.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import datajoint as dj

from iblpipe.sources import records as R

logger = logging.getLogger(__name__)

# Kinds keyed by a name: the column holding the Alyx uuid, which a bad record may be reported under.
UUID_COLUMNS = {"lab": "lab_uuid", "user": "user_uuid", "project": "project_uuid"}


@dataclass(frozen=True)
class Held:
    """A record gone from the source whose deletion is held: it would delete a protected row."""

    kind: str
    record_id: str
    reason: str


def bad_ids(snap: R.Snapshot) -> dict[str, set[str]]:
    """Kind -> ids of the records the source holds but could not give (``snap.bad``)."""
    out: dict[str, set[str]] = {}
    for bad in snap.bad:
        out.setdefault(bad.kind, set()).add(bad.record_id)
    return out


def protected(kind: str, table, ids: set[str]) -> set[str]:
    """Keys of mirrored rows of ``kind`` whose records are bad in the source (matched by key or Alyx uuid)."""
    if not ids:
        return set()
    _, key_attr = R.KINDS[kind]
    column = UUID_COLUMNS.get(kind)
    if column is None:
        keys = table().to_arrays(key_attr)
        return {str(k) for k in keys if str(k) in ids}
    keys, uuids = table().to_arrays(key_attr, column)
    return {str(k) for k, u in zip(keys, uuids, strict=True) if str(k) in ids or (u is not None and str(u) in ids)}


def typed_key(kind: str, key: str) -> dict:
    """The restriction selecting the mirrored row of record ``key``."""
    _, key_attr = R.KINDS[kind]
    return {key_attr: uuid.UUID(key) if key_attr.endswith("_uuid") else key}


def hold_deletes(deletes: dict[str, list], keep: dict[str, set[str]], tables: dict) -> list[Held]:
    """Take out of ``deletes`` (kind -> keys, changed in place) every key whose cascade reaches a protected row.

    ``keep`` is kind -> protected keys; ``tables`` kind -> mirrored table class.
    """
    guarded = {tables[kind].full_table_name: (kind, keys) for kind, keys in keep.items() if keys}
    if not guarded:
        return []
    held = []
    for kind, keys in deletes.items():
        if not keys:
            continue
        table = tables[kind]
        if not _reaches(table & [typed_key(kind, k) for k in keys], guarded):
            continue
        for key in list(keys):  # rare: find which of them, one by one
            hit = _reaches(table & typed_key(kind, key), guarded)
            if hit:
                keys.remove(key)
                held.append(Held(kind, key, f"gone from the source, but kept: {hit} is still there (unreadable)"))
    for h in held:
        logger.warning("held deletion of %s %s: %s", h.kind, h.record_id, h.reason)
    return held


def _reaches(expr, guarded: dict) -> str | None:
    """``kind key`` of a protected row the cascading delete of ``expr`` would take with it, or None."""
    for ft in dj.Diagram.cascade(expr):
        if ft.full_table_name in guarded:
            kind, keys = guarded[ft.full_table_name]
            _, key_attr = R.KINDS[kind]
            hits = (ft & [typed_key(kind, k) for k in keys]).to_arrays(key_attr)
            if len(hits):
                return f"{kind} {hits[0]}"
    return None
