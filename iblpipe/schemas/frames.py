"""A fast ``to_pandas`` for plain-column queries (listings of many thousand rows).

DataJoint 2.3's ``to_pandas`` decodes every value through the heading (about
0.1 ms per row of 30 columns here); for queries without blobs, json or codecs
this builds the same frame from the raw cursor, decoding only uuid columns.
"""

from __future__ import annotations

import uuid

import pandas as pd


def to_frame(query, *, index: bool = True) -> pd.DataFrame:
    """``query.to_pandas()`` without per-value decoding; falls back to it for blob, json or codec columns."""
    attributes = query.heading.attributes
    names = list(attributes)
    if any(a.is_blob or a.json or a.codec for a in attributes.values()):
        return query.to_pandas()
    frame = pd.DataFrame.from_records(list(query.cursor().fetchall()), columns=names)
    for name, attribute in attributes.items():
        if attribute.uuid:
            frame[name] = [None if b is None else uuid.UUID(bytes=bytes(b)) for b in frame[name]]
    primary = [name for name in names if attributes[name].in_key]
    if index and primary and len(frame):
        frame = frame.set_index(primary)
    return frame
