"""Integration fixtures: one private MariaDB per test session, one schema prefix per module.

When ``DJ_HOST`` is set the tests use that server instead (and never stop it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from iblpipe import dbserver, schemas


@pytest.fixture(scope="session")
def db_server(tmp_path_factory):
    """Connection info of the session's server: a private embedded MariaDB unless DJ_HOST is set."""
    if os.environ.get("DJ_HOST"):
        yield {
            "host": os.environ["DJ_HOST"],
            "port": int(os.environ.get("DJ_PORT", 3306)),
            "user": os.environ.get("DJ_USER", "root"),
            "password": os.environ.get("DJ_PASS", ""),
        }
        return
    home = tmp_path_factory.mktemp("home")
    with dbserver.serving(home, export_home=True) as info:
        yield {"host": info.host, "port": info.port, "user": info.user, "password": info.password, "home": home}


def module_prefix(module_name: str) -> str:
    """A schema prefix unique to a test module and process."""
    short = re.sub(r"\W", "_", module_name.rsplit(".", 1)[-1].removeprefix("test_"))[:24]
    return f"t_{short}_{os.getpid()}_"


@pytest.fixture(scope="module")
def prefix(db_server, request) -> str:
    """Activate every schema under this module's own prefix; drop them afterwards."""
    name = module_prefix(request.module.__name__)
    schemas.drop(name)
    schemas.activate(name)
    yield name
    schemas.drop(name)


@pytest.fixture
def run_cli(db_server, repo_root):
    """Run ``python -m iblpipe ARGS`` in a subprocess against the session's server."""

    def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, PYTHONPATH=str(repo_root), **(env or {}))
        return subprocess.run(
            [sys.executable, "-m", "iblpipe", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


@pytest.fixture(scope="module")
def set_data_root():
    """``set_data_root(path)`` sets ``IBLPIPE_DATA_ROOT`` for the rest of the module; the earlier value comes back after."""
    with pytest.MonkeyPatch.context() as patch:
        yield lambda path: patch.setenv("IBLPIPE_DATA_ROOT", str(path))
