"""The embedded default database: a private MariaDB under ``$IBLPIPE_HOME``.

``start()`` initialises a data directory on first use, launches the system's
``mariadbd`` on a free loopback port with a generated password (stored with
mode 0600), and records how to connect in ``server.json``. A second ``start``
reuses the running server; a stale pid (server killed) is detected and cleaned.
Starts and stops hold a lock in the server folder, so workers that find the
server dead restart it once (``restart_if_crashed``). The server has a tmpdir
of its own: see ``dbinstall.private_tmpdir``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from iblpipe import settings
from iblpipe.dbinstall import (  # noqa: F401  (find_mariadbd, install_db_binary: re-exported for callers)
    ensure_mariadb_installed,
    find_mariadbd,
    initialise,
    install_db_binary,
    private_tmpdir,
)
from iblpipe.errors import DbServerError

logger = logging.getLogger(__name__)

DB_USER = "iblpipe"
START_TIMEOUT_S = 60.0  # (s) wait for a fresh server to accept connections
STOP_TIMEOUT_S = 60.0  # (s) wait after SIGTERM before SIGKILL
BUFFER_POOL_DEFAULT = "1G"  # (bytes, MariaDB suffix) InnoDB buffer pool; $IBLPIPE_DB_BUFFER_POOL


@dataclass(frozen=True)
class ServerInfo:
    """How to reach the embedded server."""

    host: str
    port: int
    user: str
    password: str
    pid: int
    datadir: str
    socket: str


def _paths(home: Path | None = None) -> dict[str, Path]:
    base = (home or settings.home()) / "mariadb"
    return {
        "base": base,
        "datadir": base / "data",
        "socket": base / "mariadbd.sock",
        "pidfile": base / "mariadbd.pid",
        "log": base / "mariadbd.log",
        "state": base / "server.json",
        "password": base / "password",
        "tmpdir": base / "tmp",
        "lock": base / "start.lock",
    }


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running mariadbd/mysqld (not a recycled pid, not a zombie)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"mariadbd" in cmd or b"mysqld" in cmd


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


LAST_PORT_FILE = "last_port"  # in the server folder: the port a restart tries first


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_state(home: Path | None = None) -> ServerInfo | None:
    state = _paths(home)["state"]
    if not state.exists():
        return None
    try:
        return ServerInfo(**json.loads(state.read_text()))
    except (ValueError, TypeError):
        return None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _password(home: Path | None = None) -> str:
    path = _paths(home)["password"]
    if path.exists():
        return path.read_text().strip()
    pw = secrets.token_urlsafe(24)
    _write_private(path, pw)
    return pw


def _sql_via_socket(sock: Path, statements: list[str], user: str = "root", password: str = "") -> None:
    import pymysql

    conn = pymysql.connect(unix_socket=str(sock), user=user, password=password, autocommit=True)
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
    finally:
        conn.close()


def _can_login(info: ServerInfo, timeout: float = 2.0) -> bool:
    import pymysql

    try:
        conn = pymysql.connect(
            host=info.host, port=info.port, user=info.user, password=info.password, connect_timeout=timeout
        )
    except pymysql.err.MySQLError:
        return False
    conn.close()
    return True


def status(home: Path | None = None) -> dict:
    """Describe the embedded server: running or not, pid, port, data directory."""
    info = _read_state(home)
    paths = _paths(home)
    if info is None:
        return {"running": False, "datadir": str(paths["datadir"]), "initialised": paths["datadir"].exists()}
    running = _pid_alive(info.pid)
    return {
        "running": running,
        "pid": info.pid if running else None,
        "host": info.host,
        "port": info.port,
        "user": info.user,
        "datadir": info.datadir,
        "initialised": True,
        "stale": not running,
    }


def running_info(home: Path | None = None) -> ServerInfo | None:
    """How to reach the embedded server if it is running now, else None (never starts it)."""
    info = _read_state(home)
    return info if info is not None and _pid_alive(info.pid) else None


def _clean_stale(paths: dict[str, Path]) -> None:
    for key in ("pidfile", "socket", "state"):
        paths[key].unlink(missing_ok=True)
    paths["socket"].with_suffix(".sock.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def _start_lock(paths: dict[str, Path]) -> Iterator[None]:
    """One starter at a time per server folder: workers that find the server gone restart it once, not N times."""
    paths["base"].mkdir(parents=True, exist_ok=True)
    os.chmod(paths["base"], 0o700)
    with open(paths["lock"], "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(home: Path | None = None) -> ServerInfo:
    """Start (or reuse) the embedded MariaDB and return how to connect to it."""
    paths = _paths(home)
    if not paths["base"].exists():
        ensure_mariadb_installed()  # a fresh home: fail before creating anything
    with _start_lock(paths):
        return _start_locked(home, paths)


def restart_if_crashed(home: Path | None = None) -> ServerInfo | None:
    """Start the embedded server again if it died (its state says running, its process is gone); else None.

    A server stopped on purpose (``iblpipe db stop`` removes its state) stays stopped.
    """
    paths = _paths(home)
    with _start_lock(paths):
        info = _read_state(home)
        if info is None or _pid_alive(info.pid):
            return None
        logger.warning("embedded MariaDB (pid %d) is gone; restarting it (log: %s)", info.pid, paths["log"])
        return _start_locked(home, paths)


def _start_locked(home: Path | None, paths: dict[str, Path]) -> ServerInfo:
    info = _read_state(home)
    if info is not None and _pid_alive(info.pid):
        if _can_login(info, timeout=5):
            logger.debug("embedded MariaDB already running (pid %d, port %d)", info.pid, info.port)
            return info
    if info is not None and _pid_alive(info.pid):  # still there after the failed login: it hangs
        raise DbServerError(
            f"embedded MariaDB pid {info.pid} is running but does not answer on 127.0.0.1:{info.port}; "
            f"stop it with `iblpipe db stop` or see {paths['log']}"
        )
    if info is not None or paths["pidfile"].exists():
        logger.warning("cleaning stale embedded MariaDB state (pid file of a dead server)")
        _clean_stale(paths)

    mariadbd = ensure_mariadb_installed()
    private_tmpdir(paths)
    fresh = not (paths["datadir"] / "mysql").exists()
    if fresh:
        initialise(paths)

    last = info.port if info is not None else _last_port(paths)
    port = last if last is not None and _port_free(last) else free_port()
    cmd = [
        mariadbd,
        "--no-defaults",
        f"--datadir={paths['datadir']}",
        f"--socket={paths['socket']}",
        f"--pid-file={paths['pidfile']}",
        f"--log-error={paths['log']}",
        f"--tmpdir={paths['tmpdir']}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-log-bin",
        "--skip-name-resolve",
        f"--innodb-buffer-pool-size={os.environ.get('IBLPIPE_DB_BUFFER_POOL', BUFFER_POOL_DEFAULT)}",
        "--innodb-log-file-size=256M",
        "--innodb-flush-log-at-trx-commit=2",
        "--max-allowed-packet=256M",
        "--max-connections=500",
        "--character-set-server=utf8mb4",
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    logger.info("starting embedded MariaDB on 127.0.0.1:%d (data in %s)", port, paths["datadir"])
    with open(os.devnull, "rb") as devnull, open(paths["log"], "ab") as log:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=log, stderr=log, start_new_session=True)
    _wait_ready(proc, paths)

    password = _password(home)
    if fresh:
        _sql_via_socket(
            paths["socket"],
            [
                f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{password}'",
                f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'%' WITH GRANT OPTION",
                f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}'",
                "FLUSH PRIVILEGES",
            ],
        )
    info = ServerInfo(
        host="127.0.0.1",
        port=port,
        user=DB_USER,
        password=password,
        pid=proc.pid,
        datadir=str(paths["datadir"]),
        socket=str(paths["socket"]),
    )
    _write_private(paths["state"], json.dumps(asdict(info), indent=1))
    (paths["base"] / LAST_PORT_FILE).write_text(str(port))
    return info


def _last_port(paths: dict[str, Path]) -> int | None:
    """The port of the previous start: a restarted server keeps it when free, so clients' DJ_PORT stays valid."""
    try:
        return int((paths["base"] / LAST_PORT_FILE).read_text())
    except (OSError, ValueError):
        return None


