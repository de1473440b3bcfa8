"""A worker account runs ingest and populate on the demo lab, and cannot ALTER, DROP or TRUNCATE pipeline tables."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from iblpipe import roles
from iblpipe.schemas import acquisition, behavior
from tests.integration.test_roles import cli, login, python, refused, run

WORKER = f"wrk_{os.getpid()}_demo"
OLD_WORKER = f"wrk_{os.getpid()}_old"
ANALYST = f"ana{os.getpid()}demo"
PASSWORD = "Worker-demo-passw0rd"
# What roles.WORKER_PRIVILEGES held before: an account granted then keeps them until its grants are re-applied.
OLD_PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES"
)
DENIED = (1142, 1143)  # command denied on a table, on a column


@pytest.fixture(scope="module")
def admin(db_server):
    conn = login(db_server, db_server["user"], db_server["password"])
    yield conn
    for user in (WORKER, OLD_WORKER, ANALYST):
        run(conn, "DROP USER IF EXISTS %s@%s", (user, "%"))
    conn.close()


@pytest.fixture(scope="module")
def worker_env(admin, prefix, demo_lab):
    roles.grant_role(admin, roles.WORKER, WORKER, password=PASSWORD, prefix=prefix)
    return {"DJ_USER": WORKER, "DJ_PASS": PASSWORD, "IBLPIPE_DATA_ROOT": str(demo_lab)}


@pytest.fixture(scope="module")
def ingested(worker_env, prefix, demo_lab, repo_root):
    """The demo lab's dump, ingested by the worker: the ``iblpipe ingest`` run."""
    dump = demo_lab / "alyx_dump.json"
    return cli(repo_root, "--prefix", prefix, "ingest", "--source", f"dump:{dump}", env=worker_env)


@pytest.fixture(scope="module")
def analyst_env(admin, prefix, demo_lab):
    roles.grant_role(admin, roles.ANALYST, ANALYST, password=PASSWORD, prefix=prefix)
    return {"DJ_USER": ANALYST, "DJ_PASS": PASSWORD, "IBLPIPE_DATA_ROOT": str(demo_lab)}


def test_worker_ingests_and_populates(ingested, worker_env, prefix, demo_lab, repo_root):
    dump = demo_lab / "alyx_dump.json"
    assert ingested.returncode == 0, ingested.stderr
    assert len(acquisition.Session()) == sum(it["model"] == "actions.session" for it in json.loads(dump.read_text()))
    mouse = next(it["fields"]["nickname"] for it in json.loads(dump.read_text()) if it["model"] == "subjects.subject")
    tables = "behavior.TrialSet,behavior.PsychometricFit"
    populate = cli(repo_root, "--prefix", prefix, "populate", "--tables", tables, "--restrict", f"subject={mouse}",
                   env=worker_env)  # fmt: skip
    assert populate.returncode == 0, populate.stderr
    assert len(behavior.Trials()) > 0 and len(behavior.PsychometricFit()) > 0
    # an update-only ingest that invalidates computed rows, as the worker
    items = json.loads(dump.read_text())
    session = next(
        it
        for it in items
        if it["model"] == "actions.session" and (behavior.Trials & {"session_uuid": uuid.UUID(it["pk"])})
    )
    session["fields"]["task_protocol"] = "_iblrig_tasks_trainingChoiceWorld6.4.1"
    changed = demo_lab.parent / f"{prefix}changed.json"
    changed.write_text(json.dumps(items))
    again = cli(repo_root, "--prefix", prefix, "ingest", "--source", f"dump:{changed}", env=worker_env)
    assert again.returncode == 0, again.stderr
    assert "updated: session 1" in again.stdout and "invalidated computed rows" in again.stdout
    assert not behavior.Trials & {"session_uuid": uuid.UUID(session["pk"])}


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE {reference}.`lab` DROP COLUMN `address`",
        "ALTER TABLE {reference}.`lab` ADD COLUMN `x` int",
        "ALTER TABLE {acquisition}.`session` DROP FOREIGN KEY `session_ibfk_1`",
        "CREATE INDEX `by_address` ON {reference}.`lab` (`address`)",
        "DROP TABLE {reference}.`lab`",
        "TRUNCATE TABLE {reference}.`lab`",
        "TRUNCATE TABLE {behavior}.`_trial_set__trial`",
        "RENAME TABLE {reference}.`lab` TO {reference}.`lab_old`",
    ],
)
def test_worker_cannot_alter_drop_or_truncate(worker_env, db_server, prefix, sql):
    names = {s: f"`{prefix}{s}`" for s in ("reference", "acquisition", "behavior")}
    conn = login(db_server, WORKER, PASSWORD)
    try:
        assert refused(conn, sql.format(**names)) in DENIED
    finally:
        conn.close()


