"""Populate workers on the demo lab: many workers = one worker, killed workers, SIGTERM, server restarts, errors.

Workers run as real ``iblpipe populate`` processes against MariaDB. To keep the
module quick, work is restricted to one demo mouse (``--restrict subject=...``):
the recorded mouse for the content comparison (behaviour and ephys tables), a
typical learner for the failure cases.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pymysql
import pytest

from iblpipe import dbserver, schemas
from iblpipe.populate import auto_tables, table_label
from tests.integration.conftest import module_prefix

MADE = re.compile(r"INFO iblpipe\.populate: made (\S+) (.*)$")
WAIT_S = 120  # (s) longest a test waits for a worker to reach a state


def worker_env(db_server, data_root: Path, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), IBLPIPE_DATA_ROOT=str(data_root))
    env.update(DJ_HOST=str(db_server["host"]), DJ_PORT=str(db_server["port"]))
    env.update(DJ_USER=db_server["user"], DJ_PASS=db_server["password"])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(prefix: str, env: dict, log: Path, *args: str) -> subprocess.Popen:
    """``iblpipe --prefix P populate ARGS`` in the background, stderr to ``log``."""
    handle = open(log, "w")  # noqa: SIM115  (closed when the process is reaped, see finish)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iblpipe", "--prefix", prefix, "populate", "--log-keys", "--no-progress", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    proc.log_handle = handle
    return proc


def finish(proc: subprocess.Popen, timeout: float = 600) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        proc.log_handle.close()


def made_keys(*logs: Path) -> Counter:
    """(table, key) -> how many times a worker log says it was made."""
    found = Counter()
    for log in logs:
        for line in log.read_text().splitlines():
            m = MADE.search(line)
            if m:
                found[m.groups()] += 1
    return found


def cli(prefix: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iblpipe", "--prefix", prefix, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def wait_for(condition, what: str, timeout: float = WAIT_S, every: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def mouse_of_insertions(prefix: str) -> str:
    """Nickname of the demo mouse that has probe insertions."""
    from iblpipe.schemas import acquisition, ephys, subject

    schemas.activate(prefix)
    return (subject.Subject & (acquisition.Session & ephys.ProbeInsertion)).to_arrays("subject_nickname")[0]


def other_mouse(prefix: str, not_this: str) -> str:
    from iblpipe.schemas import subject

    schemas.activate(prefix)
    names = sorted(subject.Subject.to_arrays("subject_nickname"))
    return next(n for n in names if n != not_this)


def table_contents(prefix: str) -> dict[str, list]:
    """Every auto-populated table and its Parts as sorted lists of rows (arrays as lists)."""
    schemas.activate(prefix)
    out = {}
    for table in auto_tables():
        for t in (table, *[getattr(table, p) for p in dir(table) if p[:1].isupper() and hasattr(table, p)]):
            if not hasattr(t, "full_table_name"):
                continue
            rows = t.to_dicts()
            norm = sorted(
                repr({k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()})
                for r in rows
            )
            out[f"{table_label(table)}.{t.__name__}"] = norm
    return out


@pytest.fixture(scope="module")
def lab_copy(demo_lab, tmp_path_factory) -> Path:
    """A private copy of the demo lab's files (tests here break and mend sessions)."""
    dest = tmp_path_factory.mktemp("workers_lab") / "lab"
    shutil.copytree(demo_lab, dest)
    return dest


@pytest.fixture(scope="module")
def prefixes(db_server, lab_copy):
    """Two schema prefixes with the demo dump mirrored: one for a single worker, one for three."""
    names = [module_prefix(__name__) + "one_", module_prefix(__name__) + "three_"]
    env = worker_env(db_server, lab_copy)
    for name in names:
        schemas.drop(name)
        rc = cli(name, env, "ingest", "--source", f"dump:{lab_copy / 'alyx_dump.json'}")
        assert rc.returncode == 0, rc.stderr
    yield names
    for name in names:
        schemas.drop(name)


