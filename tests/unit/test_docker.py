"""docker/compose.yaml is valid (checked by the docker client when present) and coherent."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not compose_available(), reason="docker compose client not installed")
def test_compose_config_validates():
    result = subprocess.run(
        ["docker", "compose", "-f", str(DOCKER / "compose.yaml"), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_mysql8_worker_and_nightly():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert services["mysql"]["image"].startswith("mysql:8")
    assert "populate" in services["worker"]["command"] and "--loop" in services["worker"]["command"]
    assert "cron" in " ".join(services["nightly"]["command"])
    for name in ("worker", "nightly"):
        env = services[name]["environment"]
        assert env["DJ_HOST"] == "mysql"
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "COPY iblpipe" in dockerfile
    assert "iblpipe nightly" in (DOCKER / "crontab").read_text()