def _wait_ready(proc: subprocess.Popen, paths: dict[str, Path]) -> None:
    import pymysql

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = paths["log"].read_text(errors="replace").strip().splitlines()[-3:]
            raise DbServerError(f"mariadbd exited with code {proc.returncode}: {' / '.join(tail)}")
        if paths["socket"].exists():
            try:
                # root has no password before first setup; afterwards connect as our user below.
                pymysql.connect(unix_socket=str(paths["socket"]), user="nobody", connect_timeout=1).close()
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == 1045:  # access denied: the server answers
                    return
            except pymysql.err.MySQLError:
                pass
            else:
                return
        time.sleep(0.05)
    proc.kill()
    raise DbServerError(f"mariadbd did not answer within {START_TIMEOUT_S:.0f} s; see {paths['log']}")


@contextlib.contextmanager
def serving(home: Path, *, export_home: bool = False) -> Iterator[ServerInfo]:
    """A private server in ``home`` for the duration, with ``DJ_*`` (and ``IBLPIPE_HOME`` if asked) pointing at it.

    For test sessions and benchmarks: this process and its subprocesses use it; on exit the
    server is stopped and the environment restored.
    """
    names = ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS") + (("IBLPIPE_HOME",) if export_home else ())
    saved = {k: os.environ.get(k) for k in names}
    info = start(home)
    os.environ.update(DJ_HOST=info.host, DJ_PORT=str(info.port), DJ_USER=info.user, DJ_PASS=info.password)
    if export_home:
        os.environ["IBLPIPE_HOME"] = str(home)
    try:
        yield info
    finally:
        stop(home)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stop(home: Path | None = None) -> bool:
    """Stop the embedded server. Returns True if a running server was stopped."""
    paths = _paths(home)
    if not paths["base"].exists():
        return False
    with _start_lock(paths):
        return _stop_locked(home, paths)


def _stop_locked(home: Path | None, paths: dict[str, Path]) -> bool:
    info = _read_state(home)
    pid = info.pid if info else None
    if pid is None and paths["pidfile"].exists():
        try:
            pid = int(paths["pidfile"].read_text().strip())
        except ValueError:
            pid = None
    if pid is None or not _pid_alive(pid):
        _clean_stale(paths)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        logger.warning("mariadbd pid %d ignored SIGTERM for %.0f s; killing it", pid, STOP_TIMEOUT_S)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    _clean_stale(paths)
    return True
