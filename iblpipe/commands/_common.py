"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse


def activate(args: argparse.Namespace) -> dict[str, str]:
    """Connect and bind the schemas under the prefix chosen by ``--prefix`` or the environment."""
    from iblpipe import schemas

    return schemas.activate(getattr(args, "prefix", None))