def test_three_workers_make_exactly_what_one_worker_makes(db_server, lab_copy, prefixes, tmp_path):
    one, three = prefixes
    env = worker_env(db_server, lab_copy)
    mouse = mouse_of_insertions(one)
    restrict = ("--restrict", f"subject={mouse}")

    solo = start_worker(one, env, tmp_path / "solo.log", *restrict)
    assert finish(solo) == 0, (tmp_path / "solo.log").read_text()[-3000:]
    # three workers: one with --processes 2 (two child workers) and one more process, started together
    pair = start_worker(three, env, tmp_path / "pair.log", *restrict, "--processes", "2")
    single = start_worker(three, env, tmp_path / "single.log", *restrict)
    assert finish(pair) == 0, (tmp_path / "pair.log").read_text()[-3000:]
    assert finish(single) == 0, (tmp_path / "single.log").read_text()[-3000:]

    solo_made = made_keys(tmp_path / "solo.log")
    team_made = made_keys(tmp_path / "pair.log", tmp_path / "single.log")
    assert {t for t, _ in solo_made} >= {"behavior.TrialSet", "behavior.TrainingStatus", "ephys.Clusters"}
    assert max(team_made.values()) == 1, [k for k, n in team_made.items() if n > 1]  # no key made twice
    assert set(team_made) == set(solo_made)
    pids = {line.split()[2] for line in (tmp_path / "pair.log").read_text().splitlines() if MADE.search(line)}
    pids |= {line.split()[2] for line in (tmp_path / "single.log").read_text().splitlines() if MADE.search(line)}
    assert len(pids) == 3  # every worker made some keys

    solo_rows, team_rows = table_contents(one), table_contents(three)
    assert sum(len(v) for v in solo_rows.values()) > 1000
    assert team_rows == solo_rows


