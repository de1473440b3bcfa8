"""Every use of a DataJoint private or naming convention, in one place (pinned to DataJoint 2.3.5).

iblpipe uses DataJoint's public API everywhere else. What it needs beyond that is here, so a
DataJoint upgrade breaks this module, loudly, and nothing else: ``tests/integration/test_djinternals.py``
checks :data:`PINNED_VERSION` and exercises every function against a real server.

- :func:`populate_one`: ``Table._populate1``, the per-key step of ``populate(reserve_jobs=True)``;
- :func:`jobs_if_declared`: ``datajoint.jobs.Job``, a table's jobs table without creating it;
- :func:`is_auto_populated`, :func:`master_of`, :func:`schema_table_label`: DataJoint's table
  naming (``_name`` for Imported/Computed, ``__name`` for Computed and ``master__part`` for parts);
- :func:`jobs_table_name`: DataJoint's ``~~name`` jobs table of an auto-populated table;
- :data:`LINEAGE_TABLE`, :func:`lineage_origin`: DataJoint 2's per-schema lineage table and its
  ``database.table.attribute`` values;
- :func:`unbind`: a schema object made activatable again (DataJoint refuses a second ``activate``);
- :func:`set_port`: the port a connection reconnects to (``Connection.conn_info``);
- :func:`from_where_sql`: the FROM and WHERE clauses of a query (``from_clause``, ``where_clause``);
- :data:`LOST_CONNECTION_ERROR`, :data:`FETCH_CHANGED`: the class name of DataJoint's lost-connection
  error and the message of a three-part make whose inputs changed, matched by the worker's error policy
  (``populate/transient.py``, ``populate/vanished.py``, ``failures.py``), which also read stored job
  error messages, where only the text survives;
- :func:`declared_tables`: ``Schema.declare_list``, the tables of a schema module in declaration order;
- :func:`select_sql`, :func:`narrow_sql`, :func:`query_cache_on`: the SQL DataJoint runs for a fetch
  (``_apply_top``, ``make_sql``, ``_distinct``) and its query cache, for the columnar path (``schemas/columnar.py``, whose result
  classes also subclass ``datajoint.expression``'s; ``test_columnar.py`` compares its frames with
  DataJoint's own).
"""

from __future__ import annotations

PINNED_VERSION = "2.3.5"  # the DataJoint release these conventions were read from
LINEAGE_TABLE = "~lineage"  # DataJoint 2's per-schema lineage table: (table_name, attribute_name, lineage)
AUTO_PREFIX = "_"  # Imported tables start with one underscore, Computed with two; Parts keep their master's
PART_SEPARATOR = "__"  # master__part
JOBS_PREFIX = "~~"  # a jobs table is ~~<table name without its leading underscores>
LOST_CONNECTION_ERROR = "LostConnectionError"  # datajoint.errors' class of a connection that dropped
FETCH_CHANGED = "The `make_fetch` data has changed"  # DataJoint's three-part make saw its inputs change


def populate_one(table, key: dict):
    """Make one reserved key as ``populate(reserve_jobs=True, suppress_errors=True)`` would.

    Returns DataJoint's per-key status: True when made, False when skipped (already made or
    reserved elsewhere), or ``(key, error)`` when the make raised.
    """
    return table._populate1(key, table.jobs, suppress_errors=True, return_exception_objects=True)


def jobs_if_declared(table):
    """The table's jobs table, or None when no worker has created it yet (never creates one)."""
    from datajoint.jobs import Job

    jobs = Job(table)
    return jobs if jobs.is_declared else None


def jobs_table_name(table_name: str) -> str:
    """The name DataJoint gives the jobs table of the auto-populated table ``table_name`` (``_trial_set``)."""
    return JOBS_PREFIX + table_name.lstrip(AUTO_PREFIX)


def lineage_origin(database: str, table_name: str) -> str:
    """The start of the lineage values of attributes first declared in ``database``.``table_name`` (unquoted)."""
    return f"{database}.{table_name}."


def unbind(schema) -> None:
    """Forget the database a schema object was activated for, so ``activate`` binds it to another one."""
    schema.database = None


def set_port(conn, port: int) -> None:
    """Make DataJoint's connection ``conn`` reconnect to ``port`` (a restarted embedded server)."""
    conn.conn_info["port"] = port


def from_where_sql(query) -> str:
    """The FROM and WHERE clauses DataJoint builds for ``query``: ``SELECT ... FROM <this>``."""
    return f"{query.from_clause()}{query.where_clause()}"


def _split(full_table_name: str) -> tuple[str, str]:
    db, name = (s.strip("`") for s in full_table_name.split("."))
    return db, name


def is_auto_populated(table_name: str) -> bool:
    """Imported and Computed tables (and their Parts) have names starting with an underscore."""
    return table_name.strip("`").startswith(AUTO_PREFIX)


def master_of(full_table_name: str) -> str | None:
    """The full name of a Part table's master, or None for a master table."""
    db, name = _split(full_table_name)
    bare = name.lstrip(AUTO_PREFIX)
    if PART_SEPARATOR not in bare:
        return None
    return f"`{db}`.`{name[: len(name) - len(bare)] + bare.split(PART_SEPARATOR)[0]}`"


def schema_table_label(full_table_name: str) -> str:
    """``<schema module>.<table name>`` (``behavior._trial_set``) for reports: the database name's last word."""
    db, name = _split(full_table_name)
    return f"{db.rsplit('_', 1)[-1]}.{name}"


def declared_tables(schema) -> list[type]:
    """The master table classes decorated with an (at the time unbound) schema, in decoration order.

    That order is a dependency order: a table is decorated after the tables its definition names.
    """
    return [cls for cls, _context in schema.declare_list]


def select_sql(query, order_by=None, limit=None, offset=None) -> tuple:
    """``(expression, sql)``: the expression with ``order_by``/``limit``/``offset`` applied as DataJoint's fetch
    applies them, and the SELECT it runs (pymysql runs DataJoint's SQL as ``sql % ()``: '%%' becomes '%')."""
    expr = query._apply_top(order_by, limit, offset)
    return expr, expr.make_sql() % ()


def narrow_sql(expr, fields: list[str]) -> str | None:
    """The SELECT DataJoint runs for ``expr`` with only ``fields`` selected (same FROM, WHERE and order), as
    ``select_sql`` gives it; None for a DISTINCT select, whose rows fewer fields would change."""
    if expr._distinct:
        return None
    return expr.make_sql(fields) % ()


def query_cache_on(conn) -> bool:
    """Whether DataJoint's query cache is on for this connection (cached results are DataJoint's to serve)."""
    return bool(conn._query_cache)
