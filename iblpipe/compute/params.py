"""The content hash of every parameter table's row (``BehaviorParams``, ``FitParams``, ``GoodUnitRule``, ``PsthParams``)."""

from __future__ import annotations

import hashlib
import json
import uuid


def content_hash(params: dict) -> uuid.UUID:
    """md5 of the canonical JSON of a parameter dict (keys sorted, compact separators; key order does not matter)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return uuid.UUID(hashlib.md5(canonical.encode()).hexdigest())
