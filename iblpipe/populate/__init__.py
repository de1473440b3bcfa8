"""Populate workers: table order, worker loop, error policy.

A worker runs every selected auto-populated table in dependency order through
DataJoint's job reservation (each table's ``T.jobs``, the per-key step of
``populate(reserve_jobs=True)``), one key at a time, so any number of workers on any number of hosts share one database
without doing a key twice:

- **data errors** (a bad ALF file, a failed fit) are recorded once, in the
  table's jobs table (``T.jobs.errors``), logged with the key, and make the
  worker's exit code non-zero; the worker goes on with the other keys;
- **transient errors** (lost connection, server restart, deadlock, lock wait
  timeout) put the key back to pending and are retried with backoff; they are
  never left as errors;
- **reservations of a killed worker** are freed once older than the stale
  timeout (``refresh(orphan_timeout=...)``) and the key is redone;
- **SIGTERM** lets the current key finish, then the worker stops cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from iblpipe.errors import ConfigError
from iblpipe.populate import vanished
from iblpipe.populate.selection import (  # noqa: F401  (the package's API)
    RESTRICT_KEYS,
    auto_tables,
    restriction_for,
    select_tables,
    sessions_matching,
    table_label,
)
from iblpipe.populate.transient import (  # noqa: F401  (the package's API)
    DEFAULT_TRANSIENT_BUDGET_S,
    TRANSIENT_BACKOFF_S,
    TRANSIENT_CODES,
    TransientFailure,
    _message,
    is_transient,
    retry_transient,
)
from iblpipe.schemas.djinternals import populate_one

logger = logging.getLogger(__name__)

DEFAULT_STALE_TIMEOUT_S = 3600  # (s) a reservation older than this belongs to a dead worker and is redone
# ---------------------------------------------------------------- the worker


@dataclass
class TableResult:
    """What one worker did to one table in one pass."""

    table: str
    made: int = 0
    errors: list[tuple[dict, str]] = field(default_factory=list)  # (key, message) of data errors this pass
    retries: int = 0  # transient failures retried
    seconds: float = 0.0


@dataclass
class RunReport:
    """One worker's run, summed over its passes (a looping worker keeps counts, not every pass)."""

    made: int = 0
    errors: list[tuple[str, dict, str]] = field(default_factory=list)  # (table, key, message) of data errors
    retries: int = 0  # transient failures retried
    stopped: bool = False  # SIGTERM (or stop()) ended the run early
    gave_up: list[str] = field(default_factory=list)  # transient failures that outlasted the budget

    def add(self, result: TableResult) -> None:
        self.made += result.made
        self.retries += result.retries
        self.errors += [(result.table, key, msg) for key, msg in result.errors]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.gave_up


