"""Mirroring a metadata source: ``ingest(source) -> mirror.Report``."""

from __future__ import annotations

import logging
import time

from iblpipe.errors import ConfigError

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("dump", "alyx", "one-cache")
DEFAULT_MAX_DELETE_PERCENT = 20.0  # (percent of a table's rows) more deletions are refused without allow_mass_delete
EXIT_PROBLEMS = 1  # some records were skipped or deletions held; everything else was mirrored


def read_source(spec: str, *, alyx_user: str | None = None):
    """The snapshot of ``KIND:WHERE`` (dump:FILE, alyx:URL, one-cache:DIR)."""
    kind, sep, where = spec.partition(":")
    if not sep or kind not in SOURCE_KINDS or not where:
        raise ConfigError(f"--source {spec!r}: expected one of dump:FILE, alyx:URL, one-cache:DIR")
    if kind == "dump":
        from iblpipe.sources.alyx_dump import read_dump

        return read_dump(where)
    if kind == "alyx":
        from iblpipe.sources.alyx_rest import read_rest

        return read_rest(where, username=alyx_user)
    from iblpipe.sources.one_cache import read_one_cache

    return read_one_cache(where)


def ingest(
    source: str,
    *,
    prefix: str | None = None,
    alyx_user: str | None = None,
    allow_mass_delete: bool = False,
    max_delete_percent: float = DEFAULT_MAX_DELETE_PERCENT,
    dry_run: bool = False,
):
    """Read ``source``, bind the schemas under ``prefix`` and mirror it; the ``mirror.Report``."""
    from iblpipe.operations.database import activate

    if not 0 <= max_delete_percent <= 100:
        raise ConfigError(f"--max-delete-percent {max_delete_percent}: must be between 0 and 100")
    start = time.monotonic()
    snap = read_source(source, alyx_user=alyx_user)
    read_s = time.monotonic() - start
    activate(prefix)
    from iblpipe.mirror import mirror

    report = mirror(
        snap, allow_mass_delete=allow_mass_delete, max_delete_fraction=max_delete_percent / 100, dry_run=dry_run
    )
    logger.info("read the source in %.1f s, mirrored in %.1f s", read_s, time.monotonic() - start - read_s)
    return report


def exit_code(report) -> int:
    """0, or 1 when the source holds records that were not mirrored or deletions were held (they need a look)."""
    if report.problems:
        logger.error(
            "%d bad records skipped, %d deletions held: their mirrored rows are unchanged; fix them in the source",
            len(report.bad),
            len(report.held),
        )
        return EXIT_PROBLEMS
    return 0
