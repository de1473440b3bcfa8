"""An Arrow table (ConnectorX's result) as the frame DataJoint's ``to_pandas`` builds from the same rows.

DataJoint 2.3 builds its frame as ``pandas.DataFrame(list_of_row_dicts)`` of pymysql's
values (uuids decoded), so each column's dtype is what pandas infers from Python values:

==================  ================================  ========================  ==============
Arrow column        no NULL                           some NULL                 all NULL
==================  ================================  ========================  ==============
int8..int64         int64                             float64, NaN              object, None
float64             float64                           float64, NaN              object, None
float32 (FLOAT)     float64 of the server's text      float64, NaN              object, None
string              object str                        object, None              object, None
binary (uuid)       object uuid.UUID                  object, None              object, None
timestamp (DATETIME) datetime64[ns]                   datetime64[ns], NaT       object, None
date32              object datetime.date              object, None              object, None
==================  ================================  ========================  ==============

pymysql reads FLOAT columns as the text the server prints (MariaDB: 6 significant digits,
``'%.6g'``); :func:`float_text_values` gives the same doubles from the float32 values.
Anything else raises :class:`NoExactRule` (the caller falls back to DataJoint).
No datajoint import: this is plain pyarrow/numpy/pandas.
"""

from __future__ import annotations

import gc
import uuid
from collections import deque
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FLOAT_DIGITS = 6  # (significant digits) MariaDB prints FLOAT in its text protocol like '%.6g'
PROBE_VALUE = 0.123456789  # the value the server is asked to print as FLOAT to learn its rule
TIE_MARGIN = 1e-6  # (units of the last kept digit) closer than this to a rounding tie: format the value in Python
MAX_EXACT_POWER = 22  # 10**22 is the largest power of ten a float64 holds exactly
UUID_BYTES = 16  # (bytes) a uuid as DataJoint stores it, BINARY(16)


class NoExactRule(ValueError):
    """A column whose DataJoint value this module cannot reproduce exactly."""


def float_rule_from_probe(text) -> str | None:
    """The server's FLOAT printing rule from how it printed ``CAST(PROBE_VALUE AS FLOAT)``."""
    if text is None:
        return None
    value = float(text)
    if value == float(f"{np.float32(PROBE_VALUE):.{FLOAT_DIGITS}g}"):
        return "%.6g"
    if value == float(str(np.float32(PROBE_VALUE))):
        return "shortest"
    return None


def float_text_values(values: np.ndarray, rule: str) -> np.ndarray:
    """float32 ``values`` as the doubles a client parses from the server's text (NaN stays NaN).

    ``rule`` '%.6g': rounded to 6 significant digits, vectorised; values within
    ``TIE_MARGIN`` of a rounding tie, or outside 1e-16..1e16, are formatted one by one.
    ``rule`` 'shortest': the shortest decimal that reads back as the same float32.
    """
    single = np.asarray(values, dtype=np.float32)
    if rule == "shortest":
        return single.astype(str).astype(np.float64)
    if rule != "%.6g":
        raise NoExactRule(f"no rule for the server's FLOAT text ({rule})")
    x = single.astype(np.float64)
    out = x.copy()
    todo = np.isfinite(x) & (x != 0)
    magnitude = np.abs(x, where=todo, out=np.ones_like(x))
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    exponent[magnitude >= 10.0 ** (exponent + 1)] += 1  # log10 rounding near powers of ten
    exponent[magnitude < 10.0**exponent] -= 1
    digits = FLOAT_DIGITS - 1 - exponent  # decimals to keep; scale = 10**digits
    slow = todo & (np.abs(digits) > MAX_EXACT_POWER - FLOAT_DIGITS)
    fast = todo & ~slow
    up = fast & (digits >= 0)
    down = fast & (digits < 0)
    scaled = np.empty_like(x)
    scaled[up] = x[up] * 10.0 ** digits[up]
    scaled[down] = x[down] / 10.0 ** (-digits[down])
    frac = np.abs(scaled - np.trunc(scaled))
    slow |= fast & (np.abs(frac - 0.5) < TIE_MARGIN)
    rounded = np.round(scaled)
    ok_up, ok_down = up & ~slow, down & ~slow
    out[ok_up] = rounded[ok_up] / 10.0 ** digits[ok_up]
    out[ok_down] = rounded[ok_down] * 10.0 ** (-digits[ok_down])
    for i in np.flatnonzero(slow):
        out[i] = float(f"{single[i]:.{FLOAT_DIGITS}g}")
    return out


