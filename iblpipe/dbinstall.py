"""Installing and initialising MariaDB for the embedded server: the binaries, the data folder, its tmpdir."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from iblpipe.errors import DbServerError

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install MariaDB (Debian/Ubuntu: `sudo apt-get install mariadb-server`) "
    "or point iblpipe at your own MySQL with DJ_HOST, DJ_PORT, DJ_USER, DJ_PASS"
)


def find_mariadbd() -> str | None:
    """Path of the system's ``mariadbd`` (or ``mysqld`` of MariaDB), or None."""
    for name in ("mariadbd", "mysqld"):
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/usr/libexec")
        if path:
            return path
    return None


def install_db_binary() -> str | None:
    for name in ("mariadb-install-db", "mysql_install_db"):
        path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
        if path:
            return path
    return None


def ensure_mariadb_installed() -> str:
    """Return the ``mariadbd`` path, installing ``mariadb-server`` with apt-get as root if missing."""
    path = find_mariadbd()
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        logger.info("mariadbd not found; installing mariadb-server with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "mariadb-server"]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
                raise DbServerError(f"`{' '.join(cmd)}` failed: {tail[0]}; {INSTALL_HINT}")
        path = find_mariadbd()
        if path:
            return path
    raise DbServerError(f"mariadbd not found; {INSTALL_HINT}")


def private_tmpdir(paths: dict[str, Path]) -> Path:
    """The server's own temporary folder (mode 0700).

    A starting MariaDB deletes every ``#sql*`` file in its tmpdir. Servers sharing ``/tmp`` therefore
    delete each other's on-disk temporary tables, and 10.11 then crashes in ``ha_maria::drop_table``
    while answering information_schema queries. Every server we start gets a folder of its own.
    """
    tmpdir = paths["tmpdir"]
    tmpdir.mkdir(parents=True, exist_ok=True)
    os.chmod(tmpdir, 0o700)
    return tmpdir


def initialise(paths: dict[str, Path]) -> None:
    """Create the system tables in ``paths['datadir']`` (a half-initialised folder is removed first)."""
    install_db = install_db_binary()
    if install_db is None:
        raise DbServerError(f"mariadb-install-db not found; {INSTALL_HINT}")
    if paths["datadir"].exists():
        shutil.rmtree(paths["datadir"])  # a half-initialised directory from an interrupted first start
    cmd = [
        install_db,
        "--no-defaults",
        f"--datadir={paths['datadir']}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        f"--tmpdir={paths['tmpdir']}",  # passed on to the bootstrap mariadbd
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    logger.info("initialising MariaDB data directory %s", paths["datadir"])
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(paths["datadir"], ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise DbServerError(f"mariadb-install-db failed: {' / '.join(tail)}")
