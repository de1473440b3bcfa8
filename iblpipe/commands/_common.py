"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse

from iblpipe.errors import NotAvailableYet


def not_available(feature: str, issue: int):
    """A ``func`` for a subcommand that is not built yet: a clear error, never fake success."""
    message = f"`iblpipe {feature}` is not available yet (planned in issue {issue})"

    def run(args: argparse.Namespace) -> int:
        raise NotAvailableYet(message)

    run.not_available = message
    return run


def activate(args: argparse.Namespace) -> dict[str, str]:
    """Connect and bind the schemas under the prefix chosen by ``--prefix`` or the environment."""
    from iblpipe import schemas

    return schemas.activate(getattr(args, "prefix", None))