class Worker:
    """Populate the given tables in order, one reserved key at a time.

    Parameters
    ----------
    tables : auto-populated table classes, in dependency order (``select_tables``)
    restrict : ``{subject|lab|session: value}`` (``commands._common.parse_restriction`` output)
    max_calls : at most this many makes per table and pass
    stale_timeout : (s) reservations older than this are taken as a dead worker's and redone
    transient_budget : (s) how long one key may keep failing transiently before the worker gives up on it
    progress : ``progress(iterable, total=, desc=)`` wrapper (tqdm on a TTY); None for log lines only
    log_keys : log every made key at INFO (the audit trail that each key was made once), else at DEBUG
    before_pass : called at the start of every pass (populate's ``follow_new_sortings``): its failure stops the
        first pass (before any work) and is logged and counted as an error on later passes
    """

    def __init__(
        self,
        tables: list,
        *,
        restrict: dict[str, str] | None = None,
        max_calls: int | None = None,
        stale_timeout: float = DEFAULT_STALE_TIMEOUT_S,
        transient_budget: float = DEFAULT_TRANSIENT_BUDGET_S,
        progress: Callable | None = None,
        log_keys: bool = False,
        before_pass: Callable[[], None] | None = None,
    ) -> None:
        if max_calls is not None and max_calls < 1:
            raise ConfigError(f"--max-calls {max_calls}: must be at least 1")
        if stale_timeout <= 0:
            raise ConfigError(f"--stale-timeout {stale_timeout}: must be positive (seconds)")
        self.tables = tables
        self.restrict = restrict or {}
        self.max_calls = max_calls
        self.stale_timeout = stale_timeout
        self.transient_budget = transient_budget
        self.progress = progress
        self.log_keys = log_keys
        self.before_pass = before_pass
        self.stop_requested = False
        self.host = socket.gethostname()

    # -- control

    def stop(self, *_args) -> None:
        """Ask the worker to stop after the current key (the SIGTERM handler)."""
        if not self.stop_requested:
            logger.info("stop requested: finishing the current key, then exiting")
        self.stop_requested = True

    @contextlib.contextmanager
    def handle_sigterm(self) -> Iterator[None]:
        """Route SIGTERM (and SIGINT) to ``stop`` for the duration (main thread only)."""
        old = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a stop is requested."""
        end = time.monotonic() + seconds
        while not self.stop_requested and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()))

    # -- running

    def run(self, *, loop: bool = False, sleep: float = 60, duration: float | None = None) -> RunReport:
        """One pass over every table, or passes every ``sleep`` seconds until ``duration`` (s) or SIGTERM."""
        report = RunReport()
        deadline = None if duration is None else time.monotonic() + duration
        logger.info("worker %s pid %d: %d tables%s", self.host, os.getpid(), len(self.tables), " (loop)" * loop)
        with self.handle_sigterm():
            first = True
            while True:
                self._before_pass(report, first)
                first = False
                for table in self.tables:
                    if self.stop_requested:
                        break
                    try:
                        report.add(self.populate_table(table))
                    except TransientFailure as exc:
                        report.gave_up.append(str(exc))
                        logger.error("%s", exc)
                if not loop or self.stop_requested or (deadline is not None and time.monotonic() >= deadline):
                    break
                wait = sleep if deadline is None else min(sleep, max(0.0, deadline - time.monotonic()))
                logger.info("pass done; next pass in %.0f s", wait)
                self.sleep(wait)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        report.stopped = self.stop_requested
        return report

    def _before_pass(self, report: RunReport, first: bool) -> None:
        """Run ``before_pass`` (transient failures retried); see the class docstring for its errors."""
        if self.before_pass is None or self.stop_requested:
            return
        try:
            retry_transient(
                lambda retry: self.before_pass(),
                what="before the pass",
                budget=self.transient_budget,
                then="going on with the pass",
                sleep=self.sleep,
                should_stop=lambda: self.stop_requested,
            )
        except TransientFailure as exc:
            report.gave_up.append(str(exc))
            logger.error("%s", exc)
        except Exception as exc:
            if first:
                raise
            report.errors.append(("before the pass", {}, _message(exc)))
            logger.error("before the pass: %s", _message(exc))

    def populate_table(self, table) -> TableResult:
        """Every pending key of ``table`` this worker can reserve, one at a time."""
        label = table_label(table)
        result = TableResult(label)
        start = time.monotonic()
        table = table()  # one instance: it caches its jobs table (building one reloads the dependency graph)
        restriction = restriction_for(table, self.restrict)
        restrictions = () if restriction is None else (restriction,)
        keys = self._retrying(label, "listing keys", result, lambda retry: self._pending_keys(table, restrictions))
        if keys:
            logger.info("%s: %d keys pending", label, len(keys))
        items = self.progress(keys, total=len(keys), desc=label) if (self.progress and keys) else keys
        for key in items:
            if self.stop_requested:
                break
            made, error = self._populate_key(table, key, result)
            if made:
                result.made += 1
                logger.log(logging.INFO if self.log_keys else logging.DEBUG, "made %s %s", label, _short(key))
            elif error is not None:
                result.errors.append((key, error))
                logger.error("%s %s failed: %s", label, _short(key), error.splitlines()[0] if error else error)
        result.seconds = time.monotonic() - start
        if keys or result.errors:
            logger.info(
                "%s: %d made, %d errors, %d transient retries in %.1f s",
                label,
                result.made,
                len(result.errors),
                result.retries,
                result.seconds,
            )
        return result

    def _pending_keys(self, table, restrictions: tuple) -> list[dict]:
        """Refresh the table's job queue (new keys, dead workers' reservations) and list pending keys."""
        import datajoint as dj

        jobs = table.jobs
        refreshed = jobs.refresh(*restrictions, delay=-1, orphan_timeout=self.stale_timeout)
        if refreshed.get("orphaned"):
            logger.warning(
                "%s: %d reservations older than %.0f s freed (their worker died); redoing them",
                table_label(table),
                refreshed["orphaned"],
                self.stale_timeout,
            )
        # Pending jobs whose key left the key source (its session was deleted from the mirror) would fail;
        # DataJoint drops them only after its stale timeout. Nobody works on a pending job: drop them now.
        gone = jobs.pending.restrict(dj.Not(table.key_source.proj()), semantic_check=False).delete_quick(get_count=True)
        if gone:
            logger.info(
                "%s: %d pending jobs dropped, their keys are gone from the key source", table_label(table), gone
            )
        source = table.key_source if not restrictions else table.key_source & restrictions[0]
        pending = (jobs.pending & "scheduled_time <= CURRENT_TIMESTAMP(3)").restrict(
            source.proj(), semantic_check=False
        )
        return pending.keys(order_by="priority ASC, scheduled_time ASC", limit=self.max_calls)

    def _populate_key(self, table, key: dict, result: TableResult) -> tuple[bool, str | None]:
        """Make one key; ``(True, None)`` made, ``(False, message)`` data error, ``(False, None)`` taken by another."""
        label = table_label(table)

        def attempt(retry: bool):
            if retry:  # a transient failure may have left our reservation or an error row: back to pending first
                self._requeue(table, key)
            # DataJoint's populate() would install its own SIGTERM handler that aborts the make and records an
            # error; its per-key step (reserve, make in a transaction, complete or record the error) leaves ours
            # in place, so SIGTERM lets the key finish. Pinned by datajoint<3 and tests/integration/test_workers.
            status = populate_one(table, key)
            if isinstance(status, tuple):
                error = status[1]
                if is_transient(error):
                    raise error  # retried by _retrying
                if vanished.inputs_vanished(error) or vanished.left_key_source(
                    table, key
                ):  # an ingest ran: no data error
                    return False, vanished.REQUEUED if vanished.requeue_or_drop(table, key, label) else None
                return False, _message(error)
            return status is True, None

        for _ in range(vanished.MAX_REQUEUES):
            made, error = self._retrying(label, f"key {_short(key)}", result, attempt)
            if error != vanished.REQUEUED:
                return made, error
        return False, None  # still pending: the next pass makes it

    def _retrying(self, label: str, what: str, result: TableResult, func: Callable):
        """Call ``func(retry)``, retrying transient failures with backoff for up to ``transient_budget`` seconds."""

        def count() -> None:
            result.retries += 1

        return retry_transient(
            func,
            what=f"{label}: {what}",
            budget=self.transient_budget,
            then="left pending for the next run",
            sleep=self.sleep,
            on_retry=count,
            should_stop=lambda: self.stop_requested,
        )

    def _requeue(self, table, key: dict) -> None:
        """Put a key that failed transiently back to pending (it must never stay an error or a stale reservation)."""
        jobs = table.jobs
        pk = {k: key[k] for k in jobs.primary_key if k in key}
        found = (jobs & pk).to_dicts()
        if found and found[0]["status"] in ("error", "reserved") and found[0]["pid"] == os.getpid():
            if found[0]["host"] == self.host:
                jobs.update1({**pk, "status": "pending", "error_message": ""})
                logger.debug("requeued %s (was %s)", _short(pk), found[0]["status"])


def _short(key: dict) -> str:
    """A key as ``name=value`` pairs for a log line."""
    return " ".join(f"{k}={v}" for k, v in key.items())
