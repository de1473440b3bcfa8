"""Resolve and open the database connection.

Resolution order: explicit arguments > ``DJ_*`` environment > ``datajoint.json``
(and ``.secrets/``, read by DataJoint itself) > the embedded server
(``iblpipe.dbserver``), started on demand.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from iblpipe.errors import ConfigError, DatabaseUnavailable, ServerUnreachable

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5  # (s) how long a first TCP connection may take before we give up
MARIADB_WARNING = "MariaDB is not officially supported"
UNREACHABLE_CODES = (2003, 2013)  # MySQL client errors: cannot connect, lost connection during handshake


@dataclass(frozen=True)
class ConnectionSpec:
    """Where the pipeline's database is and how it was chosen."""

    host: str
    port: int
    user: str
    password: str
    origin: str  # "arguments", "environment", "datajoint.json" or "embedded"


_connected: ConnectionSpec | None = None  # the server the last ``connect()`` of this process chose


@contextlib.contextmanager
def mariadb_warning_silenced() -> Iterator[None]:
    """Drop DataJoint's 'MariaDB is best-effort' UserWarning (and only that one) inside the block.

    The filter is scoped: the caller's ``warnings.filters`` are as they were afterwards.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MARIADB_WARNING, category=UserWarning)
        yield


def _find_datajoint_json(start: Path | None = None) -> Path | None:
    if os.environ.get("DJ_IGNORE_CONFIG_FILE", "").lower() in ("1", "true", "yes"):
        return None
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "datajoint.json"
        if candidate.exists():
            return candidate
        if (folder / ".git").exists():
            break
    return None


def _port(value, origin: str) -> int:
    """A TCP port number, or a one-line ConfigError naming where the bad value came from."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"database port {value!r} (from {origin}) is not a number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"database port {port} (from {origin}) is outside 1-65535")
    return port


def _split_host(host: str, port, origin: str) -> tuple[str, int]:
    if ":" in host and port is None:
        name, _, p = host.rpartition(":")
        return name, _port(p, origin)
    return host, _port(port or 3306, origin)


def resolve(
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    *,
    start_embedded: bool = True,
) -> ConnectionSpec | None:
    """Decide which server to use, starting the embedded one when nothing else is configured.

    With ``start_embedded=False`` the embedded server is only reported: None when it is not running.
    """
    import datajoint as dj

    if host:
        h, p = _split_host(host, port, "arguments")
        return ConnectionSpec(h, p, user or dj.config["database.user"] or "root", password or "", "arguments")
    if os.environ.get("DJ_HOST"):
        h, p = _split_host(os.environ["DJ_HOST"], os.environ.get("DJ_PORT") or None, "environment")
        return ConnectionSpec(
            h,
            p,
            user or os.environ.get("DJ_USER") or "root",
            password if password is not None else os.environ.get("DJ_PASS", ""),
            "environment",
        )
    if _find_datajoint_json() is not None:
        cfg = dj.config
        h, p = _split_host(cfg["database.host"], cfg["database.port"], "datajoint.json")
        return ConnectionSpec(
            h, p, user or cfg["database.user"] or "root", password or cfg["database.password"] or "", "datajoint.json"
        )
    from iblpipe import dbserver

    if start_embedded:
        info = dbserver.start()
    else:
        info = dbserver.running_info()
        if info is None:
            return None
    return ConnectionSpec(info.host, info.port, info.user, info.password, "embedded")


def check_reachable(spec: ConnectionSpec) -> None:
    """Raise DatabaseUnavailable with a one-line message if the server does not accept us."""
    import pymysql

    try:
        pymysql.connect(
            host=spec.host,
            port=spec.port,
            user=spec.user,
            password=spec.password,
            connect_timeout=CONNECT_TIMEOUT_S,
        ).close()
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else "?"
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        error = DatabaseUnavailable
        if code in UNREACHABLE_CODES:
            reason, error = "connection refused or timed out", ServerUnreachable
        raise error(
            f"cannot connect to MySQL at {spec.host}:{spec.port} as {spec.user!r} (from {spec.origin}): {reason}"
        ) from None


def connect(
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    *,
    reset: bool = False,
):
    """Configure DataJoint for the resolved server and return its connection."""
    import datajoint as dj

    global _connected
    spec = resolve(host, port, user, password)
    check_reachable(spec)
    _connected = spec
    dj.config["database.host"] = spec.host
    dj.config["database.port"] = spec.port
    dj.config["database.user"] = spec.user
    dj.config["database.password"] = spec.password
    dj.config["database.use_tls"] = False if spec.origin == "embedded" else dj.config["database.use_tls"]
    with mariadb_warning_silenced():  # DataJoint warns when it opens a connection to MariaDB
        conn = dj.conn(reset=reset)
    if spec.origin != "embedded" or reset:
        logger.debug("connected to %s:%d as %s (%s)", spec.host, spec.port, spec.user, spec.origin)
    return conn


def revive_embedded() -> bool:
    """Restart the embedded server if this process connected to it and its process is gone; True if restarted.

    Only the embedded server is ours to restart: a configured server (``DJ_HOST``, ``datajoint.json``)
    is never touched, and one stopped on purpose (``iblpipe db stop``) stays stopped. DataJoint's
    connection is pointed at the new port if the old one was taken meanwhile.
    """
    global _connected
    if _connected is None or _connected.origin != "embedded":
        return False
    from iblpipe import dbserver

    info = dbserver.restart_if_crashed()
    if info is None:
        return False
    logger.warning("embedded MariaDB restarted: pid %d, %s:%d", info.pid, info.host, info.port)
    if info.port != _connected.port:
        import datajoint as dj

        from iblpipe.schemas import djinternals

        dj.config["database.port"] = info.port
        djinternals.set_port(dj.conn(), info.port)
        _connected = ConnectionSpec(info.host, info.port, info.user, info.password, "embedded")
    return True
