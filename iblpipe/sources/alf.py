"""Where a session's ALF files are: ``<root>/<lab>/Subjects/<subject>/<YYYY-MM-DD>/<NNN>``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from iblpipe.errors import ConfigError, DataError


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


def load_object(files: list[Path], obj: str, **kwargs) -> dict:
    """``one.alf.io.load_object`` of ``files``; a file that cannot be read is a DataError naming it.

    ONE's own message for a truncated ``.npy`` (``Failed to read all data for array``) names no
    file: each file is then read alone to find the one at fault.
    """
    import one.alf.io as alfio

    try:
        return dict(alfio.load_object(files, obj, **kwargs).items())
    except (ValueError, OSError, EOFError) as exc:
        for path in files:
            try:
                _read_one(Path(path))
            except (ValueError, OSError, EOFError) as bad:
                raise DataError(
                    f"{path}: unreadable ({bad}); the file is damaged or truncated, copy it again"
                ) from None
        raise DataError(f"{Path(files[0]).parent}/{obj}.*: cannot load the object: {exc}") from None


def _read_one(path: Path) -> None:
    """Read one ALF file fully (what ``load_object`` would), raising what the reader raises."""
    if path.suffix == ".npy":
        import numpy as np

        np.load(path, allow_pickle=False)
    elif path.suffix == ".pqt":
        import pandas as pd

        pd.read_parquet(path)