def column_kinds(attributes) -> dict[str, str]:
    """Column name -> 'uuid', 'float' (a FLOAT column), 'datetime', 'date', 'expression' (computed) or 'plain'."""
    kinds = {}
    for name, attr in attributes.items():
        sql_type = (attr.type or "").lower()
        if attr.uuid:
            kinds[name] = "uuid"
        elif sql_type == "expression":
            kinds[name] = "expression"
        elif sql_type.startswith("float"):
            kinds[name] = "float"
        elif sql_type.startswith("datetime"):
            kinds[name] = "datetime"
        elif sql_type.startswith("timestamp"):
            kinds[name] = "timestamp"
        else:
            kinds[name] = "plain"
    return kinds


def _distinct(column: pa.ChunkedArray, decode, *, ordered: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``column``'s distinct values as Python objects (``decode(dictionary)``: each made once) and each row's code
    into them (-1 for NULL); ``ordered``: the distinct values sorted in Arrow (bytes order: how UUIDs compare)."""
    encoded = column.combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if ordered:
        order = pc.array_sort_indices(dictionary)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order.to_numpy()] = np.arange(len(order))
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
        dictionary = dictionary.take(order)
    distinct = np.empty(len(dictionary), dtype=object)
    distinct[:] = decode(dictionary)
    return distinct, codes


def _values(distinct: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """One object a row (None for code -1), shared by the rows of one distinct value."""
    values = np.full(len(codes), None, dtype=object)
    present = codes >= 0
    values[present] = distinct[codes[present]]
    return values


def _uuid_objects(dictionary: pa.Array) -> list[uuid.UUID]:
    """``uuid.UUID(bytes=b)`` of each 16-byte value, built as the constructor builds it minus its argument checks.

    The loops run in C (``map``), and the cyclic garbage collector is paused meanwhile: each new
    object counts towards a collection, and in a process holding pandas and DataJoint a full one
    can cost more than making the uuids (the 20 k per-unit uuids of ``ephys.units``: 42 ms before,
    21 ms with both).
    """
    lengths = pc.min_max(pc.binary_length(dictionary))
    if len(dictionary) and (lengths["min"].as_py(), lengths["max"].as_py()) != (UUID_BYTES, UUID_BYTES):
        raise NoExactRule(f"a uuid of other than {UUID_BYTES} bytes")
    values = dictionary.to_pylist()
    cls, n = uuid.UUID, len(values)
    paused = gc.isenabled()
    gc.disable()
    try:
        made = list(map(object.__new__, repeat(cls, n)))
        deque(map(cls.int.__set__, made, map(int.from_bytes, values, repeat("big", n))), maxlen=0)
        deque(map(cls.is_safe.__set__, made, repeat(uuid.SafeUUID.unknown, n)), maxlen=0)
    finally:
        if paused:
            gc.enable()
    return made


def _uuids(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uuid.UUID objects (None for NULL), and the sorted distinct uuids with each row's code (-1 for NULL)."""
    # UUIDs compare by their 128-bit integer, i.e. by their 16 big-endian bytes: sorted in Arrow, not in Python
    levels, codes = _distinct(column, _uuid_objects, ordered=True)
    return _values(levels, codes), levels, codes


def _index(data: dict, names: list[str], uuid_codes: dict) -> pd.MultiIndex | None:
    """The MultiIndex ``set_index(names)`` builds, from the uuid columns' codes (no hashing of uuid objects); None
    where it cannot (one name, NULL keys)."""
    if len(names) < 2 or any((uuid_codes[n][1] < 0).any() for n in names if n in uuid_codes):
        return None
    levels, codes = [], []
    for name in names:
        values = data[name]
        if name in uuid_codes:
            level, code = uuid_codes[name]
        else:
            code, level = pd.factorize(values, sort=True)
            if (code < 0).any():
                return None
        levels.append(pd.Index(level, name=name, dtype=values.dtype))
        codes.append(code)
    return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)


