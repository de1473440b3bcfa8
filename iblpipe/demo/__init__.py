"""Deterministic synthetic lab generator. No datajoint here.

``generate(out, labs=3, mice=12, seed=0, max_sessions=None)`` writes an Alyx dump,
ALF session folders, ONE cache tables and ``ground_truth.json``; see ``build.py``
for the layout.
"""

from __future__ import annotations


def generate(out, **kwargs):
    """Write a synthetic lab under ``out``; see ``iblpipe.demo.build.generate``."""
    from iblpipe.demo.build import generate as _generate

    return _generate(out, **kwargs)
