"""Checks of metadata rows against the columns they go into, before the mirror writes anything.

A value the server would refuse (a 10 MB address in a ``varchar(255)``, a NaN weight in a
NOT NULL ``float``, an ``int16`` out of range) would abort the whole ingest with a server error
naming neither the record nor the field. Checked here first, the record is skipped and reported
(``records.finalize(check=...)``) and the rest of the run goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
from collections.abc import Callable

logger = logging.getLogger(__name__)

FLOAT32_MAX = 3.4028234e38  # largest finite float32 (MySQL FLOAT)
MIN_YEAR, MAX_YEAR = 1000, 9999  # (year) range of MySQL/MariaDB DATE and DATETIME
FUTURE_MARGIN = dt.timedelta(days=1)  # (days) dates later than now plus this are flagged as in the future
INT_RANGES = {  # signed ranges of the integer column types
    "tinyint": (-(2**7), 2**7 - 1),
    "smallint": (-(2**15), 2**15 - 1),
    "mediumint": (-(2**23), 2**23 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_CHAR = re.compile(r"(?:var)?char\((\d+)\)")
_ENUM = re.compile(r"enum\((.*)\)", re.IGNORECASE)


def _column_check(attr) -> Callable[[object], str | None]:
    """A function returning why ``value`` does not fit column ``attr`` (a DataJoint heading attribute), or None."""
    sql = str(attr.type).lower()
    nullable = attr.nullable or attr.default is not None
    char = _CHAR.fullmatch(sql)
    max_chars = int(char.group(1)) if char else None
    enum = _ENUM.fullmatch(str(attr.type))
    options = [o.strip().strip("'") for o in enum.group(1).split(",")] if enum else None
    lowered = {o.lower() for o in options} if options else None  # the server compares enum values ignoring case
    base = sql.split("(")[0].split()[0] if sql else ""
    int_range = INT_RANGES.get(base)
    if int_range and "unsigned" in sql:
        int_range = (0, 2 * int_range[1] + 1)

    def fits(value) -> str | None:
        if value is None:
            return None if nullable else "is empty and the column requires a value"
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"is {value}, not a number the column can hold" + ("" if nullable else " (and it requires one)")
            if base == "float" and abs(value) > FLOAT32_MAX:
                return f"is {value}, beyond the float32 range of the column"
        elif isinstance(value, str):
            if max_chars is not None and len(value) > max_chars:
                return f"has {len(value)} characters, the column holds at most {max_chars}"
        elif isinstance(value, int) and int_range and not int_range[0] <= int(value) <= int_range[1]:
            return f"is {value}, outside the column range {int_range[0]}..{int_range[1]}"
        elif isinstance(value, dt.date) and not MIN_YEAR <= value.year <= MAX_YEAR:
            return f"is {value}, outside the years {MIN_YEAR}..{MAX_YEAR} the column holds"
        if lowered is not None and str(value).lower() not in lowered:
            return f"is {value!r}, not one of {', '.join(options)}"
        return None

    return fits


class RowChecker:
    """Checks rows against tables' columns (the checks of each table are built once)."""

    def __init__(self) -> None:
        self._checks: dict[type, list[tuple[str, Callable]]] = {}

    def problems(self, table, row: dict) -> list[str]:
        """``field value problem`` for each value of ``row`` that ``table`` (a table class) would refuse."""
        checks = self._checks.get(table)  # keyed by the class: its name is computed anew on each access
        if checks is None:
            checks = self._checks[table] = [(a.name, _column_check(a)) for a in table.heading.attributes.values()]
        out = []
        for field, fits in checks:
            if field in row:
                problem = fits(row[field])
                if problem:
                    out.append(f"{field} {problem}")
        return out


def future_dates(records: dict[str, list], now: dt.datetime | None = None) -> list[tuple[str, object, str]]:
    """``(kind, record, message)`` for each date or time field later than ``now`` + ``FUTURE_MARGIN``.

    Such records are still mirrored (Alyx may hold planned sessions): the run warns, naming the field.
    """
    now = now or dt.datetime.now()
    limit = now + FUTURE_MARGIN
    out = []
    for kind, recs in records.items():
        for rec in recs:
            for f in dataclasses.fields(rec):
                value = getattr(rec, f.name)
                if isinstance(value, dt.datetime):
                    late = value > limit
                elif isinstance(value, dt.date):
                    late = value > limit.date()
                else:
                    continue
                if late:
                    out.append((kind, rec, f"{f.name} {value} is in the future"))
    return out
