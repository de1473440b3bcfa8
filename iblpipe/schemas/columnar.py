"""Columnar fetch: DataJoint's own ``to_pandas`` / ``fetch(format='frame')``, read through ConnectorX into Arrow.

Every iblpipe table derives from a base class of this module (``Lookup``, ``Manual``,
``Imported``, ``Computed``, ``Part``), which carries :class:`ColumnarFetch`. Its
``to_pandas`` (and so ``fetch(format='frame')``, which calls it) runs the SQL DataJoint
generates for the expression (``make_sql``, with ``order_by``/``limit``/``offset`` applied
by DataJoint's own ``_apply_top``) through ConnectorX, and turns the Arrow table into
exactly the frame DataJoint builds from its decoded rows (:mod:`iblpipe.schemas.arrowframe`):
same columns, dtypes, primary-key index, NULLs, uuids.

Restrictions of a table keep its class (DataJoint copies it); the operators that make a
new expression (join, proj, aggr, union, subqueries) are wrapped so their result is a
columnar expression too. So ``(Trials & key) * Session * mouse`` takes the same path as
``Trials & key``: one path, no per-table side door.

A join whose left side holds a parent's whole primary key (``(Trials & key) * Session * Subject``)
reads that parent's columns once per parent row instead of once per joined row
(:mod:`iblpipe.schemas.lookups`): the same rows, maybe in another order (SQL gives none without
``order_by``, in DataJoint as here).

``to_arrow()`` (same arguments as ``to_pandas`` but ``squeeze``) gives the same rows as one
``pyarrow.Table`` without building a frame: primary key as ordinary columns, in heading order,
the types ConnectorX reads (FLOAT stays float32, DATETIME a timestamp) and uuids as Arrow's
``uuid`` type: e.g. every trial of the lab, for polars, DuckDB or a parquet file.

Fallback rule: where the columnar path cannot give DataJoint's frame it returns ``None``
and DataJoint's ``to_pandas`` runs instead (logged at debug, never an error):
connectorx missing, not MySQL/MariaDB, the connection is inside a transaction (another
connection would not see its rows: makes), query caching on, TLS requested, a blob,
json or codec attribute, an Arrow type with no exact rule (decimal, time, timestamp,
computed float32), or any error from ConnectorX.
"""

from __future__ import annotations

import inspect
import logging
from urllib.parse import quote

import datajoint as dj
import pandas as pd
import pyarrow as pa
from datajoint.expression import Aggregation, QueryExpression, Union

from iblpipe.errors import IblpipeError
from iblpipe.schemas import arrowframe, djinternals, lookups

logger = logging.getLogger(__name__)

_SERVERS: dict[tuple, tuple[bool, str | None]] = {}  # (host, port, user) -> (session encrypted, FLOAT text rule)


def datajoint_frame(query, order_by=None, limit=None, offset=None, squeeze=False) -> pd.DataFrame:
    """DataJoint's own ``to_pandas`` of ``query`` (the reference the columnar path must equal)."""
    return QueryExpression.to_pandas(query, order_by=order_by, limit=limit, offset=offset, squeeze=squeeze)


def _skip(reason: str, query) -> None:
    logger.debug("columnar fetch not used (%s); DataJoint's to_pandas reads %s", reason, type(query).__name__)


def _why_not(query) -> str | None:
    """Why the columnar path cannot serve ``query``, or None."""
    conn = query.connection
    if getattr(conn.adapter, "backend", "mysql") != "mysql":
        return f"backend {conn.adapter.backend}"
    if conn.in_transaction:
        return "inside a transaction"
    if djinternals.query_cache_on(conn):
        return "query caching is on"
    if conn.conn_info.get("ssl") and _server(conn)[0]:
        return "TLS connection (ConnectorX would not encrypt)"
    for name, attr in query.heading.attributes.items():
        if (attr.is_blob and not attr.uuid) or attr.json or attr.codec:
            return f"attribute {name} is {attr.type}"
    return None


def _uri(conn) -> str:
    info = conn.conn_info
    return (
        f"mysql://{quote(info['user'], safe='')}:{quote(info['passwd'] or '', safe='')}@{info['host']}:{info['port']}"
    )


def _server(conn) -> tuple[bool, str | None]:
    """Whether DataJoint's session is encrypted, and how the server prints FLOAT in its text protocol (what
    DataJoint's pymysql reads): '%.6g', 'shortest' or None (unknown: FLOAT columns fall back). Asked once per server."""
    server = (conn.conn_info["host"], conn.conn_info["port"], conn.conn_info["user"])
    if server not in _SERVERS:
        cipher = conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").fetchone()
        try:
            (text,) = conn.query(f"SELECT CAST({arrowframe.PROBE_VALUE} AS FLOAT)").fetchone()
        except dj.DataJointError:
            text = None
        _SERVERS[server] = (bool(cipher and cipher[1]), arrowframe.float_rule_from_probe(text))
    return _SERVERS[server]


