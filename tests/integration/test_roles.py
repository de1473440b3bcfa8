"""`iblpipe db grant`: analysts read the pipeline and own user_<name>_*; workers write the pipeline only."""

from __future__ import annotations

import os
import subprocess
import sys

import pymysql
import pytest

from iblpipe import roles
from iblpipe.schemas import reference

ACCESS_DENIED = (1044, 1142)  # to a database (DROP/CREATE DATABASE), to a table (SELECT/INSERT/...)
PID = os.getpid()
ANALYST = f"ana{PID}"
WORKER = f"wrk_{PID}"
STDIN_WORKER = f"wrk_{PID}_stdin"
POWER_USER = f"adm_{PID}"
PASSWORD_LINE = "password (shown once, stored nowhere): "

ANALYST_SCRIPT = """
import sys

import datajoint as dj

from iblpipe import schemas
from iblpipe.schemas import reference

prefix, sandbox = sys.argv[1:3]
schemas.activate(prefix)
own = dj.Schema(sandbox)


@own
class LabNote(dj.Manual):
    definition = '''
    # an analyst's note on a pipeline lab
    -> reference.Lab
    ---
    note : varchar(255)  # free text
    '''


LabNote.insert1({"lab_name": "rolelab", "note": "mine"})
print(len(LabNote * reference.Lab), len(reference.Lab()))
"""

WORKER_SCRIPT = """
import sys

from iblpipe import schemas
from iblpipe.schemas import behavior

schemas.activate(sys.argv[1])
behavior.PsychometricFit.jobs.refresh()
print(behavior.PsychometricFit.jobs.full_table_name)
"""


def cli(repo_root, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m iblpipe ARGS`` with text on stdin (``run_cli`` gives it none)."""
    return python(repo_root, "-m", "iblpipe", *args, stdin=stdin, env=env)


def python(repo_root, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python ARGS`` against the session's server, as the user in ``env`` (DJ_USER, DJ_PASS)."""
    return subprocess.run(
        [sys.executable, *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(repo_root), **(env or {})),
        timeout=300,
    )


def password_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(PASSWORD_LINE)]
    assert len(lines) == 1, result.stdout
    return lines[0].removeprefix(PASSWORD_LINE)


def login(db_server, user: str, password: str) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=db_server["host"], port=db_server["port"], user=user, password=password, autocommit=True
    )


