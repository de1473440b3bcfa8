"""Stable identifiers shared by the demo generator and every source.

A lab with only ALF files has no Alyx uuids: labs and subjects get name-based
uuid5s, sessions take their ONE cache eid. The demo writes the same uuids in its
Alyx dump, so the three sources describe the same lab with the same keys.
"""

from __future__ import annotations

import uuid

IBLPIPE_NAMESPACE = uuid.UUID("5d1c7a52-8f7e-4c1f-9a51-2b0e6f4c9e11")


def lab_uuid(lab: str) -> uuid.UUID:
    """uuid of a lab known only by name."""
    return uuid.uuid5(IBLPIPE_NAMESPACE, f"lab:{lab}")


def subject_uuid(lab: str, nickname: str) -> uuid.UUID:
    """uuid of a subject known only by lab and nickname."""
    return uuid.uuid5(IBLPIPE_NAMESPACE, f"subject:{lab}/{nickname}")


def session_uuid(lab: str, nickname: str, date: str, number: int) -> uuid.UUID:
    """Deterministic eid of the session folder ``<lab>/Subjects/<nickname>/<date>/<NNN>``.

    ``one.alf.cache.make_parquet_db(hash_ids=True)`` seeds its uuids with
    ``uuid1()`` (different every run); the demo uses these instead so its
    cache, dump and ground truth are reproducible.
    """
    return uuid.uuid5(IBLPIPE_NAMESPACE, f"session:{lab}/Subjects/{nickname}/{date}/{int(number):03d}")


def name_uuid(kind: str, *parts: object) -> uuid.UUID:
    """uuid of any other record known only by its natural key (e.g. a demo weighing)."""
    return uuid.uuid5(IBLPIPE_NAMESPACE, f"{kind}:" + "/".join(str(p) for p in parts))