def _read_arrow(query, order_by, limit, offset, convert, read_parent=None):
    """``convert(arrow table, expression)`` of the query's rows read through ConnectorX, or None (logged) where it
    cannot: the connection, the heading, ConnectorX or ``convert`` (``NoExactRule``) refused."""
    reason = _why_not(query)
    if reason is None:
        try:
            import connectorx
        except ImportError:
            reason = "connectorx is not installed"
    if reason is not None:
        _skip(reason, query)
        return None
    expr, sql = djinternals.select_sql(query, order_by, limit, offset)
    conn = expr.connection

    def read_sql(text):
        return connectorx.read_sql(_uri(conn), text, return_type="arrow")

    try:
        table = lookups.read(expr, read_sql, read_parent) if expr is query and read_parent else None
        return convert(read_sql(sql) if table is None else table, expr)
    except arrowframe.NoExactRule as err:
        _skip(str(err), query)
        return None
    except Exception as err:  # noqa: BLE001 -- any ConnectorX failure falls back; the URI never reaches the log
        message = str(err)
        if conn.conn_info["passwd"]:
            message = message.replace(conn.conn_info["passwd"], "***")
        _skip(f"{type(err).__name__}: {message[:200]}", query)
        return None


def _parent_arrow(parent) -> pa.Table | None:
    """A lookup parent's rows as ConnectorX reads them (no conversion), or None where the columnar path cannot."""
    return _read_arrow(parent, None, None, None, lambda table, expr: table, _parent_arrow)


def _parent_rows(parent) -> pa.Table | None:
    """A lookup parent's rows through DataJoint's open connection, as Arrow, or None where the columnar path cannot.

    A parent holds few rows (the keys the joined rows hold): a new ConnectorX connection would cost
    more than reading them (~13 ms a parent). pymysql's values are DataJoint's own (FLOAT as the
    server's text), so the frame's rules apply to them as they are.
    """
    reason = _why_not(parent)
    if reason is not None:
        _skip(reason, parent)
        return None
    names = list(parent.heading.names)
    rows = parent.cursor().fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.table([pa.array(list(values)) for values in columns], names=names)


def columnar_frame(query, order_by=None, limit=None, offset=None, *, empty_columns: bool = False, index: bool = True):
    """DataJoint's ``to_pandas`` frame of ``query`` read through ConnectorX, or None where it cannot (see module doc).

    ``empty_columns``: an empty result keeps its columns (DataJoint's own frame has none).
    ``index=False``: the primary key stays as columns (``reset_index()`` of that frame, never built).
    """

    def convert(table, expr):
        columns = arrowframe.column_kinds(expr.heading.attributes)
        keys = list(query.primary_key) or None
        return arrowframe.to_frame(
            table,
            columns,
            float_rule=_server(expr.connection)[1],
            index=keys if index else None,
            key_first=None if index else keys,
        )

    frame = _read_arrow(query, order_by, limit, offset, convert, _parent_rows)
    if frame is None:
        return None
    if not len(frame):
        return frame if empty_columns else pd.DataFrame([])
    return frame


def _uuid_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A binary(16) column as Arrow's ``uuid`` type (the same bytes, fixed width)."""
    column = column.cast(pa.binary(16))
    return pa.chunked_array([pa.ExtensionArray.from_storage(pa.uuid(), c) for c in column.chunks], type=pa.uuid())


def _arrow_uuids(table: pa.Table, expr) -> pa.Table:
    names = list(expr.heading.attributes)
    if table.column_names != names:
        raise arrowframe.NoExactRule(f"columns {table.column_names} are not the heading's {names}")
    for i, (name, attr) in enumerate(expr.heading.attributes.items()):
        if attr.uuid:
            table = table.set_column(i, name, _uuid_column(table.column(i)))
    return table