def run(conn, sql: str, args: tuple | None = None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def refused(conn, sql: str) -> int:
    """Run ``sql``, expect the server to refuse it; return the error code."""
    with pytest.raises((pymysql.err.OperationalError, pymysql.err.ProgrammingError)) as info:
        run(conn, sql)
    return info.value.args[0]


@pytest.fixture(scope="module")
def admin(db_server):
    conn = login(db_server, db_server["user"], db_server["password"])
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def accounts(db_server, prefix, admin, repo_root):
    """An analyst and a worker granted on this module's prefix; dropped (with the analyst's schemas) after."""
    reference.Lab.insert1({"lab_name": "rolelab"})
    analyst = cli(repo_root, "--prefix", prefix, "db", "grant", "--analyst", ANALYST)
    worker = cli(repo_root, "db", "grant", "--worker", WORKER, "--prefix", prefix)
    try:
        yield {"analyst": password_of(analyst), "worker": password_of(worker), "outputs": (analyst, worker)}
    finally:
        own = roles.database_pattern(roles.analyst_prefix(ANALYST))
        for (name,) in run(admin, "SHOW DATABASES LIKE %s", (own,)):
            run(admin, f"DROP DATABASE `{name}`")
        for user in (ANALYST, WORKER, STDIN_WORKER, POWER_USER):
            run(admin, "DROP USER IF EXISTS %s@%s", (user, "%"))


@pytest.fixture(scope="module")
def analyst(db_server, accounts):
    conn = login(db_server, ANALYST, accounts["analyst"])
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def worker(db_server, accounts):
    conn = login(db_server, WORKER, accounts["worker"])
    yield conn
    conn.close()


def test_grant_prints_the_grants_and_a_password_that_works(accounts, analyst, worker, prefix):
    analyst_out, worker_out = (r.stdout for r in accounts["outputs"])
    pattern = roles.database_pattern(prefix)
    assert f"GRANT SELECT, REFERENCES ON `{pattern}`.*" in analyst_out
    assert f"GRANT ALL PRIVILEGES ON `user\\_{ANALYST}\\_%`.*" in analyst_out
    assert f"ON `{pattern}`.*" in worker_out and "DROP" not in worker_out
    assert run(analyst, "SELECT CURRENT_USER()")[0][0] == f"{ANALYST}@%"
    assert run(worker, "SELECT CURRENT_USER()")[0][0] == f"{WORKER}@%"
    for result in accounts["outputs"]:
        assert accounts["analyst"] not in result.stderr and accounts["worker"] not in result.stderr


def test_analyst_reads_pipeline_tables(analyst, prefix):
    assert ("rolelab",) in run(analyst, f"SELECT lab_name FROM `{prefix}reference`.`lab`")


def test_analyst_cannot_write_pipeline_tables(analyst, prefix):
    lab = f"`{prefix}reference`.`lab`"
    assert refused(analyst, f"INSERT INTO {lab} (lab_name) VALUES ('mine')") == 1142
    assert refused(analyst, f"DELETE FROM {lab}") == 1142
    assert refused(analyst, f"CREATE TABLE `{prefix}reference`.`mine` (x int)") == 1142


def test_analyst_owns_a_sandbox_but_cannot_drop_pipeline_schemas(analyst, prefix):
    sandbox = f"user_{ANALYST}_sandbox"
    run(analyst, f"CREATE DATABASE `{sandbox}`")
    run(analyst, f"CREATE TABLE `{sandbox}`.`scratch` (x int PRIMARY KEY)")
    run(analyst, f"INSERT INTO `{sandbox}`.`scratch` VALUES (1)")
    run(analyst, f"DROP DATABASE `{sandbox}`")
    assert refused(analyst, f"DROP DATABASE `{prefix}reference`") in ACCESS_DENIED
    assert refused(analyst, f"CREATE DATABASE `{prefix}mine`") in ACCESS_DENIED
    assert refused(analyst, "CREATE DATABASE `user_someoneelse_sandbox`") in ACCESS_DENIED


def test_analyst_declares_datajoint_tables_referencing_the_pipeline(accounts, worker, prefix, repo_root):
    env = {"DJ_USER": ANALYST, "DJ_PASS": accounts["analyst"]}
    script = python(repo_root, "-c", ANALYST_SCRIPT, prefix, f"user_{ANALYST}_notes", env=env)
    assert script.returncode == 0, script.stderr
    assert script.stdout.splitlines()[-1].split() == ["1", "1"]  # datajoint logs to stdout first
    # The price of REFERENCES: the analyst's row now pins the pipeline row it refers to.
    with pytest.raises(pymysql.err.IntegrityError) as pinned:
        run(worker, f"DELETE FROM `{prefix}reference`.`lab` WHERE lab_name = 'rolelab'")
    assert pinned.value.args[0] == 1451
    status = cli(repo_root, "--prefix", prefix, "status", "--json", env=env)
    assert status.returncode == 0, status.stderr


def test_worker_writes_pipeline_tables_and_jobs(accounts, worker, prefix, repo_root):
    lab = f"`{prefix}reference`.`lab`"
    run(worker, f"INSERT INTO {lab} (lab_name) VALUES ('workerlab')")
    run(worker, f"UPDATE {lab} SET institution = 'x' WHERE lab_name = 'workerlab'")
    run(worker, f"DELETE FROM {lab} WHERE lab_name = 'workerlab'")
    env = {"DJ_USER": WORKER, "DJ_PASS": accounts["worker"]}
    jobs = python(repo_root, "-c", WORKER_SCRIPT, prefix, env=env)
    assert jobs.returncode == 0, jobs.stderr
    assert jobs.stdout.splitlines()[-1] == f"`{prefix}behavior`.`~~psychometric_fit`"


def test_worker_cannot_drop_pipeline_schemas_nor_touch_analyst_schemas(worker, analyst, prefix):
    assert refused(worker, f"DROP DATABASE `{prefix}reference`") in ACCESS_DENIED
    assert refused(worker, f"DROP TABLE `{prefix}reference`.`lab`") in ACCESS_DENIED
    sandbox = f"user_{ANALYST}_kept"
    run(analyst, f"CREATE DATABASE IF NOT EXISTS `{sandbox}`")
    run(analyst, f"CREATE TABLE IF NOT EXISTS `{sandbox}`.`t` (x int)")
    assert refused(worker, f"CREATE DATABASE `user_{ANALYST}_byworker`") in ACCESS_DENIED
    assert refused(worker, f"DROP DATABASE `{sandbox}`") in ACCESS_DENIED
    assert refused(worker, f"INSERT INTO `{sandbox}`.`t` VALUES (1)") in ACCESS_DENIED


def test_existing_account_is_refused_unless_reset_password(accounts, db_server, prefix, repo_root):
    again = cli(repo_root, "--prefix", prefix, "db", "grant", "--analyst", ANALYST)
    assert again.returncode == 2 and "already exists; nothing was changed" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and again.stdout == ""
    login(db_server, ANALYST, accounts["analyst"]).close()  # old password still works

    other_role = cli(repo_root, "--prefix", prefix, "db", "grant", "--worker", ANALYST, "--reset-password")
    assert other_role.returncode == 2 and "is an analyst" in other_role.stderr

    reset = cli(repo_root, "--prefix", prefix, "db", "grant", "--analyst", ANALYST, "--reset-password")
    new_password = password_of(reset)
    assert reset.stdout.startswith(f"new password for analyst '{ANALYST}'@'%'")
    with pytest.raises(pymysql.err.OperationalError):
        login(db_server, ANALYST, accounts["analyst"])
    login(db_server, ANALYST, new_password).close()
    accounts["analyst"] = new_password


def test_accounts_with_server_wide_privileges_are_left_alone(admin, prefix, repo_root):
    run(admin, "CREATE USER %s@%s IDENTIFIED BY %s", (POWER_USER, "%", "Power-user-1"))
    run(admin, "GRANT SELECT ON *.* TO %s@%s", (POWER_USER, "%"))
    result = cli(repo_root, "--prefix", prefix, "db", "grant", "--worker", POWER_USER, "--reset-password")
    assert result.returncode == 2 and "holds server-wide privileges" in result.stderr
    assert [row[0] for row in run(admin, "SHOW GRANTS FOR %s@%s", (POWER_USER, "%")) if " ON `" in row[0]] == []


def test_password_from_stdin_is_used_and_not_printed(accounts, db_server, prefix, repo_root):
    secret = "Stdin-given-Passw0rd"
    result = cli(
        repo_root, "--prefix", prefix, "db", "grant", "--worker", STDIN_WORKER, "--password-stdin", stdin=secret
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr and PASSWORD_LINE not in result.stdout
    login(db_server, STDIN_WORKER, secret).close()


def test_never_changes_the_connected_account(db_server, prefix, repo_root):
    result = cli(repo_root, "--prefix", prefix, "db", "grant", "--worker", db_server["user"], "--reset-password")
    assert result.returncode == 2 and "refusing to change the account this command is connected as" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--analyst", "ann", "--worker", "bob"],
        ["--analyst", "ann;drop"],
        ["--analyst", "Ann"],
        ["--analyst", "ann_b"],
        ["--worker", "bob'"],
        ["--worker", "root"],
        ["--worker", "bob", "--host", "10.0.0.1' OR 1"],
        ["--analyst", "ann", "--prefix", "use"],
        ["--worker", "bob", "--prefix", "user_ann_"],
        ["--worker", "bob", "--password-stdin"],
    ],
)
def test_bad_input_exits_2_with_one_line(run_cli, args):
    result = run_cli("db", "grant", *args)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""


def test_grant_help(run_cli):
    result = run_cli("db", "grant", "--help")
    assert result.returncode == 0 and "--analyst USER" in result.stdout and "--reset-password" in result.stdout
