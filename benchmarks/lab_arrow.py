"""Every trial of the lab into one Arrow table, measured alone: ``python -m benchmarks.lab_arrow`` prints JSON.

Runs in its own process (the suite starts it on the benchmark's database, ``$DJ_*`` and
``$IBLPIPE_SCHEMA_PREFIX`` set) so that its peak memory is its own: the peak resident set
is reset (``/proc/self/clear_refs``) after connecting, and the call's peak is the high-water
mark minus the resident set before the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

MIB = 1024 * 1024  # (bytes)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def measure() -> dict:
    """Seconds, rows, Arrow bytes and peak memory added by ``behavior.Trials().to_arrow()``."""
    from iblpipe import operations

    operations.activate(os.environ["IBLPIPE_SCHEMA_PREFIX"])
    from iblpipe.schemas import behavior

    query = behavior.Trials()
    query.heading  # noqa: B018 -- the heading is read before the measure
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set to the current one
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    table = query.to_arrow()
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {
        "seconds": seconds,
        "rows": table.num_rows,
        "columns": table.num_columns,
        "arrow_mb": table.nbytes / MIB,
        "rss_before_mb": before / 1024,
        "peak_mb": peak / 1024,
        "peak_added_mb": (peak - before) / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
