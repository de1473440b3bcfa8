"""Joins with parents read as lookups: a parent's columns fetched once per parent row, not once per joined row.

``(Trials & mouse) * Session * Subject`` repeats a session's protocol, times and lab, and its
subject's nickname, strain and dates, on each of its ~800 trials: the server formats and sends
them ~50,000 times, and that, not the join, is what makes the joined query slow (measured: the
join alone reads as fast as the trials; each repeated column adds ~10-15 % to it).

When the left operand of an inner join holds the right operand's whole primary key (``A * B``
with ``A`` determining ``B``: each row of ``A`` meets at most one row of ``B``), ``B`` is a
lookup. The columnar path then runs DataJoint's own SQL for the join with only the other
columns selected (same FROM, WHERE and join: the same rows, in the same order), reads each
parent restricted to the keys those rows hold, and fills the parent's columns in by key: the
same Arrow table the whole SELECT would give.

Only keys compared exactly by Python and by the server qualify (uuids and integers; not text,
which the server compares by collation). Anything else (a projection, aggregation or union of
the join, DISTINCT, a parent the columnar path cannot read, a key missing from the parent)
returns None and the whole SELECT runs. The SQL comes from ``djinternals.narrow_sql``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from iblpipe.schemas import djinternals

ATTRIBUTE = "_iblpipe_lookups"  # expression attribute holding its lookups (kept by DataJoint's copy on restrict)
MAX_KEYS = 1000  # (keys) a parent is read restricted to the keys the rows hold up to this many; whole above
EXACT_KEY = re.compile(r"^(tiny|small|medium|big)?int\b", re.IGNORECASE)  # SQL integer types: compared exactly


@dataclass(frozen=True)
class Lookup:
    """A parent of a join: its rows matched on ``on`` (its primary key) fill ``columns`` (what it adds)."""

    parent: object
    on: tuple[str, ...]
    columns: tuple[str, ...]


def _exact(attribute) -> bool:
    return bool(attribute.uuid or (not attribute.attribute_expression and EXACT_KEY.match(attribute.type or "")))


def joined(result, left, right, inner: bool):
    """``result`` (``left * right``) with the lookups it can be read with: ``left``'s, then ``right`` when
    ``left`` determines it. Returns ``result``."""
    lookups = tuple(getattr(left, ATTRIBUTE, ())) if inner else ()
    names = set(left.heading.names)
    on = tuple(right.primary_key)
    added = tuple(name for name in right.heading.names if name not in names)
    attributes = right.heading.attributes
    if inner and on and added and set(on) <= names and all(_exact(attributes[name]) for name in on):
        lookups += (Lookup(right, on, added),)
    elif not inner:
        lookups = ()
    setattr(result, ATTRIBUTE, lookups)
    return result


def forget(result):
    """``result`` without lookups (a projection, aggregation or subquery: its columns may not be the parents')."""
    if getattr(result, ATTRIBUTE, None):
        setattr(result, ATTRIBUTE, ())
    return result


def _key_codes(columns: list[pa.ChunkedArray]) -> tuple[np.ndarray, list[tuple]] | None:
    """Each row's code into the distinct key tuples (raw bytes or ints), and those tuples; None for a NULL key."""
    if len(columns) == 1:  # one key column: its dictionary is the distinct keys
        encoded = columns[0].combine_chunks().dictionary_encode()
        if encoded.null_count:
            return None
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return codes, [(value,) for value in encoded.dictionary.to_pylist()]
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    dictionaries, span = [], 1
    for column in columns:
        encoded = column.combine_chunks().dictionary_encode()
        span *= max(len(encoded.dictionary), 1)
        if encoded.null_count or span >= 2**62:  # a NULL key, or more key combinations than an int64 codes
            return None
        dictionaries.append(encoded.dictionary.to_pylist())
        combined = combined * len(dictionaries[-1]) + encoded.indices.to_numpy(zero_copy_only=False)
    distinct, codes = np.unique(combined, return_inverse=True)
    keys = []
    for code in distinct.tolist():
        parts = []
        for values in reversed(dictionaries):
            code, i = divmod(code, len(values))
            parts.append(values[i])
        keys.append(tuple(reversed(parts)))
    return codes, keys


def _literal(value) -> str:
    """A key value as an SQL literal: raw uuid bytes as a hex literal, an integer as itself."""
    return f"X'{value.hex()}'" if isinstance(value, bytes) else str(int(value))


def _restriction(lookup: Lookup, keys: list[tuple]) -> str:
    """``key IN (...)`` of ``keys`` as SQL: the server looks constants up by index; DataJoint's restriction by a
    list of dicts would build an OR of one condition a key (about 40 us each here, and slower for the server)."""
    quote = lookup.parent.connection.adapter.quote_identifier
    if len(lookup.on) == 1:
        return f"{quote(lookup.on[0])} IN ({','.join(_literal(key[0]) for key in keys)})"
    rows = ",".join(f"({','.join(map(_literal, key))})" for key in keys)
    return f"({','.join(map(quote, lookup.on))}) IN ({rows})"


def read(query, read_sql, read_parent) -> pa.Table | None:
    """The Arrow table of ``query``'s whole SELECT, built from the narrow SELECT and its parents; None where not.

    ``read_sql(sql)`` reads SQL into Arrow; ``read_parent(expression)`` reads an expression into Arrow or None.
    """
    lookups = getattr(query, ATTRIBUTE, ())
    if not lookups:
        return None
    attributes = query.heading.attributes
    names = list(attributes)
    added = [name for lookup in lookups for name in lookup.columns]
    filled = set(added)
    if len(filled) != len(added) or any(
        name not in attributes or attributes[name].attribute_expression for name in filled
    ):
        return None  # the heading is not the join's any more (its columns renamed or computed)
    narrow = [name for name in names if name not in filled]
    sql = djinternals.narrow_sql(query, narrow)
    if sql is None:
        return None
    table = read_sql(sql)
    if table.column_names != narrow or not table.num_rows:
        return None  # no rows: the whole SELECT, as cheap, gives the empty columns their types
    columns = {name: table.column(name) for name in narrow}
    for lookup in lookups:
        coded = _key_codes([columns[name] for name in lookup.on])
        if coded is None:
            return None
        codes, keys = coded
        parent = lookup.parent & _restriction(lookup, keys) if len(keys) <= MAX_KEYS else lookup.parent
        rows = read_parent(parent.proj(*lookup.columns))
        if rows is None or any(name not in rows.column_names for name in (*lookup.on, *lookup.columns)):
            return None
        where = {
            key: i for i, key in enumerate(zip(*(rows.column(name).to_pylist() for name in lookup.on), strict=True))
        }
        positions = [where.get(key) for key in keys]
        if any(position is None for position in positions):
            return None
        take = pa.array(np.asarray(positions, dtype=np.int64)[codes], type=pa.int64())
        for name in lookup.columns:
            columns[name] = rows.column(name).take(take)
    return pa.table([columns[name] for name in names], names=names)
