"""iblpipe's own settings, read when called (never at import).

DataJoint's configuration (``DJ_*`` env, ``datajoint.json``, ``.secrets/``)
covers the database connection; this module covers the rest.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

DEFAULT_SCHEMA_PREFIX = "iblpipe_"
DEFAULT_HOME = Path("~/.local/share/iblpipe")
ENVIRONMENT = {"data_root": "IBLPIPE_DATA_ROOT"}  # settings ``override`` accepts, and their variables

# Values an operation sets for its own duration (``override``), in this thread and context only.
_overrides: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("iblpipe_settings", default=None)


def _current() -> dict[str, str]:
    return _overrides.get() or {}


@contextlib.contextmanager
def override(**values: str | os.PathLike) -> Iterator[None]:
    """Use these settings (``data_root=...``) until the block ends, instead of the environment's.

    ``os.environ`` is left alone; worker processes started meanwhile get them through ``child_environment``.
    """
    unknown = set(values) - set(ENVIRONMENT)
    if unknown:
        raise TypeError(f"settings.override: unknown settings {', '.join(sorted(unknown))}")
    token = _overrides.set({**_current(), **{k: str(v) for k, v in values.items()}})
    try:
        yield
    finally:
        _overrides.reset(token)


def child_environment() -> dict[str, str]:
    """The environment for an iblpipe process started now: ours, with the current overrides as variables."""
    return {**os.environ, **{ENVIRONMENT[k]: v for k, v in _current().items()}}


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
    """ALF data root: explicit argument > ``override(data_root=)`` > ``$IBLPIPE_DATA_ROOT`` > None."""
    value = root or _current().get("data_root") or os.environ.get("IBLPIPE_DATA_ROOT")
    return Path(value).expanduser().resolve() if value else None


def report_dir(out: str | os.PathLike | None = None) -> Path:
    """Where nightly figures go: explicit argument > ``$IBLPIPE_REPORT_DIR`` > ``$IBLPIPE_HOME/report``."""
    value = out or os.environ.get("IBLPIPE_REPORT_DIR")
    return Path(value).expanduser().resolve() if value else home() / "report"


def export_dir(out: str | os.PathLike | None = None) -> Path | None:
    """Where ``export`` writes ``aggregates/``: explicit argument > ``$IBLPIPE_EXPORT_DIR`` > None (no export)."""
    value = out or os.environ.get("IBLPIPE_EXPORT_DIR")
    return Path(value).expanduser().resolve() if value else None


def stale_timeout(seconds: float | None = None) -> float | None:
    """(s) Age of a reservation that belongs to a dead worker: explicit argument > ``$IBLPIPE_STALE_TIMEOUT`` > None
    (the worker's default)."""
    if seconds is not None:
        return seconds
    text = os.environ.get("IBLPIPE_STALE_TIMEOUT")
    try:
        return float(text) if text else None
    except ValueError:
        from iblpipe.errors import ConfigError

        raise ConfigError(f"IBLPIPE_STALE_TIMEOUT={text!r}: expected seconds, e.g. 3600") from None
