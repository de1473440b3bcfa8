"""A worker account runs ingest and populate on the demo lab, and cannot ALTER, DROP or TRUNCATE pipeline tables."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from iblpipe import roles
from iblpipe.schemas import acquisition, behavior
from tests.integration.test_roles import cli, login, refused, run

WORKER = f"wrk_{os.getpid()}_demo"
OLD_WORKER = f"wrk_{os.getpid()}_old"
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
    for user in (WORKER, OLD_WORKER):
        run(conn, "DROP USER IF EXISTS %s@%s", (user, "%"))
    conn.close()


@pytest.fixture(scope="module")
def worker_env(admin, prefix, demo_lab):
    roles.grant_role(admin, roles.WORKER, WORKER, password=PASSWORD, prefix=prefix)
    return {"DJ_USER": WORKER, "DJ_PASS": PASSWORD, "IBLPIPE_DATA_ROOT": str(demo_lab)}


def test_worker_ingests_and_populates(worker_env, prefix, demo_lab, repo_root):
    dump = demo_lab / "alyx_dump.json"
    ingest = cli(repo_root, "--prefix", prefix, "ingest", "--source", f"dump:{dump}", env=worker_env)
    assert ingest.returncode == 0, ingest.stderr
    assert len(acquisition.Session()) == sum(it["model"] == "actions.session" for it in json.loads(dump.read_text()))
    mouse = next(it["fields"]["nickname"] for it in json.loads(dump.read_text()) if it["model"] == "subjects.subject")
    tables = "behavior.Trials,behavior.PsychometricFit"
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
        "TRUNCATE TABLE {behavior}.`_trials__trial`",
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
