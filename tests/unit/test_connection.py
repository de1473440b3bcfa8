"""Which server iblpipe uses, and the one-line errors when it cannot (no server is started here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datajoint as dj
import pytest

from iblpipe import connection, dbinstall, dbserver
from iblpipe.errors import ConfigError, DbServerError

REPO = Path(__file__).resolve().parents[2]
DJ_VARS = ("DJ_HOST", "DJ_PORT", "DJ_USER", "DJ_PASS")


@pytest.fixture
def no_dj_env(monkeypatch):
    for key in DJ_VARS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_resolution_order_arguments_environment_json_embedded(no_dj_env, tmp_path):
    started = []

    def fake_start(home=None):
        started.append(home)
        return dbserver.ServerInfo("127.0.0.1", 4321, "iblpipe", "pw", 1, str(tmp_path), str(tmp_path / "s"))

    no_dj_env.setattr(dbserver, "start", fake_start)
    no_dj_env.setattr(connection, "_find_datajoint_json", lambda start=None: tmp_path / "datajoint.json")
    no_dj_env.setitem(dj.config, "database.host", "json.example.org")
    no_dj_env.setitem(dj.config, "database.port", 3307)
    no_dj_env.setitem(dj.config, "database.user", "jsonuser")
    no_dj_env.setenv("DJ_HOST", "env.example.org:3308")
    no_dj_env.setenv("DJ_USER", "envuser")

    spec = connection.resolve("arg.example.org", 3309, "arguser", "pw")
    assert (spec.host, spec.port, spec.user, spec.origin) == ("arg.example.org", 3309, "arguser", "arguments")
    spec = connection.resolve()
    assert (spec.host, spec.port, spec.user, spec.origin) == ("env.example.org", 3308, "envuser", "environment")
    no_dj_env.delenv("DJ_HOST")
    spec = connection.resolve()
    assert (spec.host, spec.port, spec.user, spec.origin) == ("json.example.org", 3307, "jsonuser", "datajoint.json")
    assert started == []
    no_dj_env.setattr(connection, "_find_datajoint_json", lambda start=None: None)
    spec = connection.resolve()
    assert (spec.host, spec.port, spec.origin) == ("127.0.0.1", 4321, "embedded") and len(started) == 1


@pytest.mark.parametrize(("value", "message"), [("h:notaport", "'notaport'"), ("h:70000", "70000")])
def test_bad_port_is_a_config_error(no_dj_env, value, message):
    no_dj_env.setenv("DJ_HOST", value)
    with pytest.raises(ConfigError, match=f"port {message} .*from environment"):
        connection.resolve()


def test_missing_mariadbd_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(dbinstall, "find_mariadbd", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: never apt-get
    home = tmp_path / "home"
    with pytest.raises(DbServerError, match=r"mariadbd not found; install MariaDB .*mariadb-server.*DJ_HOST"):
        dbserver.start(home)
    assert not home.exists()


def cli(*args, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (*DJ_VARS, "DJ_IGNORE_CONFIG_FILE")}
    env.update(PYTHONPATH=str(REPO), IBLPIPE_HOME=str(cwd / "home"), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "iblpipe", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_unreachable_or_bad_settings_give_one_line_errors(tmp_path):
    port = dbserver.free_port()
    json_dir = tmp_path / "lab"
    (json_dir / ".git").mkdir(parents=True)  # the upward datajoint.json search stops at a repository root
    (json_dir / "datajoint.json").write_text(
        json.dumps({"database.host": "127.0.0.1", "database.port": port, "database.user": "jsonuser"})
    )
    cases = [
        (["db", "check"], {"DJ_HOST": "127.0.0.1", "DJ_PORT": str(port), "DJ_USER": "u"}, tmp_path,
         [f"127.0.0.1:{port}", "(from environment)"]),
        (["status"], {"DJ_HOST": f"127.0.0.1:{port}", "DJ_USER": "u"}, tmp_path, [f"127.0.0.1:{port}"]),
        (["db", "check"], {}, json_dir, [f"127.0.0.1:{port}", "'jsonuser'", "(from datajoint.json)"]),
        (["db", "check"], {"DJ_HOST": "127.0.0.1", "DJ_PORT": "abc"}, tmp_path, ["DJ_PORT='abc'"]),
        (["db", "check"], {"DJ_HOST": "127.0.0.1:notaport"}, tmp_path, ["'notaport'", "from environment"]),
    ]  # fmt: skip
    for args, env, cwd, expected in cases:
        result = cli(*args, env_extra=env, cwd=cwd)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (env, result.stderr)
        assert len(lines) == 1 and "Traceback" not in result.stderr, (env, result.stderr)
        assert all(text in lines[0] for text in expected), (env, lines[0])
        assert not (cwd / "home").exists()  # no embedded server started instead
