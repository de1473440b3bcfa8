"""Schema migrations that rename tables in place (no re-import): ``iblpipe db migrate``.

Issue 15: the per-session trials summary ``behavior.Trials`` became ``behavior.TrialSet``,
and its per-trial Part ``Trials.Trial`` is what ``behavior.Trials`` names now
(``TrialSet.Trial``). In the database that is a rename of three tables (and of the jobs
table) inside ``<prefix>behavior``, in one atomic ``RENAME TABLE``; InnoDB moves the
foreign keys of the tables below (PsychometricFit, ReactionTime, BehaviorHistory.Session)
with them, and DataJoint's ``~lineage`` rows are renamed to match. Rows are not copied.

``schemas.activate`` refuses a database that still has the old tables (it would declare
the new ones empty beside them), naming this command.

Issue 20: after the renames, :func:`refresh` re-hashes parameter rows with the one
``compute.params.content_hash`` and deletes the psychometric fits of sessions holding a
block the block rule now skips (``behavior.fits``); ``iblpipe populate`` refits them.
"""

from __future__ import annotations

import logging

from iblpipe.errors import ConfigError
from iblpipe.schemas.djinternals import LINEAGE_TABLE

logger = logging.getLogger(__name__)

# (schema module, old table name, new table name); jobs tables are named ~~<table without leading _>.
RENAMES = (
    ("behavior", "_trials", "_trial_set"),
    ("behavior", "_trials__trial", "_trial_set__trial"),
    ("behavior", "_trials__digest", "_trial_set__digest"),
    ("behavior", "~~trials", "~~trial_set"),
)


def _tables(conn, database: str) -> set[str]:
    rows = conn.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", args=(database,)
    ).fetchall()
    return {row[0] for row in rows}


def pending(names: dict[str, str], conn) -> list[tuple[str, str, str]]:
    """The renames still to do in the schemas ``names`` (module -> database), as (database, old, new)."""
    todo = []
    present = {}
    for module, old, new in RENAMES:
        database = names[module]
        if database not in present:
            present[database] = _tables(conn, database)
        if old in present[database]:
            if new in present[database]:
                raise ConfigError(
                    f"{database}: both `{old}` and `{new}` exist; the new one was declared before "
                    f"`iblpipe db migrate` ran. Drop the empty `{new}` (and its Parts), then migrate"
                )
            todo.append((database, old, new))
    return todo


def require_current(names: dict[str, str], conn) -> None:
    """Raise ConfigError naming ``iblpipe db migrate`` when the database still has tables of an older layout."""
    todo = pending(names, conn)
    if todo:
        tables = ", ".join(f"{db}.{old}" for db, old, _ in todo)
        raise ConfigError(
            f"the database has tables of an earlier iblpipe ({tables}): an administrator runs "
            "`iblpipe db migrate` once (renames them in place, keeps every row)"
        )


def migrate(names: dict[str, str], conn) -> list[str]:
    """Do the pending renames (one atomic ``RENAME TABLE``) and fix DataJoint's lineage rows; returns what was done."""
    todo = pending(names, conn)
    if not todo:
        return []
    q = conn.adapter.quote_identifier
    conn.query("RENAME TABLE " + ", ".join(f"{q(db)}.{q(old)} TO {q(db)}.{q(new)}" for db, old, new in todo))
    done = [f"{db}.{old} -> {db}.{new}" for db, old, new in todo]
    for database in sorted(set(names.values())):
        if LINEAGE_TABLE not in _tables(conn, database):
            continue
        lineage = f"{q(database)}.{q(LINEAGE_TABLE)}"
        for db, old, new in todo:
            conn.query(f"UPDATE {lineage} SET table_name = %s WHERE table_name = %s", args=(new, old))
            conn.query(
                f"UPDATE {lineage} SET lineage = CONCAT(%s, SUBSTRING(lineage, %s)) WHERE lineage LIKE %s",
                args=(f"{db}.{new}.", len(f"{db}.{old}.") + 1, f"{db}.{old}.%".replace("_", r"\_")),
            )
    for line in done:
        logger.info("migrated %s", line)
    return done


# Rows that changed meaning without a change of layout; fixed after the renames, with schemas active.
# (module, table class, hash attribute, attributes hashed): parameter rows hashed by compute.params.content_hash
HASHED_PARAMETERS = (("behavior", "BehaviorParams", "params_hash", ("criteria_version", "rt_definition")),)


def _active(prefix: str | None, conn) -> None:
    from iblpipe import schemas

    schemas.activate(prefix, connection=conn)


def refit_pending(prefix: str | None, conn) -> int:
    """Sessions whose psychometric fits hold blocks the issue 20 block rule skips (activates the schemas)."""
    from iblpipe.schemas.behavior import fits

    _active(prefix, conn)
    return len(fits.near_empty_block_sessions())


def refresh(prefix: str | None, conn) -> tuple[list[str], int]:
    """Re-hash parameter rows hashed the earlier way, and delete fits of near-empty blocks (the next populate refits).

    Returns the rows re-hashed (``schema.Table name``) and the count of sessions whose fits were deleted.
    """
    import importlib

    from iblpipe.compute.params import content_hash
    from iblpipe.schemas.behavior import fits

    _active(prefix, conn)
    rehashed = []
    for module, name, attribute, hashed in HASHED_PARAMETERS:
        table = getattr(importlib.import_module(f"iblpipe.schemas.{module}"), name)
        primary = table.primary_key
        for row in table.to_dicts():
            expected = content_hash({a: row[a] for a in hashed})
            if row[attribute] != expected:
                table.update1({**{k: row[k] for k in primary}, attribute: expected})
                rehashed.append(f"{module}.{name} {', '.join(str(row[k]) for k in primary)}")
    for line in rehashed:
        logger.info("rehashed %s", line)
    refit = fits.drop_near_empty_block_fits()
    if refit:
        logger.info("deleted psychometric fits of %d sessions with near-empty blocks", refit)
    return rehashed, refit
