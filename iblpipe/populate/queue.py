"""What the job queues hold: per-table progress, reservations, errors; requeue or silence failed keys.

Every auto-populated table has its own DataJoint jobs table (``T.jobs``). These
functions read them without creating any (a table never populated has no jobs
table yet and shows its keys as to do).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from iblpipe.schemas.djinternals import jobs_if_declared

logger = logging.getLogger(__name__)

JOB_STATUSES = ("pending", "reserved", "error", "ignore")


@dataclass
class TableStatus:
    """One table's state: rows, keys still to do, and its job queue."""

    table: str
    rows: int
    auto: bool  # auto-populated (has a key source and a job queue)
    todo: int | None = None  # (count) keys of the key source not yet in the table (errors and ignored included)
    pending: int = 0
    reserved: int = 0
    errors: int = 0
    ignored: int = 0
    newest_error: str | None = None  # first line of the most recent error message
    reservations: list[dict] = field(default_factory=list)  # host, pid, age_s, key of each reserved job

    def as_dict(self) -> dict:
        return asdict(self)


def table_status(table_class) -> TableStatus:
    """Rows, to-do keys and job counts of one table (auto-populated or not)."""
    import datajoint as dj

    from iblpipe.populate import table_label

    table = table_class()
    auto = isinstance(table, dj.Imported | dj.Computed)
    status = TableStatus(table_label(table_class), len(table), auto)
    if not auto:
        return status
    status.todo = len(table.key_source - table.proj())
    jobs = jobs_if_declared(table)
    if jobs is None:
        return status
    counts = jobs.progress()
    status.pending, status.reserved = counts["pending"], counts["reserved"]
    status.errors, status.ignored = counts["error"], counts["ignore"]
    if status.errors:
        newest = jobs.errors.to_dicts(order_by="completed_time DESC", limit=1)[0]
        status.newest_error = (newest["error_message"] or "").splitlines()[0] if newest["error_message"] else ""
    if status.reserved:
        now = table.connection.query("SELECT CURRENT_TIMESTAMP(3)").fetchone()[0]
        for job in jobs.reserved.to_dicts(order_by="reserved_time"):
            key = {k: job[k] for k in jobs.primary_key}
            age = (now - job["reserved_time"]).total_seconds() if job["reserved_time"] else None
            status.reservations.append({"host": job["host"], "pid": job["pid"], "age_s": age, "key": key})
    return status


def pipeline_status() -> list[TableStatus]:
    """Every table of every activated schema module, in pipeline order."""

    from iblpipe import schemas

    return [table_status(t) for mod in schemas.modules() for t in schemas.tables(mod)]


@dataclass(frozen=True)
class FailedKey:
    """One key whose make failed (status ``error``) or was silenced (``ignore``)."""

    table: str
    key: dict
    status: str
    message: str
    when: object  # datetime of the failure (server time)
    host: str
    pid: int


def failed_keys(tables: list, *, include_ignored: bool = False) -> list[FailedKey]:
    """Failed keys of ``tables`` (classes), newest first within each table."""
    from iblpipe.populate import table_label

    out = []
    for table_class in tables:
        jobs = jobs_if_declared(table_class())
        if jobs is None:
            continue
        query = jobs & ("status in ('error', 'ignore')" if include_ignored else "status = 'error'")
        for job in query.to_dicts(order_by="completed_time DESC"):
            out.append(
                FailedKey(
                    table_label(table_class),
                    {k: job[k] for k in jobs.primary_key},
                    job["status"],
                    job["error_message"] or "",
                    job["completed_time"],
                    job["host"],
                    job["pid"],
                )
            )
    return out


def retry(failed: list[FailedKey], tables: list) -> int:
    """Requeue failed keys: their job rows go, so the next populate adds them as pending again. Returns the count."""
    return _apply(failed, tables, lambda jobs, key: (jobs & key).delete_quick())


def ignore(failed: list[FailedKey], tables: list) -> int:
    """Silence failed keys: status ``ignore``, never picked up again until retried. Returns the count."""
    return _apply(failed, tables, lambda jobs, key: jobs.ignore(key))


def _apply(failed: list[FailedKey], tables: list, action) -> int:
    from iblpipe.populate import table_label

    by_label = {table_label(t): t for t in tables}
    jobs_of = {}
    for item in failed:
        if item.table not in jobs_of:
            jobs_of[item.table] = by_label[item.table]().jobs
        action(jobs_of[item.table], item.key)
    return len(failed)
