"""DataJoint schemas. Nothing binds at import: call ``activate(prefix)``.

Modules hold an unbound ``schema = dj.Schema()`` and their table classes;
``activate`` binds them in dependency order under ``<prefix><module>``.
"""

from __future__ import annotations

import importlib
import logging

from iblpipe.schemas import djinternals

logger = logging.getLogger(__name__)

# Dependency order: each module may reference tables of the modules before it.
MODULE_NAMES = ("reference", "subject", "acquisition", "behavior", "ephys", "report", "mirror")


def modules() -> list:
    """The schema modules, imported, in dependency order."""
    return [importlib.import_module(f"iblpipe.schemas.{name}") for name in MODULE_NAMES]


def tables(module) -> list[type]:
    """The master table classes a schema module declares (not those it imports), in dependency order."""
    return djinternals.declared_tables(module.schema)


def table_label(table) -> str:
    """``schema.Table`` as users write it (``behavior.Trials``), for a table class or instance."""
    cls = table if isinstance(table, type) else type(table)
    module = cls.__module__.removeprefix(f"{__name__}.").split(".")[0]
    return f"{module}.{cls.__name__}"


def schema_names(prefix: str | None = None) -> dict[str, str]:
    """Database name of each schema module for ``prefix``."""
    from iblpipe import settings

    prefix = settings.schema_prefix(prefix)
    return {name: f"{prefix}{name}" for name in MODULE_NAMES}


def activate(prefix: str | None = None, *, connection=None) -> dict[str, str]:
    """Bind every schema under ``prefix`` (default ``$IBLPIPE_SCHEMA_PREFIX`` or ``iblpipe_``).

    Connects (see ``iblpipe.connection.connect``) when no connection is given.
    Re-activating under another prefix in the same process rebinds the tables. A database
    with tables of an earlier layout raises ConfigError naming ``iblpipe db migrate``.
    Returns the database name of each module.
    """
    from iblpipe.connection import connect
    from iblpipe.schemas.migrate import require_current

    conn = connection or connect()
    names = schema_names(prefix)
    require_current(names, conn)  # an earlier layout would get new empty tables declared beside its own
    for mod in modules():
        target = names[mod.__name__.rsplit(".", 1)[1]]
        if mod.schema.database not in (None, target):
            djinternals.unbind(mod.schema)  # rebind to another prefix (tests, analysts' sandboxes)
        mod.schema.activate(target, connection=conn)
    logger.debug("activated schemas %s", ", ".join(names.values()))
    return names


def drop(prefix: str, *, connection=None) -> list[str]:
    """Drop every database whose name starts with ``prefix`` (used by tests and `db reset`).

    Returns the dropped database names.
    """
    from iblpipe import settings
    from iblpipe.connection import connect

    prefix = settings.schema_prefix(prefix)
    conn = connection or connect()
    pattern = prefix.replace("_", r"\_") + "%"
    dbs = [row[0] for row in conn.query("SHOW DATABASES LIKE %s", args=(pattern,)).fetchall()]
    for name in sorted(dbs, key=_drop_rank):
        conn.query(f"DROP DATABASE `{name}`")
    for mod in modules():
        if mod.schema.database in dbs:
            djinternals.unbind(mod.schema)
    return dbs


def _drop_rank(database: str) -> int:
    """Drop downstream schemas first so cross-schema foreign keys never block."""
    for rank, name in enumerate(reversed(MODULE_NAMES)):
        if database.endswith(name):
            return rank
    return -1
