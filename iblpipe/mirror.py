"""Mirror a metadata snapshot (any source) into the reference/subject/acquisition/ephys tables.

One code path for every source: compare each record's content hash with the one
stored in ``bookkeeping.MirroredRecord``, then in ONE transaction delete records gone
from the source (cascading to everything downstream), update changed ones in
place (deleting the computed rows downstream of them: invalidation) and insert
new ones in bulk. A failure rolls the whole run back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import datajoint as dj

from iblpipe import mirror_checks, mirror_guard, mirror_locks
from iblpipe.errors import IblpipeError
from iblpipe.mirror_report import Report
from iblpipe.schemas import acquisition, ephys, fence, reference, subject
from iblpipe.schemas import mirror as bookkeeping
from iblpipe.schemas.djinternals import is_auto_populated, master_of, schema_table_label
from iblpipe.sources import records as R

logger = logging.getLogger(__name__)

MAX_DELETE_FRACTION = 0.2  # (fraction of a table's rows) more deletions than this need allow_mass_delete
BATCH_ROWS = 5000  # (rows) per bulk insert and per restriction list


class MassDeleteRefused(IblpipeError):
    """The source would delete too much of a table: refused unless ``allow_mass_delete``."""


def _tables() -> dict:
    """Kind -> (main table, side tables): the side rows of a record live and die with it."""
    return {
        "lab": (reference.Lab, ()),
        "user": (reference.LabMember, (reference.LabMembership,)),
        "project": (reference.Project, ()),
        "subject": (subject.Subject, (subject.SubjectLab, subject.SubjectUser)),
        "session": (
            acquisition.Session,
            (acquisition.Session.User, acquisition.Session.Procedure, acquisition.Session.Project),
        ),
        "weighing": (subject.Weighing, ()),
        "water_administration": (subject.WaterAdministration, ()),
        "water_restriction": (subject.WaterRestriction, ()),
        "insertion": (ephys.ProbeInsertion, ()),
        "trajectory": (ephys.ProbeTrajectory, ()),
    }


def side_rows(kind: str, rec) -> dict[str, list[dict]]:
    """Rows of the side tables (memberships, subject lab and user, session parts) of one record."""
    if kind == "user":
        return {"LabMembership": [{"lab_name": lab, "user_name": rec.user_name} for lab in rec.labs]}
    if kind == "subject":
        rows = {"SubjectLab": [{"subject_uuid": rec.subject_uuid, "lab_name": rec.lab_name}], "SubjectUser": []}
        if rec.responsible_user:
            rows["SubjectUser"] = [{"subject_uuid": rec.subject_uuid, "responsible_user": rec.responsible_user}]
        return rows
    if kind == "session":
        key = {"session_uuid": rec.session_uuid}
        return {
            "User": [dict(key, user_name=u) for u in rec.users],
            "Procedure": [dict(key, procedure=p) for p in rec.procedures],
            "Project": [dict(key, project_name=p) for p in rec.projects],
        }
    return {}


@dataclass
class Plan:
    """What a snapshot changes: per kind the records to insert and update, and keys to delete."""

    inserts: dict[str, list] = field(default_factory=dict)
    updates: dict[str, list] = field(default_factory=dict)
    deletes: dict[str, list] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    kept: dict[str, set] = field(default_factory=dict)  # mirrored keys of records bad in the source: untouched
    held: list = field(default_factory=list)  # mirror_guard.Held: deletions that would reach a kept row


def plan(snap: R.Snapshot) -> Plan:
    """Compare the snapshot with the mirror: inserts, updates (hash changed) and deletions per kind."""
    tables = _tables()
    stored = _stored_hashes()
    bad = mirror_guard.bad_ids(snap)
    out = Plan()
    for kind, (_cls, key_attr) in R.KINDS.items():
        if kind not in snap.provides:
            continue
        table = tables[kind][0]
        existing = {str(k) for k in table().to_arrays(key_attr)} if len(table()) else set()
        hashes = stored.get(kind, {})
        out.existing[kind] = len(existing)
        out.kept[kind] = mirror_guard.protected(kind, table, bad.get(kind, set()))
        ins, upd = [], []
        seen = set(out.kept[kind])
        for rec in snap.records.get(kind, []):
            key = R.record_key(rec)
            if key in seen:
                continue  # another copy of it is bad: neither is written
            seen.add(key)
            if key not in existing:
                ins.append(rec)
            elif hashes.get(key) != R.content_hash(rec):
                upd.append(rec)
            else:
                out.unchanged += 1
        out.inserts[kind], out.updates[kind] = ins, upd
        out.deletes[kind] = sorted(existing - seen)
    out.held = mirror_guard.hold_deletes(out.deletes, out.kept, {k: tables[k][0] for k in out.deletes})
    return out


def check_mass_delete(p: Plan, snap: R.Snapshot, max_fraction: float = MAX_DELETE_FRACTION) -> None:
    """Raise MassDeleteRefused when a source is empty or drops more than ``max_fraction`` of a table."""
    problems = []
    for kind, keys in p.deletes.items():
        n_existing = p.existing.get(kind, 0)
        if not keys or not n_existing:
            continue
        fraction = len(keys) / n_existing
        if not snap.records.get(kind) or fraction > max_fraction:
            problems.append(
                f"{kind}: {len(keys)} of {n_existing} ({100 * fraction:.0f} percent, limit {100 * max_fraction:.0f})"
            )
    if problems:
        raise MassDeleteRefused(
            f"refusing to delete from {snap.source}: " + "; ".join(problems) + " (pass --allow-mass-delete if intended)"
        )


def mirror(
    snap: R.Snapshot,
    *,
    allow_mass_delete: bool = False,
    max_delete_fraction: float = MAX_DELETE_FRACTION,
    dry_run: bool = False,
) -> Report:
    """Write ``snap`` into the bound schemas; return what changed. All or nothing (one transaction).

    Records the source holds but that cannot be written (``snap.bad``, and values their columns
    cannot hold, checked here first) are skipped with their dependents and reported; their mirrored
    rows are kept unchanged, and nothing they depend on is deleted (``mirror_guard``). One ingest
    runs at a time per database; collisions with workers are retried (``mirror_locks``).
    """
    snap = check_columns(snap)
    conn = subject.Subject.connection
    with mirror_locks.one_ingest(conn, bookkeeping.MirroredRecord.database):
        pipeline = bookkeeping.MirroredRecord.database.removesuffix("mirror")
        return mirror_locks.retrying(
            lambda: _mirror_once(snap, allow_mass_delete, max_delete_fraction, dry_run), pipeline_prefix=pipeline
        )


def _mirror_once(snap: R.Snapshot, allow_mass_delete: bool, max_delete_fraction: float, dry_run: bool) -> Report:
    """Plan against the mirror as it is now, then write in one transaction."""
    p = plan(snap)
    report = Report(
        source=snap.source,
        unchanged=p.unchanged,
        bad=list(snap.bad),
        held=p.held,
        kept=sum(len(k) for k in p.kept.values()),
        dry_run=dry_run,
    )
    for kind, rec, message in mirror_checks.future_dates(snap.records):
        report.warnings.append(R.BadRecord(kind, R.record_key(rec), message))
        logger.warning("%s %s: %s", kind, R.record_key(rec), message)
    for kind in R.KINDS:
        report.inserted[kind] = len(p.inserts.get(kind, ()))
        report.updated[kind] = len(p.updates.get(kind, ()))
        report.deleted[kind] = len(p.deletes.get(kind, ()))
    for counts in (report.inserted, report.updated, report.deleted):
        for kind in [k for k, v in counts.items() if not v]:
            del counts[kind]
    if not allow_mass_delete:
        check_mass_delete(p, snap, max_delete_fraction)
    if dry_run or not report.changed:
        return report
    conn = subject.Subject.connection
    source_label = snap.source.split(":", 1)[0][:16]
    with fence.ingest_transaction(conn):  # waits for running makes; makes wait for it
        for kind in R.KINDS:  # parents first: what a worker could insert below waits for our commit
            table = _tables()[kind][0]
            for batch in _batches([*p.deletes.get(kind, ()), *(R.record_key(r) for r in p.updates.get(kind, ()))]):
                mirror_locks.lock_rows(table & [_typed_key(kind, k) for k in batch])
        _ensure_water_types(p)
        for kind in reversed(R.KINDS):
            if p.deletes.get(kind):
                _delete(kind, p.deletes[kind], report)
        for kind in R.KINDS:
            if p.updates.get(kind):
                _update(kind, p.updates[kind], report)
            if p.inserts.get(kind):
                _insert(kind, p.inserts[kind])
        _record_hashes(p, source_label)
        bookkeeping.IngestRun.insert1(
            dict(
                run_time=_now_ms(),
                source=snap.source[:1024],
                n_inserted=sum(report.inserted.values()),
                n_updated=sum(report.updated.values()),
                n_deleted=sum(report.deleted.values()),
                n_invalidated=sum(report.invalidated.values()),
                n_bad=len(report.bad),
            ),
            skip_duplicates=True,
        )
    return report


def _now_ms() -> dt.datetime:
    """UTC now to the millisecond (``IngestRun.run_time`` is ``datetime(3)``: two runs in one second both count)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def check_columns(snap: R.Snapshot) -> R.Snapshot:
    """A copy of ``snap`` without the records (and their dependents) whose values their columns cannot hold."""
    checker = mirror_checks.RowChecker()
    tables = _tables()
    reasons = {}  # id(record) -> why its columns refuse it
    for kind, recs in snap.records.items():
        table = tables[kind][0]
        cls, _ = R.KINDS[kind]
        names = [f.name for f in dataclasses.fields(cls) if f.name in table.heading.names]
        for rec in recs:
            problems = checker.problems(table, {n: getattr(rec, n) for n in names})
            for name, rows in side_rows(kind, rec).items():
                for row in rows:
                    problems += [p for p in checker.problems(_side_table(kind, name), row) if p not in problems]
            if problems:
                reasons[id(rec)] = "; ".join(problems)
    copy = dataclasses.replace(snap, records=dict(snap.records), bad=list(snap.bad))
    if not reasons:
        return copy
    return R.finalize(copy, check=lambda _kind, rec: reasons.get(id(rec)))  # skips their dependents too