def _waiting_for(conn, query: str) -> int:
    """How many running queries that start with ``table`` wait for a lock."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting%%' AND INFO LIKE %s",
            (f"{query}%",),
        )
        return cur.fetchone()[0]


def test_killed_worker_leaves_no_rows_and_its_key_is_redone_after_the_stale_timeout(
    db_server, lab_copy, prefixes, tmp_path
):
    from iblpipe.schemas import acquisition, behavior, subject

    one = prefixes[0]
    env = worker_env(db_server, lab_copy)
    schemas.activate(one)
    mouse = other_mouse(one, mouse_of_insertions(one))
    session = (acquisition.Session * subject.Subject & {"subject_nickname": mouse}).keys(
        order_by="session_start_time", limit=1
    )[0]
    session_uuid = str(session["session_uuid"])
    assert not behavior.TrialSet & session

    # Lock the Trial part table: the worker's insert into Trials waits (foreign-key metadata lock), mid-make.
    connect = dict(host=db_server["host"], port=int(db_server["port"]), user=db_server["user"])
    blocker = pymysql.connect(**connect, password=db_server["password"])
    watcher = pymysql.connect(**connect, password=db_server["password"], autocommit=True)
    try:
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLES `{one}behavior`.`_trial_set__trial` WRITE")
        victim = start_worker(
            one, env, tmp_path / "victim.log", "--tables", "behavior.TrialSet", "--restrict", f"session={session_uuid}"
        )
        wait_for(
            lambda: _waiting_for(watcher, f"INSERT INTO `{one}behavior`.`_trial_set`"), "the worker to wait, mid-make"
        )
        victim.send_signal(signal.SIGKILL)
        assert finish(victim) == -signal.SIGKILL
        with blocker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
    finally:
        blocker.close()
        watcher.close()

    schemas.activate(one)
    assert len(behavior.TrialSet & session) == 0 and len(behavior.Trials & session) == 0  # nothing partial
    job = (behavior.TrialSet.jobs & session).to_dicts()
    assert [j["status"] for j in job] == ["reserved"] and job[0]["pid"] == victim.pid

    # A worker with the default stale timeout leaves the dead worker's reservation alone ...
    patient = cli(one, env, "populate", "--tables", "behavior.TrialSet", "--restrict", f"session={session_uuid}")
    assert patient.returncode == 0, patient.stderr
    assert len(behavior.TrialSet & session) == 0
    # ... one run after the stale timeout frees it and makes the key.
    time.sleep(1.5)
    rescue = cli(
        one,
        env,
        "populate",
        "--tables",
        "behavior.TrialSet",
        "--restrict",
        f"session={session_uuid}",
        "--stale-timeout",
        "1",
    )
    assert rescue.returncode == 0, rescue.stderr
    assert "reservations older than 1 s freed" in rescue.stderr
    schemas.activate(one)
    n_trials = (behavior.TrialSet & session).fetch1("n_trials")
    assert n_trials == len(behavior.Trials & session) > 0
    assert len(behavior.TrialSet.jobs & session & "status = 'reserved'") == 0


def test_sigterm_finishes_the_current_key_and_exits_cleanly(db_server, lab_copy, prefixes, tmp_path):
    from iblpipe.schemas import acquisition, behavior, subject

    one = prefixes[0]
    env = worker_env(db_server, lab_copy)
    mouse = other_mouse(one, mouse_of_insertions(one))
    log = tmp_path / "term.log"
    schemas.activate(one)
    mine = acquisition.Session * subject.Subject & {"subject_nickname": mouse}
    trials_before = len(behavior.TrialSet & mine)
    worker = start_worker(
        one, env, log, "--tables", "behavior.TrialSet,behavior.PsychometricFit", "--restrict", f"subject={mouse}"
    )
    wait_for(lambda: len(made_keys(log)) >= 2, "two keys made")
    worker.send_signal(signal.SIGTERM)
    assert finish(worker, timeout=60) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "stop requested" in text and "Traceback" not in text

    schemas.activate(one)
    sessions = len(mine)
    done = behavior.TrialSet & mine
    assert 0 < len(done) < sessions or len(behavior.PsychometricFit & mine) < sessions
    # every made session is whole, nothing is left reserved or marked as an error
    counts = done.to_pandas()["n_trials"]
    parts = (behavior.Trials & mine).to_pandas().reset_index().groupby("session_uuid").size()
    assert counts.sort_index().to_numpy().tolist() == parts.sort_index().to_numpy().tolist()
    for table in (behavior.TrialSet, behavior.PsychometricFit):
        assert len(table.jobs & "status in ('reserved', 'error')") == 0
    made = made_keys(log)
    assert sum(n for (table, _), n in made.items() if table == "behavior.TrialSet") == len(done) - trials_before


def test_data_error_is_recorded_once_reported_and_retried(db_server, lab_copy, prefixes, tmp_path):
    from iblpipe.schemas import acquisition, behavior, subject

    one = prefixes[0]
    env = worker_env(db_server, lab_copy)
    schemas.activate(one)
    mouse = other_mouse(one, mouse_of_insertions(one))
    mine = acquisition.Session * subject.Subject & {"subject_nickname": mouse}
    last = mine.to_dicts(order_by="session_start_time DESC", limit=1)[0]
    (behavior.TrialSet & {"session_uuid": last["session_uuid"]}).delete(prompt=False, part_integrity="cascade")
    alf = (
        lab_copy
        / last["session_lab"]
        / "Subjects"
        / mouse
        / last["session_start_time"].date().isoformat()
        / f"{last['session_number']:03d}"
        / "alf"
    )
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for path in alf.glob("_ibl_trials.*"):
        shutil.move(path, hidden / path.name)
    restrict = ("--tables", "behavior.TrialSet", "--restrict", f"subject={mouse}")

    try:
        failed = cli(one, env, "populate", *restrict)
        assert failed.returncode == 1, failed.stderr
        assert str(last["session_uuid"]) in failed.stderr
        errors = json.loads(cli(one, env, "errors", "--table", "behavior.TrialSet", "--json").stdout)
        assert [e["key"]["session_uuid"] for e in errors] == [str(last["session_uuid"])]
        assert "trials" in errors[0]["message"]
        status = json.loads(cli(one, env, "status", "--json").stdout)
        trials = next(t for t in status["tables"] if t["table"] == "behavior.TrialSet")
        assert trials["errors"] == 1 and trials["newest_error"]

        again = cli(one, env, "populate", *restrict)  # recorded once: not retried, not a new failure
        assert again.returncode == 0, again.stderr
        assert len(json.loads(cli(one, env, "errors", "--json").stdout)) == 1
    finally:
        for path in hidden.iterdir():
            shutil.move(path, alf / path.name)

    retried = cli(one, env, "errors", "--table", "behavior", "--retry")
    assert retried.returncode == 0 and "requeued 1" in retried.stderr
    fixed = cli(one, env, "populate", *restrict)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(cli(one, env, "errors", "--json").stdout) == []
    schemas.activate(one)
    assert len(behavior.TrialSet & {"session_uuid": last["session_uuid"]}) == 1


def test_worker_survives_a_server_restart(lab_copy, tmp_path):
    """A private server restarted mid-run: the worker retries, reconnects and finishes every key."""
    home = tmp_path / "home"
    info = dbserver.start(home)
    try:
        server = {"host": info.host, "port": info.port, "user": info.user, "password": info.password}
        env = worker_env(server, lab_copy, IBLPIPE_HOME=home)
        prefix = "restart_"
        assert cli(prefix, env, "ingest", "--source", f"dump:{lab_copy / 'alyx_dump.json'}").returncode == 0
        mouse = _first_mouse(server, prefix)
        log = tmp_path / "restart.log"
        worker = start_worker(prefix, env, log, "--tables", "behavior.TrialSet", "--restrict", f"subject={mouse}")
        wait_for(lambda: len(made_keys(log)) >= 2, "two keys made")
        dbserver.stop(home)
        time.sleep(1)
        restarted = dbserver.start(home)
        assert restarted.port == info.port
        assert finish(worker, timeout=300) == 0, log.read_text()[-3000:]
        text = log.read_text()
        assert "failed transiently" in text
        status = json.loads(cli(prefix, env, "status", "--json").stdout)
        trials = next(t for t in status["tables"] if t["table"] == "behavior.TrialSet")
        assert trials["errors"] == 0 and trials["reserved"] == 0
        made = made_keys(log)
        assert max(made.values()) == 1
        assert trials["rows"] == len(made) == _sessions_of(server, prefix, mouse)
    finally:
        dbserver.stop(home)


def _query(server: dict, sql: str, args=()) -> list[tuple]:
    conn = pymysql.connect(
        host=server["host"], port=int(server["port"]), user=server["user"], password=server["password"]
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def _first_mouse(server: dict, prefix: str) -> str:
    return _query(server, f"SELECT MIN(subject_nickname) FROM `{prefix}subject`.`subject`")[0][0]


def _sessions_of(server: dict, prefix: str, mouse: str) -> int:
    return _query(
        server,
        f"SELECT COUNT(*) FROM `{prefix}acquisition`.`session` JOIN `{prefix}subject`.`subject` USING (subject_uuid) "
        "WHERE subject_nickname = %s",
        (mouse,),
    )[0][0]


def test_parse_errors_are_one_line(db_server, lab_copy, prefixes):
    env = worker_env(db_server, lab_copy)
    for args, text in (
        (("--tables", "nope"), "unknown table or schema 'nope'"),
        (("--restrict", "mouse=x"), "NAME one of subject, lab, session"),
        (("--processes", "0"), "--processes 0"),
        (("--duration", "5"), "--duration goes with --loop"),
    ):
        out = cli(prefixes[0], env, "populate", *args)
        assert out.returncode == 2 and text in out.stderr and "Traceback" not in out.stderr, out.stderr
    no_root = dict(env)
    no_root.pop("IBLPIPE_DATA_ROOT")
    out = cli(prefixes[0], no_root, "populate", "--tables", "behavior")
    assert out.returncode == 2 and "IBLPIPE_DATA_ROOT is not set" in out.stderr


def test_queued_keys_of_a_session_deleted_from_the_mirror_are_dropped_not_failed(db_server, lab_copy, prefixes):
    from iblpipe.schemas import acquisition, behavior, subject

    three = prefixes[1]
    env = worker_env(db_server, lab_copy)
    schemas.activate(three)
    mouse = other_mouse(three, mouse_of_insertions(three))
    mine = acquisition.Session * subject.Subject & {"subject_nickname": mouse}
    behavior.TrialSet.jobs.refresh(mine.proj(), delay=-1)  # queued by an earlier run
    queued = len(behavior.TrialSet.jobs.pending.restrict(mine.proj(), semantic_check=False))
    gone = mine.keys(order_by="session_start_time DESC", limit=1)[0]
    # what ingest does to a record gone from Alyx
    (acquisition.Session & gone).delete(prompt=False, part_integrity="cascade")
    assert len(behavior.TrialSet.jobs.pending & gone) == 1

    out = cli(three, env, "populate", "--tables", "behavior.TrialSet", "--restrict", f"subject={mouse}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 pending jobs dropped" in out.stderr
    schemas.activate(three)
    assert len(behavior.TrialSet & mine) == queued - 1 == len(mine)
    assert len(behavior.TrialSet.jobs & gone) == 0 and len(behavior.TrialSet.jobs.errors) == 0
