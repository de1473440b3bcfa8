"""Schema migrations that rename tables in place (no re-import): ``iblpipe db migrate``.

Issue 15: the per-session trials summary ``behavior.Trials`` became ``behavior.TrialSet``,
and its per-trial Part ``Trials.Trial`` is what ``behavior.Trials`` names now
(``TrialSet.Trial``). In the database that is a rename of three tables (and of the jobs
table) inside ``<prefix>behavior``, in one atomic ``RENAME TABLE``; InnoDB moves the
foreign keys of the tables below (PsychometricFit, ReactionTime, BehaviorHistory.Session)
with them, and DataJoint's ``~lineage`` rows are renamed to match. Rows are not copied.

Issue 14: ``ephys.Clusters`` became keyed by insertion x ``SortingParams`` (which spike
sorting, sorter and revision a row was imported from). Rows keyed by insertion only cannot
say which sorting they hold (the earlier code read ``alf/<probe>`` itself, often not the
sorting IBL's loader chooses), so they are not re-keyed: ``Clusters`` and every table below it
(UnitQuality, RegionRollup, TrialPSTH, their Parts and jobs tables) are dropped, and the next
``iblpipe populate`` imports them again from the ALF files under the default ``SortingParams``
row. Nothing else is touched: behaviour tables, insertions, trajectories, rules and parameter
rows are kept.

``schemas.activate`` refuses a database that still has tables of an earlier layout (it would
declare the new ones beside them, or fail on them), naming this command.

Issue 14 also made ``ephys.Clusters.Cluster.depth`` nullable: phylib writes NaN to
``clusters.depths`` for a unit without spikes. :func:`relax` ALTERs such a column of an
existing database to NULL in place (type and comment kept, rows kept); run again, it finds
nothing to do.

Issue 15 also added ``ephys.UnitQuality.RegionUnit``, a region-keyed copy of each unit with a
region and its verdict (what ``ephys.units`` reads). DataJoint declares the new table; :func:`fill_region_units`
copies the units of UnitQuality rows made before it, server-side (no re-import, no recomputation).

Issue 20: after the renames, :func:`refresh` re-hashes parameter rows with the one
``compute.params.content_hash`` and deletes the psychometric fits of sessions holding a
block the block rule now skips (``behavior.fits``), and the converged fits whose
log-likelihood is below psychofit's (made before psychofit's fit was one of their starts);
``iblpipe populate`` refits them.
"""

from __future__ import annotations

import logging

from iblpipe.errors import ConfigError
from iblpipe.schemas.djinternals import LINEAGE_TABLE, jobs_table_name, lineage_origin

logger = logging.getLogger(__name__)

# (schema module, old table name, new table name); a renamed auto-populated table's jobs table goes with it.
RENAMES = (
    ("behavior", "_trials", "_trial_set"),
    ("behavior", "_trials__trial", "_trial_set__trial"),
    ("behavior", "_trials__digest", "_trial_set__digest"),
    ("behavior", jobs_table_name("_trials"), jobs_table_name("_trial_set")),
)
# (schema module, table, key attribute of the current layout): a table without it is of an earlier layout
# and is dropped with everything below it (populate imports its rows again).
REKEYED = (("ephys", "_clusters", "sorting_params"),)
# (schema module, table, column): columns an earlier layout declared NOT NULL that may now hold NULL.
NULLABLE = (("ephys", "_clusters__cluster", "depth"),)


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


def _referencing(conn, database: str, table: str) -> set[tuple[str, str]]:
    """Tables whose foreign keys reference ``database.table`` (in any schema)."""
    rows = conn.query(
        "SELECT DISTINCT table_schema, table_name FROM information_schema.key_column_usage "
        "WHERE referenced_table_schema = %s AND referenced_table_name = %s",
        args=(database, table),
    ).fetchall()
    return {(row[0], row[1]) for row in rows} - {(database, table)}