def test_reset_password_takes_old_worker_privileges_away(admin, db_server, prefix):
    pattern = roles.database_pattern(prefix).replace("%", "%%")
    run(admin, "CREATE USER %s@%s IDENTIFIED BY %s", (OLD_WORKER, "%", PASSWORD))
    run(admin, f"GRANT {OLD_PRIVILEGES} ON `{pattern}`.* TO %s@%s", (OLD_WORKER, "%"))
    scratch = f"`{prefix}reference`.`scratch_alter`"
    run(admin, f"CREATE TABLE {scratch} (x int PRIMARY KEY)")
    try:
        conn = login(db_server, OLD_WORKER, PASSWORD)
        run(conn, f"ALTER TABLE {scratch} ADD COLUMN y int")  # what the issue found a worker could do
        conn.close()
        roles.grant_role(admin, roles.WORKER, OLD_WORKER, password=PASSWORD, prefix=prefix, reset_password=True)
        grants = " ".join(row[0] for row in run(admin, "SHOW GRANTS FOR %s@%s", (OLD_WORKER, "%")))
        assert "ALTER" not in grants and "INDEX" not in grants and "LOCK" not in grants
        conn = login(db_server, OLD_WORKER, PASSWORD)
        try:
            assert refused(conn, f"ALTER TABLE {scratch} DROP COLUMN y") in DENIED
        finally:
            conn.close()
    finally:
        run(admin, f"DROP TABLE {scratch}")


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if " ERROR " in line or "Traceback" in line]


@pytest.mark.parametrize("command", ["ingest", "populate"])
def test_an_analyst_running_ingest_or_populate_gets_one_line(
    ingested, analyst_env, prefix, demo_lab, repo_root, command
):
    args = {
        "ingest": ["ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}"],
        "populate": ["populate", "--tables", "behavior.TrialSet"],
    }[command]
    done = cli(repo_root, "--prefix", prefix, *args, env=analyst_env)
    assert done.returncode == 2, done.stderr
    lines = error_lines(done)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"iblpipe {command}: the database refused it (" in lines[0] and "denied to user" in lines[0]
    assert "iblpipe db grant --worker NAME" in lines[0]
    verbose = cli(repo_root, "--prefix", prefix, "-v", *args, env=analyst_env)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


@pytest.mark.parametrize(
    ("restrict", "says"),
    [
        ("subject=NOPE", "--restrict subject=NOPE: no subject 'NOPE' in the mirror; check the spelling"),
        ("session=abc' OR '1'='1", "--restrict session=\"abc' OR '1'='1\": not a session uuid"),
        ("lab=nolab", "--restrict lab=nolab: no lab 'nolab' in the mirror"),
    ],
)
def test_populate_restriction_matching_nothing_says_so(ingested, worker_env, prefix, repo_root, restrict, says):
    done = cli(repo_root, "--prefix", prefix, "populate", "--restrict", restrict, env=worker_env)
    assert done.returncode == 2, done.stderr
    lines = error_lines(done)
    assert len(lines) == 1 and says in lines[0], done.stderr


NOTE_SCRIPT = """
import sys
import uuid

import datajoint as dj

from iblpipe import schemas
from iblpipe.schemas import acquisition

prefix, sandbox, session = sys.argv[1:4]
schemas.activate(prefix)
own = dj.Schema(sandbox)


@own
class SessionNote(dj.Manual):
    definition = '''
    # an analyst's note on a pipeline session
    -> acquisition.Session
    ---
    note : varchar(255)  # free text
    '''


SessionNote.insert1({"session_uuid": uuid.UUID(session), "note": "mine"})
"""


def test_a_session_pinned_by_an_analyst_row_stops_the_ingest_in_one_line(
    ingested, analyst_env, worker_env, admin, prefix, demo_lab, repo_root
):
    items = json.loads((demo_lab / "alyx_dump.json").read_text())
    session = next(it["pk"] for it in items if it["model"] == "actions.session")
    sandbox = f"user_{ANALYST}_notes"
    note = python(repo_root, "-c", NOTE_SCRIPT, prefix, sandbox, session, env=analyst_env)
    assert note.returncode == 0, note.stderr
    try:
        gone = {session} | {it["pk"] for it in items if it["fields"].get("session") == session}
        gone |= {it["pk"] for it in items if it["fields"].get("probe_insertion") in gone}
        path = demo_lab.parent / f"{prefix}pinned.json"
        path.write_text(json.dumps([it for it in items if it["pk"] not in gone]))
        done = cli(repo_root, "--prefix", prefix, "ingest", "--source", f"dump:{path}", env=worker_env)
        assert done.returncode == 2, done.stderr
        lines = error_lines(done)
        assert len(lines) == 1 and f"rows of `{sandbox}`.`session_note` (not a pipeline table" in lines[0], done.stderr
        assert "collided with another writer" not in done.stderr  # not retried: waiting would not help
        assert len(acquisition.Session & {"session_uuid": uuid.UUID(session)}) == 1
    finally:
        run(admin, f"DROP DATABASE IF EXISTS `{sandbox}`")
