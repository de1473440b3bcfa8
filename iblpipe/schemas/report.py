"""Nightly figures: which mouse figure was drawn from which inputs (issue 8)."""

import datajoint as dj

schema = dj.Schema()