def _decoded_once(column: pa.ChunkedArray) -> np.ndarray:
    """Python objects of ``column`` (None for NULL), each distinct value made once.

    Repeated values (a session's protocol on each of its trials) then cost one object, not one a row.
    """
    return _values(*_distinct(column, lambda d: d.to_pylist()))


def _column(name: str, column: pa.ChunkedArray, kind: str, float_rule: str | None, uuid_codes: dict | None):
    """One column as DataJoint's frame has it (see the module table); a uuid column leaves its codes in ``uuid_codes``
    (given for a column of the index, whose levels are sorted; None: the uuids are only made, once each)."""
    kind_type = column.type
    n, nulls = len(column), column.null_count
    if n and nulls == n:
        return np.full(n, None, dtype=object)
    if kind == "uuid":
        if not (pa.types.is_binary(kind_type) or pa.types.is_large_binary(kind_type)):
            raise NoExactRule(f"{name}: uuid read as {kind_type}")
        if uuid_codes is None:
            return _values(*_distinct(column, _uuid_objects))
        values, levels, codes = _uuids(column)
        uuid_codes[name] = (levels, codes)
        return values
    if kind == "timestamp":
        raise NoExactRule(f"{name}: TIMESTAMP (session time zone)")
    if pa.types.is_integer(kind_type):
        if pa.types.is_uint64(kind_type) and n and pa.compute.max(column).as_py() >= 2**63:
            raise NoExactRule(f"{name}: unsigned 64-bit values above int64")
        if nulls:
            return column.cast(pa.float64()).to_numpy()
        return column.to_numpy().astype(np.int64, copy=False)
    if pa.types.is_float64(kind_type):
        return column.to_numpy()
    if pa.types.is_float32(kind_type):
        if kind != "float" or float_rule is None:
            raise NoExactRule(f"{name}: float32 {kind} without a known text rule")
        return float_text_values(column.to_numpy(), float_rule)
    if pa.types.is_string(kind_type) or pa.types.is_large_string(kind_type) or pa.types.is_date32(kind_type):
        return _decoded_once(column)  # str / datetime.date objects
    if pa.types.is_timestamp(kind_type) and kind_type.tz is None and kind in ("datetime", "expression", "plain"):
        return column.cast(pa.timestamp("ns")).to_numpy()  # beyond datetime64[ns] (year 2262): ArrowInvalid
    raise NoExactRule(f"{name}: no exact rule for Arrow type {kind_type}")


def to_frame(
    table: pa.Table,
    kinds: dict[str, str],
    *,
    float_rule: str | None = None,
    uuid_codes: dict | None = None,
    index: list[str] | None = None,
    key_first: list[str] | None = None,
) -> pd.DataFrame:
    """The Arrow ``table`` as DataJoint's frame; ``kinds`` from :func:`column_kinds`, in heading order.

    ``index``: the primary key, set as ``set_index(index)`` would (built once, without copying the
    columns again); an empty table keeps its columns and gets no index. ``key_first``: no index, these
    columns first (as ``reset_index()`` of the indexed frame orders them).
    ``uuid_codes``, when given, receives ``{column: (sorted distinct uuids, row codes)}`` of the uuid columns
    of ``index``.
    """
    names = list(kinds)
    if table.column_names != names:
        raise NoExactRule(f"columns {table.column_names} are not the heading's {names}")
    codes = {} if uuid_codes is None else uuid_codes
    keyed = set(index or ())
    data = {
        name: _column(name, table.column(name), kinds[name], float_rule, codes if name in keyed else None)
        for name in names
    }
    if key_first and table.num_rows:
        names = [*key_first, *(name for name in names if name not in key_first)]
    if not index or not table.num_rows:
        return pd.DataFrame(data, columns=names, copy=False)
    built = _index(data, index, codes)
    if built is None:
        return pd.DataFrame(data, columns=names, copy=False).set_index(index)
    rest = [name for name in names if name not in index]
    return pd.DataFrame({name: data[name] for name in rest}, index=built, columns=rest, copy=False)
