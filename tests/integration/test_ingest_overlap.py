"""An ingest overlapping a make, interleaved at a known point: no result computed from old metadata survives.

The make (SessionSummary, in this process) is held after it has read its session; the ingest runs
in another process meanwhile (as on another host). The make and the ingest are interleaved by
waiting for the ingest to finish or to wait for a lock (``information_schema.innodb_trx``), so the
order is fixed and the test never depends on timing.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid

import pymysql
import pytest

from iblpipe import mirror as M
from iblpipe import schemas
from iblpipe.populate import Worker, auto_tables
from iblpipe.schemas import acquisition, behavior
from iblpipe.sources.alyx_dump import from_dumpdata, read_dump
from tests.alyx_fixtures import small_dump
from tests.integration.mirror_helpers import MAKE_PAUSES, checksums, reset, summary_table
from tests.integration.test_concurrent_commands import env_for
from tests.integration.test_workers import wait_for

WAIT_LIMIT_S = 300  # (s) a wait for the other process that takes longer than this fails the test (a hang, not a timing)
# InnoDB refreshes what information_schema.innodb_trx shows only when nobody read it for 0.1 s
# (trx0i_s.cc, CACHE_MIN_IDLE_TIME_US): a watcher polling faster sees its first answer for ever.
POLL_S = 0.25  # (s) pause between two looks at the server's transactions
NEW_PROTOCOL = "_iblrig_tasks_biasedChoiceWorld8.0.0_longer"  # (text) the task protocol the ingest writes
# The ingest of another process, with the test table bound so its invalidation reaches it.
INGEST = """
import sys
from iblpipe.operations import activate
from iblpipe.mirror import mirror
from iblpipe.sources.alyx_dump import read_dump
from tests.integration.mirror_helpers import session_summary
activate(sys.argv[1])
session_summary(sys.argv[2])
print(mirror(read_dump(sys.argv[3])).summary())
"""


@pytest.fixture(scope="module")
def summary(prefix):
    with summary_table(prefix + "overlap") as table:
        yield table


@pytest.fixture
def watcher(db_server):
    """A third connection that looks at the server's transactions."""
    conn = pymysql.connect(
        host=db_server["host"],
        port=db_server["port"],
        user=db_server["user"],
        password=db_server["password"],
        autocommit=True,  # a transaction would see its first answer again
    )
    yield conn
    conn.close()


def lock_waits(conn, prefix: str) -> int:
    """Transactions now waiting for a lock on a table under ``prefix``."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE %s",
            ("%" + prefix + "%",),
        )
        return cursor.fetchone()[0]


def wait_for_ingest(condition, watcher) -> None:
    """Poll ``condition`` (the ingest ended or waits) every ``POLL_S``; after ``WAIT_LIMIT_S`` fail with what
    ``watcher`` sees on the server (which lock a hang waits on)."""
    try:
        wait_for(condition, "the ingest to end or wait", timeout=WAIT_LIMIT_S, every=POLL_S)
    except AssertionError as err:
        raise AssertionError(f"{err}{processlist(watcher)}") from None


def processlist(conn) -> str:
    """What every connection of the server is doing: which lock a hang waits on."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT id, command, time, state, LEFT(info, 300) FROM information_schema.processlist")
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT trx_mysql_thread_id, trx_state, trx_isolation_level, LEFT(trx_query, 200) FROM information_schema.innodb_trx"
        )
        rows += cursor.fetchall()
        return "".join(f"\n  {row}" for row in rows)