def _typed_key(kind: str, key: str):
    return mirror_guard.typed_key(kind, key)


def _batches(items: list, size: int = BATCH_ROWS):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _main_row(table, rec) -> dict:
    names = set(table.heading.names)
    return {k: v for k, v in dataclasses.asdict(rec).items() if k in names}


def _side_table(kind: str, name: str):
    for side in _tables()[kind][1]:
        if side.__name__ == name:
            return side
    raise KeyError(name)


def _insert(kind: str, recs: list) -> None:
    table = _tables()[kind][0]
    for batch in _batches(recs):
        table.insert([_main_row(table, r) for r in batch])
        sides = {}
        for rec in batch:
            for name, rows in side_rows(kind, rec).items():
                sides.setdefault(name, []).extend(rows)
        for name, rows in sides.items():
            if rows:
                _side_table(kind, name).insert(rows)
    logger.info("inserted %d %s records", len(recs), kind)


def _update(kind: str, recs: list, report: Report) -> None:
    """Update rows in place (their unrelated dependents stay) after invalidating what was computed from them."""
    table, sides = _tables()[kind]
    _, key_attr = R.KINDS[kind]
    for batch in _batches(recs):
        keys = [{key_attr: getattr(r, key_attr)} for r in batch]
        invalidate(table & keys, report, reason=f"{len(batch)} updated {kind} records")
        for side in sides:
            (side & keys).delete_quick()
    for rec in recs:
        table.update1(_main_row(table, rec))
    sides_rows = {}
    for rec in recs:
        for name, rows in side_rows(kind, rec).items():
            sides_rows.setdefault(name, []).extend(rows)
    for name, rows in sides_rows.items():
        for batch in _batches(rows):
            _side_table(kind, name).insert(batch)
    logger.info("updated %d %s records in place", len(recs), kind)


