"""``generate_lab``: the synthetic lab, written for ``iblpipe demo generate`` and ``iblpipe demo run``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iblpipe.demo.build import Summary


def generate_lab(
    out: str | os.PathLike,
    *,
    labs: int,
    mice: int,
    seed: int = 0,
    max_sessions: int | None = None,
    force: bool = False,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Write the synthetic lab under ``out`` (see :func:`iblpipe.demo.build.generate`); return what was written.

    Raises ConfigError naming the bad argument before anything is written.
    """
    from iblpipe.demo.build import generate  # the simulator's imports, only when a lab is written

    return generate(
        out,
        labs=labs,
        mice=mice,
        seed=seed,
        max_sessions=max_sessions,
        force=force,
        workers=workers,
        progress=progress,
    )
