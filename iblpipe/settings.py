"""iblpipe's own settings, read when called (never at import).

DataJoint's configuration (``DJ_*`` env, ``datajoint.json``, ``.secrets/``)
covers the database connection; this module covers the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SCHEMA_PREFIX = "iblpipe_"
DEFAULT_HOME = Path("~/.local/share/iblpipe")


def home() -> Path:
    """Directory of the embedded server and pipeline state (``$IBLPIPE_HOME``)."""
    return Path(os.environ.get("IBLPIPE_HOME") or DEFAULT_HOME).expanduser().resolve()


def schema_prefix(prefix: str | None = None) -> str:
    """Schema prefix: explicit argument > ``$IBLPIPE_SCHEMA_PREFIX`` > ``iblpipe_``."""
    value = prefix or os.environ.get("IBLPIPE_SCHEMA_PREFIX") or DEFAULT_SCHEMA_PREFIX
    if not value.replace("_", "").isalnum():
        from iblpipe.errors import ConfigError

        raise ConfigError(f"schema prefix {value!r} may contain only letters, digits and '_'")
    return value


def data_root(root: str | os.PathLike | None = None) -> Path | None:
    """ALF data root: explicit argument > ``$IBLPIPE_DATA_ROOT`` > None."""
    value = root or os.environ.get("IBLPIPE_DATA_ROOT")
    return Path(value).expanduser().resolve() if value else None


def report_dir(out: str | os.PathLike | None = None) -> Path:
    """Where nightly figures go: explicit argument > ``$IBLPIPE_REPORT_DIR`` > ``$IBLPIPE_HOME/report``."""
    value = out or os.environ.get("IBLPIPE_REPORT_DIR")
    return Path(value).expanduser().resolve() if value else home() / "report"


def export_dir(out: str | os.PathLike | None = None) -> Path | None:
    """Where ``export`` writes ``aggregates/``: explicit argument > ``$IBLPIPE_EXPORT_DIR`` > None (no export)."""
    value = out or os.environ.get("IBLPIPE_EXPORT_DIR")
    return Path(value).expanduser().resolve() if value else None
