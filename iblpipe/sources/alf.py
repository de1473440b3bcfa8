"""Where a session's ALF files are: ``<root>/<lab>/Subjects/<subject>/<YYYY-MM-DD>/<NNN>``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from iblpipe.errors import ConfigError


def session_path(root: str | os.PathLike, lab: str, subject: str, date: dt.date | str, number: int) -> Path:
    """The session folder in the ALF tree (the files are in its ``alf/`` collection)."""
    day = date.isoformat() if isinstance(date, dt.date) else str(date)[:10]
    return Path(root) / lab / "Subjects" / subject / day / f"{int(number):03d}"


def require_root(root: str | os.PathLike | None) -> Path:
    """The ALF root, or a clear error telling how to set it."""
    if root is None:
        raise ConfigError(
            "no ALF data root: set IBLPIPE_DATA_ROOT (or pass --data-root) to the folder holding <lab>/Subjects"
        )
    path = Path(root)
    if not path.is_dir():
        raise ConfigError(f"ALF data root {path} does not exist or is not a directory")
    return path
