"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse


def activate(args: argparse.Namespace) -> dict[str, str]:
    """Connect and bind the schemas under the prefix chosen by ``--prefix`` or the environment."""
    from iblpipe import schemas

    return schemas.activate(getattr(args, "prefix", None))


def activate_worker(args: argparse.Namespace) -> dict[str, str]:
    """``activate`` for workers (populate, nightly): a server that is down or restarting is waited for.

    Retried like a transient failure of a make, for ``--retry-budget`` seconds; then one line, exit 2.
    """
    from iblpipe.errors import DatabaseUnavailable
    from iblpipe.populate import TransientFailure, retry_transient

    try:
        return retry_transient(
            lambda _retry: activate(args),
            what="connecting to the database",
            budget=args.retry_budget,
            then="is the server running?",
            reconnect=False,
        )
    except TransientFailure as exc:
        raise DatabaseUnavailable(str(exc)) from None
