"""The embedded MariaDB: idempotent start, clean stop, recovery after kill -9, private password."""

import os
import signal
import stat
import subprocess
import sys
import time

import pymysql
import pytest

from iblpipe import dbserver

pytestmark = pytest.mark.skipif(dbserver.find_mariadbd() is None, reason="mariadbd not installed")


def cli(home, *args):
    env = dict(os.environ, IBLPIPE_HOME=str(home), PYTHONPATH=os.getcwd())
    for key in ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "iblpipe", *args], capture_output=True, text=True, env=env)


def servers_in(home) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "--", f"--datadir={home}/mariadb/data"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def login(info) -> str:
    conn = pymysql.connect(host=info.host, port=info.port, user=info.user, password=info.password)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_start_twice_stop_and_recover_after_kill(tmp_path):
    home = tmp_path / "h"
    try:
        first = cli(home, "db", "start")
        assert first.returncode == 0, first.stderr
        second = cli(home, "db", "start")
        assert second.returncode == 0, second.stderr
        assert len(servers_in(home)) == 1
        info = dbserver._read_state(home)
        assert login(info) == "iblpipe@%"
        pw_file = home / "mariadb" / "password"
        assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
        assert info.password == pw_file.read_text().strip() and len(info.password) >= 24

        os.kill(info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while dbserver._pid_alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dbserver.status(home)["stale"] is True
        again = cli(home, "db", "start")
        assert again.returncode == 0, again.stderr
        assert "stale" in again.stderr
        recovered = dbserver._read_state(home)
        assert recovered.pid != info.pid and login(recovered) == "iblpipe@%"

        stopped = cli(home, "db", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert servers_in(home) == []
        assert cli(home, "db", "status").stdout.startswith("not running")
    finally:
        dbserver.stop(home)


def test_closed_port_gives_one_line_error(tmp_path):
    port = dbserver.free_port()
    env = dict(os.environ, DJ_HOST=f"127.0.0.1:{port}", DJ_USER="nobody", DJ_PASS="x", PYTHONPATH=os.getcwd())
    result = subprocess.run(
        [sys.executable, "-m", "iblpipe", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "Traceback" not in result.stderr