def _delete(kind: str, keys: list[str], report: Report) -> None:
    """Delete records gone from the source with everything downstream of them."""
    table = _tables()[kind][0]
    for batch in _batches(keys):
        expr = table & [_typed_key(kind, k) for k in batch]
        for ft in dj.Diagram.cascade(expr):
            if is_auto_populated(ft.table_name):
                n = len(ft)
                if n:
                    report.invalidated[schema_table_label(ft.full_table_name)] += n
                    logger.info("deleting %d rows of %s downstream of deleted %s", n, ft.full_table_name, kind)
        expr.delete(transaction=False, prompt=False, part_integrity="cascade")
    logger.info("deleted %d %s records (cascade)", len(keys), kind)


def invalidate(expr, report: Report | None = None, reason: str = "") -> Counter:
    """Delete every computed row downstream of the rows of ``expr`` (never ``expr``'s own or manual rows).

    Uses the DataJoint dependency graph (``dj.Diagram.cascade``), so tables added later
    (behavior, ephys, report) are covered. A computed Part's master is deleted with it, so the
    next populate recomputes the whole entry.
    """
    counts = Counter()
    seeds = []
    for ft in dj.Diagram.cascade(expr):
        if is_auto_populated(ft.table_name) and len(ft):
            name = master_of(ft.full_table_name) or ft.full_table_name
            target = dj.FreeTable(ft.connection, name)
            seeds.append((name, ft.proj(*target.primary_key).keys()))
    for name, keys in seeds:
        seed = dj.FreeTable(expr.connection, name) & keys
        if not len(seed):
            continue  # already deleted with an earlier seed
        for ft in reversed(dj.Diagram.cascade(seed)):
            if is_auto_populated(ft.table_name):
                n = ft.delete_quick(get_count=True)
                if n:
                    counts[schema_table_label(ft.full_table_name)] += n
    for name, n in sorted(counts.items()):
        logger.info("invalidated %d rows of %s (%s)", n, name, reason)
    if report is not None:
        report.invalidated.update(counts)
    return counts


def _ensure_water_types(p: Plan) -> None:
    types = {r.water_type for kind in ("inserts", "updates") for r in getattr(p, kind).get("water_administration", [])}
    if types:
        subject.WaterType.insert([{"water_type": t} for t in sorted(types)], skip_duplicates=True)


def _stored_hashes() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    if not len(bookkeeping.MirroredRecord()):
        return out
    kinds, keys, hashes = bookkeeping.MirroredRecord().to_arrays("record_kind", "record_key", "content_hash")
    for kind, key, h in zip(kinds, keys, hashes, strict=True):
        out.setdefault(kind, {})[key] = h
    return out


def _record_hashes(p: Plan, source: str) -> None:
    for kind, keys in p.deletes.items():
        for batch in _batches(keys):
            (bookkeeping.MirroredRecord & [{"record_kind": kind, "record_key": k} for k in batch]).delete_quick()
    rows = [
        {"record_kind": kind, "record_key": R.record_key(r), "content_hash": R.content_hash(r), "source": source}
        for attr in ("inserts", "updates")
        for kind, recs in getattr(p, attr).items()
        for r in recs
    ]
    for batch in _batches(rows):
        bookkeeping.MirroredRecord.insert(batch, replace=True)
