"""Behaviour: trials, psychometric fits, reaction times, training status (issue 5)."""

import datajoint as dj

schema = dj.Schema()
