"""Commands started together against one database: they take turns declaring schemas, one nightly runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pymysql

from iblpipe import schemas
from tests.integration.conftest import module_prefix

N_PROCESSES = 3  # (count) commands started at once on a fresh prefix

ACTIVATE = "import sys; from iblpipe.operations import activate; activate(sys.argv[1]); print('ok')"


def env_for(db_server, repo_root, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo_root), DJ_HOST=str(db_server["host"]), DJ_PORT=str(db_server["port"]))
    env.update(DJ_USER=db_server["user"], DJ_PASS=db_server["password"], **extra)
    return env


def test_commands_started_together_on_a_fresh_database_take_turns(db_server, repo_root):
    prefix = module_prefix(__name__) + "fresh_"
    schemas.drop(prefix)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ACTIVATE, prefix],
                env=env_for(db_server, repo_root),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(N_PROCESSES)
        ]
        results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        for code, out, err in results:
            assert code == 0 and out.strip().endswith("ok"), err
    finally:
        schemas.drop(prefix)


def test_a_second_nightly_on_another_host_says_so_in_one_line(db_server, repo_root, prefix, tmp_path):
    holder = pymysql.connect(
        host=db_server["host"], port=db_server["port"], user=db_server["user"], password=db_server["password"]
    )
    try:
        with holder.cursor() as cursor:  # the other host's nightly, holding the database's nightly lock
            cursor.execute("SELECT GET_LOCK(%s, 0)", (f"iblpipe:nightly:{prefix}",))
            assert cursor.fetchone()[0] == 1
        done = subprocess.run(
            [sys.executable, "-m", "iblpipe", "--prefix", prefix, "nightly", "--skip-ingest", "--skip-plot"],
            env=env_for(db_server, repo_root, IBLPIPE_HOME=str(tmp_path / "otherhost")),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        holder.close()
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert len(lines) == 1 and f"another `iblpipe nightly` runs against {prefix}*" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_two_identical_ingests_at_once_report_what_each_changed(db_server, repo_root, prefix, tmp_path):
    from tests.alyx_fixtures import small_dump

    items = small_dump(n_labs=1, n_mice=2, n_sessions=3)
    path = tmp_path / "alyx.json"
    path.write_text(json.dumps(items))
    argv = [sys.executable, "-m", "iblpipe", "--prefix", prefix, "ingest", "--source", f"dump:{path}"]
    first = subprocess.run(argv, env=env_for(db_server, repo_root), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    sessions = [it for it in items if it["model"] == "actions.session"]
    for it in sessions[:2]:
        it["fields"]["task_protocol"] = "_iblrig_tasks_biasedChoiceWorld6.4.0"
    weighing = next(it["pk"] for it in items if it["model"] == "actions.weighing")
    path.write_text(json.dumps([it for it in items if it["pk"] != weighing]))
    procs = [
        subprocess.Popen(
            argv, env=env_for(db_server, repo_root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    heads = sorted(out.splitlines()[0] for _, out, _ in results)
    assert heads[0].startswith(f"mirror up to date with dump:{path}: nothing changed"), heads
    assert heads[1].startswith(f"mirrored dump:{path}: 0 inserted, 2 updated, 1 deleted"), heads