def pending_rebuilds(names: dict[str, str], conn) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Tables of an earlier key layout: ``(database, table, [(database, table) to drop, dependents first])``."""
    todo = []
    for module, table, attribute in REKEYED:
        database = names[module]
        columns = conn.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            args=(database, table),
        ).fetchall()
        if not columns or attribute in {row[0] for row in columns}:
            continue
        below = {(database, table): _referencing(conn, database, table)}
        frontier = set(below[(database, table)])
        while frontier:
            for item in frontier:
                below[item] = _referencing(conn, *item)
            frontier = set().union(*(below[item] for item in frontier)) - set(below)
        order, left = [], set(below)
        while left:  # a table is dropped once no table left references it
            free = sorted(item for item in left if not below[item] & left)
            order += free
            left -= set(free)
        todo.append((database, table, order))
    return todo


def pending_columns(names: dict[str, str], conn) -> list[tuple[str, str, str, str, str]]:
    """``NULLABLE`` columns still NOT NULL: ``(database, table, column, column type, comment)``.

    A table or column that does not exist (a fresh database, or a table ``rebuild`` drops) is skipped.
    """
    todo = []
    for module, table, column in NULLABLE:
        database = names[module]
        rows = conn.query(
            "SELECT column_type, column_comment FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = %s AND is_nullable = 'NO'",
            args=(database, table, column),
        ).fetchall()
        todo += [(database, table, column, row[0], row[1]) for row in rows]
    return todo


def relax(names: dict[str, str], conn) -> list[str]:
    """ALTER the ``pending_columns`` to NULL (type and comment kept); returns what was done."""
    q = conn.adapter.quote_identifier
    done = []
    for database, table, column, column_type, comment in pending_columns(names, conn):
        conn.query(
            f"ALTER TABLE {q(database)}.{q(table)} MODIFY {q(column)} {column_type} NULL DEFAULT NULL COMMENT %s",
            args=(comment,),
        )
        done.append(f"{database}.{table}.{column} -> NULL allowed")
        logger.info("migrated %s", done[-1])
    return done


def require_current(names: dict[str, str], conn) -> None:
    """Raise ConfigError naming ``iblpipe db migrate`` when the database still has tables of an older layout."""
    tables = [f"{db}.{old}" for db, old, _ in pending(names, conn)]
    tables += [f"{db}.{table}" for db, table, _ in pending_rebuilds(names, conn)]
    tables += [f"{db}.{table}.{column} (NOT NULL)" for db, table, column, _, _ in pending_columns(names, conn)]
    if tables:
        raise ConfigError(
            f"the database has tables of an earlier iblpipe ({', '.join(tables)}): an administrator runs "
            "`iblpipe db migrate` once (renames tables in place keeping their rows; ephys units keyed by "
            "insertion only are dropped, and the next `iblpipe populate` imports them again; columns that may "
            "now be NULL are altered in place)"
        )


def rebuild(names: dict[str, str], conn) -> list[str]:
    """Drop the tables of an earlier key layout and everything below them (``pending_rebuilds``); what was done."""
    q = conn.adapter.quote_identifier
    done = []
    for database, table, order in pending_rebuilds(names, conn):
        n_rows = conn.query(f"SELECT COUNT(*) FROM {q(database)}.{q(table)}").fetchone()[0]
        for db, name in order:
            jobs = jobs_table_name(name)
            conn.query(f"DROP TABLE {q(db)}.{q(name)}")
            conn.query(f"DROP TABLE IF EXISTS {q(db)}.{q(jobs)}")
            if LINEAGE_TABLE in _tables(conn, db):
                conn.query(f"DELETE FROM {q(db)}.{q(LINEAGE_TABLE)} WHERE table_name = %s", args=(name,))
        dropped = ", ".join(f"{db}.{name}" for db, name in order)
        done.append(
            f"{database}.{table} (keyed by an earlier layout, {n_rows} rows): dropped {dropped}; "
            "`iblpipe populate` imports them again"
        )
        logger.warning("migrated: %s", done[-1])
    return done


def migrate(names: dict[str, str], conn) -> list[str]:
    """Do the pending renames, the rebuilds (``rebuild``), then the NULL columns (``relax``); one line per change."""
    return rename(names, conn) + rebuild(names, conn) + relax(names, conn)


def rename(names: dict[str, str], conn) -> list[str]:
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
                args=(
                    lineage_origin(db, new),
                    len(lineage_origin(db, old)) + 1,
                    lineage_origin(db, old).replace("_", r"\_") + "%",
                ),
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


def converged_pending(prefix: str | None, conn) -> list[dict]:
    """Keys of converged fits below psychofit's log-likelihood, which :func:`refresh` deletes (activates the schemas)."""
    from iblpipe.schemas.behavior import fits

    _active(prefix, conn)
    return fits.converged_below_psychofit()


def region_units_pending(prefix: str | None, conn) -> int:
    """UnitQuality rows without their ``RegionUnit`` copies, which :func:`fill_region_units` fills (activates)."""
    from iblpipe.schemas.ephys import sortings

    _active(prefix, conn)
    return len(sortings.missing_region_units())


def fill_region_units(prefix: str | None, conn) -> int:
    """Copy the units of UnitQuality rows made before ``UnitQuality.RegionUnit`` existed (issue 15) into it,
    server-side, in one statement; returns how many UnitQuality rows were filled (activates the schemas)."""
    from iblpipe.schemas.ephys import sortings

    _active(prefix, conn)
    filled = sortings.fill_region_units()
    if filled:
        logger.info("copied the units of %d UnitQuality row(s) into UnitQuality.RegionUnit", filled)
    return filled


def refresh(prefix: str | None, conn) -> tuple[list[str], int, list[dict]]:
    """Re-hash parameter rows hashed the earlier way, delete fits of near-empty blocks and converged fits below
    psychofit's (the next populate refits both).

    Returns the rows re-hashed (``schema.Table name``), the count of sessions whose psychometric fits were
    deleted and the keys of the converged fits deleted.
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
    reconverged = fits.drop_converged_below_psychofit()
    for key in reconverged:
        logger.info("deleted the converged fit %s: log-likelihood below psychofit's", describe_key(key))
    return rehashed, refit, reconverged


def describe_key(key: dict) -> str:
    """``name=value`` pairs of a key, in its order (uuids as text)."""
    return ", ".join(f"{name}={value}" for name, value in key.items())
