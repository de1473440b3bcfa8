"""The embedded MariaDB: idempotent start, clean stop, recovery after kill -9, private password."""

import os
import signal
import stat
import subprocess
import sys
import threading
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
        running = cli(home, "db", "status")
        assert running.returncode == 0 and running.stdout.startswith("running: pid")
        check = cli(home, "db", "check")
        assert check.returncode == 0 and "(from embedded)" in check.stdout, check.stderr
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
        status = cli(home, "db", "status")
        assert status.stdout.startswith("not running") and status.returncode == 3  # LSB: program is not running
        check = cli(home, "db", "check")
        assert check.returncode == 3 and "not running" in check.stdout and "iblpipe db start" in check.stdout
        assert servers_in(home) == []  # check reports, never starts a server
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


N_SCHEMAS = 45  # about the test suite's count when the crash was seen
N_OTHER_SERVERS = 10


def _make_schemas(info) -> list[str]:
    names = [f"tmpdir_t{i:02d}" for i in range(N_SCHEMAS)]
    conn = pymysql.connect(host=info.host, port=info.port, user=info.user, password=info.password, autocommit=True)
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"CREATE TABLE {name}.parent (p INT PRIMARY KEY) ENGINE=InnoDB")
            for child in ("a", "b", "c"):
                cur.execute(
                    f"CREATE TABLE {name}.child_{child} (p INT, c INT, PRIMARY KEY (p, c), "
                    f"FOREIGN KEY (p) REFERENCES {name}.parent (p)) ENGINE=InnoDB"
                )
    conn.close()
    return names


def _dependency_query(names: list[str]) -> str:
    """DataJoint's own dependency query (``dependencies.load``) over ``names``."""
    from datajoint.adapters.mysql import MySQLAdapter

    adapter = MySQLAdapter.__new__(MySQLAdapter)
    schemas = ", ".join(f"'{n}'" for n in names)
    return adapter.load_foreign_keys_sql(schemas, "'~%'")


def _default_server(base) -> subprocess.Popen:
    """Initialise and start a MariaDB with default settings (its tmpdir is /tmp), as other software would."""
    datadir, sock = base / "data", base / "sock"
    root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [dbserver.install_db_binary(), "--no-defaults", f"--datadir={datadir}", "--skip-test-db", *root],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [dbserver.find_mariadbd(), "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
         f"--port={dbserver.free_port()}", "--bind-address=127.0.0.1", "--skip-log-bin", *root],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_other_servers_starting_do_not_crash_ours(tmp_path):
    """Servers sharing /tmp delete each other's temporary tables; ours has its own tmpdir and keeps answering."""
    home = tmp_path / "h"
    info = dbserver.start(home)
    try:
        tmpdir = home / "mariadb" / "tmp"
        assert stat.S_IMODE(tmpdir.stat().st_mode) == 0o700
        conn = pymysql.connect(host=info.host, port=info.port, user=info.user, password=info.password)
        with conn.cursor() as cur:
            cur.execute("SELECT @@tmpdir")
            assert cur.fetchone()[0].rstrip("/") == str(tmpdir)
        conn.close()

        query = _dependency_query(_make_schemas(info))
        answered, failures, done = [], [], threading.Event()

        def ask():
            conn = pymysql.connect(host=info.host, port=info.port, user=info.user, password=info.password)
            try:
                while not done.is_set():
                    with conn.cursor() as cur:
                        cur.execute(query)
                        answered.append(len(cur.fetchall()))
            except pymysql.err.MySQLError as exc:
                failures.append(exc)
            finally:
                conn.close()

        asker = threading.Thread(target=ask)
        asker.start()
        others = []
        try:
            for i in range(N_OTHER_SERVERS):
                (tmp_path / f"other{i}").mkdir()
                others.append(_default_server(tmp_path / f"other{i}"))
        finally:
            done.set()
            asker.join(timeout=120)
            for proc in others:  # throwaway servers without data: no clean shutdown needed
                proc.kill()
            for proc in others:
                proc.wait(timeout=60)
        assert failures == []
        assert len(answered) > N_OTHER_SERVERS and set(answered) == {3 * N_SCHEMAS}
        assert dbserver._pid_alive(info.pid)
    finally:
        dbserver.stop(home)
