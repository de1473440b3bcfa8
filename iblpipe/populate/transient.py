"""Transient failures: which errors retrying cures, and the retry loop with backoff every worker uses."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from iblpipe.schemas.djinternals import LOST_CONNECTION_ERROR

logger = logging.getLogger("iblpipe.populate")  # the worker's log lines keep their name

TRANSIENT_BACKOFF_S = (1, 2, 4, 8, 15, 30, 60)  # (s) waits between retries of a transient failure, then 60 s each
DEFAULT_TRANSIENT_BUDGET_S = 600  # (s) how long one key may keep failing transiently before the worker gives up
# MySQL/MariaDB error codes of failures that go away by themselves.
TRANSIENT_CODES = {
    1053: "server shutdown in progress",
    1205: "lock wait timeout",
    1213: "deadlock",
    1927: "connection killed",
    2003: "cannot connect",
    2006: "server has gone away",
    2013: "lost connection during query",
    2014: "commands out of sync",
    2055: "lost connection",
}
# Exception classes that always mean the link broke (DataJoint's, pymysql's InterfaceError, and ServerUnreachable:
# our own "connection refused or timed out"); matched by name, as a stored job error keeps only the text.
TRANSIENT_NAMES = (LOST_CONNECTION_ERROR, "InterfaceError", "ServerUnreachable")


def is_transient(error: BaseException | str) -> bool:
    """True for a failure that retrying can cure: lost connection, server restart, deadlock, lock wait timeout.

    An exception is judged by its class and MySQL error code, through its cause chain; a message
    (a string) by the codes and class names in it.
    """
    if isinstance(error, str):
        return any(
            f"({code}," in error or f"({code} " in error or f"Error {code}" in error for code in TRANSIENT_CODES
        ) or any(name in error for name in TRANSIENT_NAMES)
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error).__name__ in TRANSIENT_NAMES:
            return True
        if error.args and isinstance(error.args[0], int) and error.args[0] in TRANSIENT_CODES:
            return True
        if isinstance(error, ConnectionError | BrokenPipeError):
            return True
        error = error.__cause__ or error.__context__
    return False


class TransientFailure(Exception):
    """A transient failure outlasted the retry budget (the key stays pending)."""


def retry_transient(
    func: Callable,
    *,
    what: str,
    budget: float = DEFAULT_TRANSIENT_BUDGET_S,
    then: str = "giving up",
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    reconnect: bool = True,
):
    """Call ``func(retry)``; a transient failure is retried with backoff for up to ``budget`` seconds.

    Before each retry the embedded server is restarted if it died (``connection.revive_embedded``) and,
    with ``reconnect``, DataJoint's connection is reopened. Other errors propagate at once; a transient
    failure that outlasts the budget raises ``TransientFailure`` (its message ends with ``then``).
    """
    start = time.monotonic()
    attempt = 0
    while True:
        try:
            return func(attempt > 0)
        except Exception as exc:
            if not is_transient(exc):
                raise
            elapsed = time.monotonic() - start
            if elapsed >= budget or should_stop():
                raise TransientFailure(
                    f"{what} kept failing transiently for {elapsed:.0f} s ({_message(exc)}); {then}"
                ) from exc
            wait = TRANSIENT_BACKOFF_S[min(attempt, len(TRANSIENT_BACKOFF_S) - 1)]
            if on_retry is not None:
                on_retry()
            logger.warning("%s failed transiently (%s); retrying in %d s", what, _message(exc), wait)
            sleep(wait)
            _revive_server()
            if reconnect:
                _reconnect()
            attempt += 1


def _revive_server() -> None:
    """Restart the embedded server if this process uses it and it died (never a configured DJ_HOST server)."""
    from iblpipe.connection import revive_embedded

    try:
        revive_embedded()
    except Exception as exc:  # a failed restart is one more transient failure; the next attempt tries again
        logger.warning("restarting the embedded MariaDB failed: %s", _message(exc))


def _reconnect() -> None:
    """Reopen the DataJoint connection when it is closed; failures are left to the next attempt."""
    import datajoint as dj

    with contextlib.suppress(Exception):
        conn = dj.conn()
        if not conn.is_connected:
            conn.connect()


def _message(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return str(error)
