"""Server failures a user can act on, as one line: what happened, to what, and what to do.

``cli.main`` turns the exceptions recognised here into one log line and exit code 2
(``-v`` adds the traceback); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from iblpipe.schemas.djinternals import LOST_CONNECTION_ERROR

ACCESS_DENIED_CODES = frozenset({1044, 1045, 1142, 1143, 1227})  # database, login, table, column, privilege
LOST_SERVER_CODES = frozenset({2003, 2006, 2013, 2055})  # cannot connect, gone away, lost during query, lost
LOST_NAMES = (LOST_CONNECTION_ERROR,)  # DataJoint's class for a connection that dropped


def _code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _first_line(exc: BaseException) -> str:
    parts = [str(a) for a in getattr(exc, "args", ()) if not isinstance(a, int)]
    text = parts[0] if parts else str(exc)
    if len(parts) > 1 and parts[0] == "Insufficient privileges.":  # DataJoint's AccessError: (text, message, query)
        text = parts[1]
    return " ".join(text.split())[:300]


def explain(exc: BaseException, command: str = "this command") -> str | None:
    """One line for a permission or lost-server failure of ``command``; None for anything else."""
    for err in _chain(exc):
        name = type(err).__name__
        code = _code(err)
        if name == "AccessError" or code in ACCESS_DENIED_CODES:
            return (
                f"{command}: the database refused it ({_first_line(err)}). This account may only read the pipeline: "
                "run ingest and populate as a worker account (an administrator creates one with "
                "`iblpipe db grant --worker NAME`)"
            )
        if name in LOST_NAMES or code in LOST_SERVER_CODES:
            return (
                f"{command}: lost the database server ({_first_line(err)}). An interrupted ingest wrote nothing "
                "(it is one transaction) and populate keeps only finished keys: run it again once the server is back "
                "(`iblpipe db status`, or ask whoever runs it)"
            )
    return None
