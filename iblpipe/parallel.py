"""An ordered map over forked processes, for work whose children only compute (no database)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator


@contextlib.contextmanager
def ordered_map(func: Callable, items: Iterable, processes: int) -> Iterator[Iterator]:
    """``map(func, items)``, run by up to ``processes`` forked processes when more than one; results in input order.

    The children are terminated on exit, also when the caller stops early or fails. They
    inherit the parent's state (imported modules, open sockets): they must not use a
    database connection of the parent's.
    """
    items = list(items)
    n = min(processes, len(items))
    if n <= 1:
        yield map(func, items)
        return
    pool = multiprocessing.get_context("fork").Pool(n)
    try:
        yield pool.imap(func, items)
    finally:
        pool.terminate()