def columnar_arrow(query, order_by=None, limit=None, offset=None) -> pa.Table:
    """The rows of ``query`` as one ``pyarrow.Table`` (see the module doc); DataJoint's own fetch where the columnar
    path cannot serve (logged at debug), which a blob or json attribute refuses."""
    table = _read_arrow(query, order_by, limit, offset, _arrow_uuids, _parent_arrow)
    if table is not None:
        return table
    attributes = query.heading.attributes
    for name, attr in attributes.items():
        if attr.is_blob and not attr.uuid or attr.json or attr.codec:
            raise IblpipeError(f"to_arrow: attribute {name} is {attr.type}, which Arrow cannot hold; use to_pandas()")
    frame = datajoint_frame(query, order_by=order_by, limit=limit, offset=offset)
    frame = frame.reset_index() if query.primary_key and len(frame) else frame
    columns = {}
    for name, attr in attributes.items():
        values = frame[name] if name in frame else pd.Series([], dtype=object)
        if attr.uuid:
            storage = pa.array([None if v is None else v.bytes for v in values], type=pa.binary(16))
            columns[name] = pa.ExtensionArray.from_storage(pa.uuid(), storage)
        else:
            columns[name] = pa.array(values.astype(object).where(values.notna(), None), from_pandas=True)
    return pa.table(columns)


def _columnar(result):
    """``result`` as a columnar expression (its class swapped for the columnar twin that adds only methods)."""
    if isinstance(result, QueryExpression) and not isinstance(result, ColumnarFetch):
        twin = _TWINS.get(type(result))
        if twin is None:
            return result  # an expression class we do not know: DataJoint's to_pandas
        result.__class__ = twin
    return result


class ColumnarFetch:
    """Mixin: ``to_pandas`` (and ``fetch(format='frame')``) through the columnar path, kept by derived expressions."""

    def to_pandas(self, order_by=None, limit=None, offset=None, squeeze=False):
        frame = columnar_frame(self, order_by, limit, offset)
        if frame is None:
            return datajoint_frame(self, order_by=order_by, limit=limit, offset=offset, squeeze=squeeze)
        return frame

    def to_arrow(self, order_by=None, limit=None, offset=None) -> pa.Table:
        """The query's rows as one ``pyarrow.Table``, primary key as columns (see :mod:`iblpipe.schemas.columnar`)."""
        return columnar_arrow(self, order_by, limit, offset)

    def restrict(self, restriction, semantic_check=True):
        return _columnar(super().restrict(restriction, semantic_check=semantic_check))

    def join(self, other, semantic_check=True, left=False, allow_nullable_pk=False):
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        result = super().join(other, semantic_check=semantic_check, left=left, allow_nullable_pk=allow_nullable_pk)
        if not isinstance(other, QueryExpression):
            return _columnar(result)
        return lookups.joined(_columnar(result), self, other, inner=not left)

    def proj(self, *attributes, **named_attributes):
        return lookups.forget(_columnar(super().proj(*attributes, **named_attributes)))

    def aggr(self, group, *attributes, exclude_nonmatching=False, **named_attributes):
        return lookups.forget(
            _columnar(super().aggr(group, *attributes, exclude_nonmatching=exclude_nonmatching, **named_attributes))
        )

    def extend(self, other, semantic_check=True):
        return lookups.forget(_columnar(super().extend(other, semantic_check=semantic_check)))

    def make_subquery(self):
        return lookups.forget(_columnar(super().make_subquery()))

    def __add__(self, other):
        return lookups.forget(_columnar(super().__add__(other)))


class ColumnarQuery(ColumnarFetch, QueryExpression):
    """A join, projection or subquery of iblpipe tables."""


class ColumnarAggregation(ColumnarFetch, Aggregation):
    """An aggregation of iblpipe tables."""


class ColumnarUnion(ColumnarFetch, Union):
    """A union of iblpipe tables."""


_TWINS = {QueryExpression: ColumnarQuery, Aggregation: ColumnarAggregation, Union: ColumnarUnion}


class Lookup(ColumnarFetch, dj.Lookup):
    """``dj.Lookup`` with the columnar fetch."""


class Manual(ColumnarFetch, dj.Manual):
    """``dj.Manual`` with the columnar fetch."""


class FencedMake:
    """Auto-populated tables: a make's transaction enters the ingest fence first (``iblpipe.schemas.fence``).

    A subclass's plain ``make`` and its ``make_fetch`` (which DataJoint runs again inside the
    transaction of a three-part make) are wrapped when the class is defined.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from iblpipe.schemas.fence import fenced

        for name in ("make", "make_fetch"):
            if name in cls.__dict__:
                setattr(cls, name, fenced(cls.__dict__[name]))


class Imported(FencedMake, ColumnarFetch, dj.Imported):
    """``dj.Imported`` with the columnar fetch and the ingest fence."""


class Computed(FencedMake, ColumnarFetch, dj.Computed):
    """``dj.Computed`` with the columnar fetch and the ingest fence."""


class Part(ColumnarFetch, dj.Part):
    """``dj.Part`` with the columnar fetch."""
