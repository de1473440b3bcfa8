"""Headless Chromium for report tests: find it (installing Debian's package as root when missing), dump DOM, screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_TIMEOUT_S = 900  # (s) apt-get install chromium
RENDER_TIMEOUT_S = 120  # (s) one headless run
WINDOW = "1400,1000"  # (px) screenshot size
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def _find() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium() -> str:
    """Path of chromium; installs Debian's package (as ``make system-deps`` does) or skips saying why."""
    path = _find()
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium is not installed and cannot be installed here (needs root and apt-get): run `make system-deps` as root"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(
            ["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
            env=env,
        )
    except (subprocess.SubprocessError, OSError) as err:
        pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {err}")
    path = _find()
    if not path:
        pytest.skip("`apt-get install chromium` ran but no chromium binary is on PATH")
    return path


def render(page: Path, tmp: Path, screenshot: Path) -> str:
    """The DOM of ``page`` (file://, after scripts ran) as Chromium renders it; also writes ``screenshot`` (PNG)."""
    binary = chromium()
    url = page.resolve().as_uri()
    common = [binary, *FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", f"--window-size={WINDOW}"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
    if dom.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom failed ({dom.returncode}): {dom.stderr[-2000:]}")
    shot = subprocess.run(
        [*common, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=RENDER_TIMEOUT_S
    )
    if shot.returncode != 0 or not screenshot.exists():
        raise RuntimeError(f"chromium --screenshot failed ({shot.returncode}): {shot.stderr[-2000:]}")
    return dom.stdout
