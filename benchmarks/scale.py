"""A 10x database from a populated one: every row the two benchmark queries read, copied under new uuids.

``inflate(factor=10)`` copies, server-side (``INSERT ... SELECT``), the rows of every table on the
two queries' paths — Subject, SubjectLab, Session, Trials (+ Trial), ProbeInsertion, Clusters
(+ Cluster), UnitQuality (+ Unit, RegionUnit), RegionRollup (+ Region) — ``factor - 1`` times. Copy ``k`` gets
``uuid' = md5(hex(uuid) || '-' || k)`` for subject, session, insertion and cluster uuids and the
nickname ``<nick>~k``: as if ``factor - 1`` more labs held mice identical to ours. The tables then
hold ``factor`` times the rows with the same distribution of keys, so a query that uses its
indexes costs the same as before, and one that scans grows with the table. Tables off these paths
(fits, statuses, water, ...) stay at 1x.
"""

from __future__ import annotations

import time

MAPPED_UUIDS = ("subject_uuid", "session_uuid", "probe_insertion_uuid", "cluster_uuid")
HELPER = "scale_originals"  # schema suffix of the helper tables listing the 1x keys


def tables() -> list[tuple[object, str]]:
    """(table, key naming its 1x rows) on the queries' paths, parents first."""
    from iblpipe.schemas import acquisition, behavior, ephys, subject

    return [
        (subject.Subject, "subject_uuid"),
        (subject.SubjectLab, "subject_uuid"),
        (acquisition.Session, "session_uuid"),
        (behavior.TrialSet, "session_uuid"),
        (behavior.Trials, "session_uuid"),
        (ephys.ProbeInsertion, "probe_insertion_uuid"),
        (ephys.Clusters, "probe_insertion_uuid"),
        (ephys.Clusters.Cluster, "probe_insertion_uuid"),
        (ephys.UnitQuality, "probe_insertion_uuid"),
        (ephys.UnitQuality.Unit, "probe_insertion_uuid"),
        (ephys.UnitQuality.RegionUnit, "probe_insertion_uuid"),
        (ephys.RegionRollup, "probe_insertion_uuid"),
        (ephys.RegionRollup.Region, "probe_insertion_uuid"),
    ]


def _split(full_table_name: str) -> tuple[str, str]:
    database, table = (part.strip("`") for part in full_table_name.split("."))
    return database, table


def _columns(conn, full_table_name: str) -> list[str]:
    database, table = _split(full_table_name)
    rows = conn.query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s "
        "ORDER BY ORDINAL_POSITION",
        args=(database, table),
    ).fetchall()
    return [r[0] for r in rows]


def _expression(column: str) -> str:
    if column in MAPPED_UUIDS:
        return f"UNHEX(MD5(CONCAT(HEX(src.`{column}`), '-', %(k)s)))"
    if column == "subject_nickname":
        return "CONCAT(src.`subject_nickname`, '~', %(k)s)"
    return f"src.`{column}`"


def inflate(prefix: str, factor: int = 10) -> dict:
    """Copy the queries' rows ``factor - 1`` times (see the module docstring); return rows and seconds per table.

    Idempotent: rows of an earlier, interrupted inflation (nicknames with ``~``) are deleted first.
    Each table's 1x rows are snapshotted into a helper schema and copied from there, so no
    statement reads the table it writes (MariaDB would spill that to a temporary table).
    """
    import datajoint as dj

    from iblpipe.schemas import acquisition, ephys, subject

    conn = dj.conn()
    helper = f"{prefix}{HELPER}"
    conn.query(f"DROP DATABASE IF EXISTS `{helper}`")
    conn.query(f"CREATE DATABASE `{helper}`")
    originals = {  # the 1x keys: subjects without a copy suffix, then their sessions and insertions
        "subject_uuid": f"SELECT subject_uuid FROM {subject.Subject.full_table_name} "
        "WHERE subject_nickname NOT LIKE '%%~%%'",
        "session_uuid": f"SELECT session_uuid FROM {acquisition.Session.full_table_name} "
        f"JOIN `{helper}`.subject_uuid USING (subject_uuid)",
        "probe_insertion_uuid": f"SELECT probe_insertion_uuid FROM {ephys.ProbeInsertion.full_table_name} "
        f"JOIN `{helper}`.session_uuid USING (session_uuid)",
    }
    for key, select in originals.items():
        conn.query(f"CREATE TABLE `{helper}`.`{key}` (`{key}` binary(16) PRIMARY KEY) {select}")
    conn.query("SET SESSION foreign_key_checks=0, unique_checks=0")
    report = {}
    try:
        for table, key in reversed(tables()):  # leftovers of an interrupted run, children first
            conn.query(
                f"DELETE FROM {table.full_table_name} WHERE `{key}` NOT IN (SELECT `{key}` FROM `{helper}`.`{key}`)"
            )
        for i, (table, key) in enumerate(tables()):
            name, snapshot = table.full_table_name, f"`{helper}`.`snap{i}`"
            columns = _columns(conn, name)
            start = time.perf_counter()
            conn.query(
                f"CREATE TABLE {snapshot} SELECT src.* FROM {name} AS src JOIN `{helper}`.`{key}` USING (`{key}`)"
            )
            select = ", ".join(_expression(c) for c in columns)
            sql = f"INSERT INTO {name} ({', '.join(f'`{c}`' for c in columns)}) SELECT {select} FROM {snapshot} AS src"
            for k in range(1, factor):
                conn.query(sql, args={"k": k})
            conn.query(f"DROP TABLE {snapshot}")
            rows = conn.query(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            report[table.__qualname__] = {"rows": int(rows), "seconds": round(time.perf_counter() - start, 2)}
    finally:
        conn.query("SET SESSION foreign_key_checks=1, unique_checks=1")
        conn.query(f"DROP DATABASE IF EXISTS `{helper}`")
    for table, _ in tables():
        conn.query(f"ANALYZE TABLE {table.full_table_name}")
    return report
