"""``to_frame(query, index=...)``: the frame ``to_pandas`` gives, for code that wants its columns even when empty;
``null_records`` / ``null_value``: the one NaN-to-NULL conversion of what is inserted.

It takes the columnar path (``columnar.columnar_frame``: ConnectorX over DataJoint's SQL)
like every ``to_pandas`` of an iblpipe table. Where that path does not serve (inside a
make's transaction, blob/json columns, ...) it reads DataJoint's raw cursor and decodes
only uuid columns (DataJoint's ``to_pandas`` decodes every value: about 0.1 ms per row
of 30 columns), falling back to ``to_pandas`` itself for blob, json or codec columns.
"""

from __future__ import annotations

import uuid

import pandas as pd

from iblpipe.schemas.columnar import columnar_frame, datajoint_frame


def to_frame(query, *, index: bool = True) -> pd.DataFrame:
    """``query.to_pandas()`` that keeps its columns when empty; ``index=False`` leaves the primary key as columns."""
    frame = columnar_frame(query, empty_columns=True, index=index)
    if frame is not None:
        return frame
    attributes = query.heading.attributes
    names = list(attributes)
    if any(a.is_blob or a.json or a.codec for a in attributes.values()):
        frame = datajoint_frame(query)
        return frame if index or not len(frame) or not query.primary_key else frame.reset_index()
    frame = pd.DataFrame.from_records(list(query.cursor().fetchall()), columns=names)
    for name, attribute in attributes.items():
        if attribute.uuid:
            frame[name] = [None if b is None else uuid.UUID(bytes=bytes(b)) for b in frame[name]]
    primary = [name for name in names if attributes[name].in_key]
    if index and primary and len(frame):
        frame = frame.set_index(primary)
    return frame


def null_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of a frame as dicts for ``insert``, NaN/NaT/None as None (SQL NULL): the one NaN-to-NULL conversion."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def null_value(value):
    """One value for ``insert``, NaN/NaT/None as None (SQL NULL): :func:`null_records`' rule for a scalar."""
    return None if pd.isna(value) else value