def start_ingest(db_server, repo_root, prefix: str, path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", INGEST, prefix, prefix + "overlap", str(path)],
        env=env_for(db_server, repo_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expected_lengths() -> dict:
    uuids, protocols = acquisition.Session().to_arrays("session_uuid", "task_protocol")
    return {u: len(p or "") for u, p in zip(uuids, protocols, strict=True)}


def test_a_make_overlapping_an_update_only_ingest_keeps_no_result_of_the_old_metadata(
    summary, prefix, db_server, repo_root, watcher, tmp_path
):
    reset()
    items = small_dump(n_labs=1, n_mice=1, n_sessions=2)
    M.mirror(from_dumpdata(items))
    edited = copy.deepcopy(items)
    session = next(it for it in edited if it["model"] == "actions.session")
    session["fields"]["task_protocol"] = NEW_PROTOCOL
    path = tmp_path / "updated.json"
    path.write_text(json.dumps(edited))
    held = {"session_uuid": uuid.UUID(session["pk"])}
    runs, waited = [], []

    def run_ingest_meanwhile(key):
        """Held after reading the old protocol: the ingest runs until it ends or waits for this make."""
        if key["session_uuid"] != held["session_uuid"] or runs:
            return
        runs.append(start_ingest(db_server, repo_root, prefix, path))
        wait_for_ingest(lambda: runs[0].poll() is not None or lock_waits(watcher, prefix), watcher)
        waited.append(runs[0].poll() is None)

    MAKE_PAUSES.append(run_ingest_meanwhile)
    try:
        first = Worker([summary]).run()
    finally:
        MAKE_PAUSES.clear()
    out, err = runs[0].communicate(timeout=WAIT_LIMIT_S)
    assert runs[0].returncode == 0, err
    assert first.ok, first.errors
    assert waited == [True]  # the ingest waited for the held make (the fence), rather than writing under it
    assert "0 inserted, 1 updated, 0 deleted" in out, out
    assert (acquisition.Session & held).fetch1("task_protocol") == NEW_PROTOCOL
    second = Worker([summary]).run()
    assert second.ok and len(summary.jobs.errors) == 0
    uuids, lengths = summary().to_arrays("session_uuid", "protocol_length")
    assert dict(zip(uuids, lengths, strict=True)) == expected_lengths()
    assert len(summary.Part()) == len(summary())


GONE_SESSIONS = 2  # (sessions) of the watched mouse the second dump no longer has


def reduced_dump(items: list, mouse_pk: str, out) -> list[str]:
    """Write ``items`` without ``GONE_SESSIONS`` sessions of ``mouse_pk`` (none with a probe insertion); their pks."""
    inserted = {it["fields"]["session"] for it in items if it["model"] == "experiments.probeinsertion"}
    mine = [
        it["pk"]
        for it in items
        if it["model"] == "actions.session" and it["fields"]["subject"] == mouse_pk and it["pk"] not in inserted
    ]
    gone = set(sorted(mine)[:GONE_SESSIONS])
    kept = [copy.deepcopy(it) for it in items if it["pk"] not in gone]
    for it in kept:  # as Alyx does: a water administration outlives its session
        if it["model"] == "actions.wateradministration" and it["fields"].get("session") in gone:
            it["fields"]["session"] = None
    out.write_text(json.dumps(kept))
    return sorted(gone)


def table_sums(prefix: str) -> dict[str, int]:
    """Row checksum of every table under ``prefix`` by ``schema.table`` without the prefix, but for bookkeeping.

    Left out: jobs tables (``~~``: who made what, when), IngestRun (when each ingest ran) and
    MirrorFence (how many ingests ran).
    """
    out = {}
    for full, value in checksums(prefix).items():
        db, name = (part.strip("`") for part in full.split("."))
        if not name.startswith("~") and name not in ("ingest_run", "mirror_fence"):
            out[f"{db.removeprefix(prefix)}.{name}"] = value
    return out


def test_an_ingest_deleting_sessions_while_a_worker_holds_a_make_succeeds_and_equals_a_clean_run(
    demo_lab, prefix, db_server, repo_root, watcher, tmp_path, set_data_root, monkeypatch
):
    set_data_root(demo_lab)
    items = json.loads((demo_lab / "alyx_dump.json").read_text())
    mice = {it["pk"]: it["fields"]["nickname"] for it in items if it["model"] == "subjects.subject"}
    with_insertions = {
        it["fields"]["subject"]
        for it in items
        if it["model"] == "actions.session"
        and it["pk"] in {i["fields"]["session"] for i in items if i["model"] == "experiments.probeinsertion"}
    }
    mouse_pk = sorted(set(mice) - with_insertions)[0]
    restrict = {"subject": mice[mouse_pk]}
    reduced = tmp_path / "reduced.json"
    gone = reduced_dump(items, mouse_pk, reduced)
    ref, race = prefix + "ref_", prefix + "race_"
    try:
        # the clean run: the reduced dump mirrored, then populated
        schemas.activate(ref)
        M.mirror(read_dump(reduced))
        assert Worker(auto_tables(), restrict=restrict).run().ok
        expected = table_sums(ref)

        # the race: a worker holds the make of a session the ingest deletes, until the ingest waits for it
        schemas.activate(race)
        M.mirror(read_dump(demo_lab / "alyx_dump.json"))
        runs, waited = [], []
        make_insert = behavior.TrialSet.make_insert

        def held(self, key, *args):
            if str(key["session_uuid"]) == gone[0] and not runs:
                runs.append(start_cli_ingest(db_server, repo_root, race, reduced))
                wait_for_ingest(lambda: runs[0].poll() is not None or lock_waits(watcher, race), watcher)
                waited.append(runs[0].poll() is None)
            return make_insert(self, key, *args)

        monkeypatch.setattr(behavior.TrialSet, "make_insert", held)
        report = Worker(auto_tables(), restrict=restrict).run()
        monkeypatch.undo()
        assert waited == [True], "the worker never held the make, or the ingest did not wait for it"
        out, err = runs[0].communicate(timeout=WAIT_LIMIT_S)
        assert runs[0].returncode == 0, err
        assert f"deleted: session {GONE_SESSIONS}\n" in out and "behavior._trial_set " in out, (
            out
        )  # the held make's rows
        assert report.ok, report.errors
        assert Worker(auto_tables(), restrict=restrict).run().ok  # what the race left undone, as a nightly would
        assert sum(len(t.jobs.errors) for t in auto_tables()) == 0
        got = table_sums(race)
        assert {name for name in expected if expected[name] != got.get(name)} == set()
        assert set(got) == set(expected)
    finally:
        schemas.drop(ref)
        schemas.drop(race)
        schemas.activate(prefix)


def start_cli_ingest(db_server, repo_root, prefix: str, path) -> subprocess.Popen:
    """``iblpipe --prefix PREFIX ingest --source dump:PATH`` in another process."""
    return subprocess.Popen(
        [sys.executable, "-m", "iblpipe", "--prefix", prefix, "ingest", "--source", f"dump:{path}"],
        env=env_for(db_server, repo_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
