"""Workers outlive their server: a dead embedded server is restarted, a server down at startup is waited for.

The embedded server is ours (a worker that finds its process gone starts it again, once, under a lock);
a configured ``DJ_HOST`` server is never touched, only waited for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iblpipe import dbserver
from tests.integration.test_workers import _first_mouse, _sessions_of, cli, finish, made_keys, start_worker, wait_for

pytestmark = pytest.mark.skipif(dbserver.find_mariadbd() is None, reason="mariadbd not installed")

DJ_VARIABLES = ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS")


def embedded_env(home: Path, data_root: Path) -> dict:
    """A worker's environment with no DJ_* variables: it resolves to the embedded server in ``home``."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), IBLPIPE_DATA_ROOT=str(data_root))
    env["IBLPIPE_HOME"] = str(home)
    for key in DJ_VARIABLES:
        env.pop(key, None)
    return env


def servers_in(home: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "--", f"--datadir={home}/mariadb/data"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_worker_restarts_the_embedded_server_when_it_dies(demo_lab, tmp_path):
    home = tmp_path / "home"
    env = embedded_env(home, demo_lab)
    prefix = "revive_"
    try:
        assert cli(prefix, env, "ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}").returncode == 0
        info = dbserver._read_state(home)
        server = {"host": info.host, "port": info.port, "user": info.user, "password": info.password}
        mouse = _first_mouse(server, prefix)
        log = tmp_path / "worker.log"
        worker = start_worker(prefix, env, log, "--tables", "behavior.TrialSet", "--restrict", f"subject={mouse}")
        wait_for(lambda: len(made_keys(log)) >= 2, "two keys made")
        os.kill(info.pid, signal.SIGKILL)  # a crash: the state file still says running
        assert finish(worker, timeout=300) == 0, log.read_text()[-3000:]
        text = log.read_text()
        assert f"embedded MariaDB (pid {info.pid}) is gone; restarting it" in text
        assert "Traceback" not in text
        revived = dbserver._read_state(home)
        assert revived.pid != info.pid and servers_in(home) == [revived.pid]
        made = made_keys(log)
        assert max(made.values()) == 1
        assert len(made) == _sessions_of(server | {"port": revived.port}, prefix, mouse)
    finally:
        dbserver.stop(home)


def test_a_server_stopped_on_purpose_stays_stopped(tmp_path):
    from iblpipe import connection

    home = tmp_path / "home"
    os.environ["IBLPIPE_HOME"], saved = str(home), os.environ.get("IBLPIPE_HOME")
    try:
        info = dbserver.start(home)
        connection._connected = connection.ConnectionSpec(info.host, info.port, info.user, info.password, "embedded")
        dbserver.stop(home)
        assert connection.revive_embedded() is False and servers_in(home) == []
        os.kill(dbserver.start(home).pid, signal.SIGKILL)
        wait_for(lambda: servers_in(home) == [], "the killed server to go")
        assert connection.revive_embedded() is True and len(servers_in(home)) == 1
        connection._connected = connection.ConnectionSpec(info.host, info.port, info.user, info.password, "environment")
        os.kill(dbserver._read_state(home).pid, signal.SIGKILL)
        wait_for(lambda: servers_in(home) == [], "the killed server to go")
        assert connection.revive_embedded() is False and servers_in(home) == []  # not ours: never touched
    finally:
        connection._connected = None
        dbserver.stop(home)
        if saved is None:
            os.environ.pop("IBLPIPE_HOME")
        else:
            os.environ["IBLPIPE_HOME"] = saved


def test_concurrent_starts_share_one_server(tmp_path):
    home = tmp_path / "home"
    env = embedded_env(home, tmp_path)
    argv = [sys.executable, "-m", "iblpipe", "db", "start"]
    try:
        starts = [
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
        ]
        outs = [p.communicate(timeout=300) for p in starts]
        assert [p.returncode for p in starts] == [0, 0, 0], outs
        assert len(servers_in(home)) == 1
    finally:
        dbserver.stop(home)


def test_workers_wait_for_a_configured_server_that_is_down_at_startup(demo_lab, tmp_path):
    """DJ_HOST names a server that is not up yet: the worker retries (never starts it) and works once it is."""
    home = tmp_path / "db"
    info = dbserver.start(home)
    server_env = dict(embedded_env(tmp_path / "worker_home", demo_lab))
    server_env.update(DJ_HOST=info.host, DJ_PORT=str(info.port), DJ_USER=info.user, DJ_PASS=info.password)
    prefix = "late_"
    try:
        assert cli(prefix, server_env, "ingest", "--source", f"dump:{demo_lab / 'alyx_dump.json'}").returncode == 0
        server = {"host": info.host, "port": info.port, "user": info.user, "password": info.password}
        mouse = _first_mouse(server, prefix)
        dbserver.stop(home)

        quick = cli(prefix, server_env, "populate", "--retry-budget", "0", "--tables", "behavior.TrialSet")
        assert quick.returncode == 2
        lines = quick.stderr.strip().splitlines()
        assert len(lines) == 1 and "connecting to the database kept failing transiently" in lines[0], quick.stderr
        assert f"{info.host}:{info.port}" in lines[0] and "is the server running?" in lines[0]

        log = tmp_path / "worker.log"
        args = ("--processes", "2", "--tables", "behavior.TrialSet", "--restrict", f"subject={mouse}")
        worker = start_worker(prefix, server_env, log, *args)
        wait_for(lambda: "connecting to the database failed transiently" in log.read_text(), "a startup retry")
        time.sleep(2)
        assert servers_in(home) == []  # a configured server is never started by a worker
        again = dbserver.start(home)
        assert again.port == info.port
        assert finish(worker, timeout=300) == 0, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()
        made = made_keys(log)
        assert max(made.values()) == 1 and len(made) == _sessions_of(server, prefix, mouse)
    finally:
        dbserver.stop(home)
