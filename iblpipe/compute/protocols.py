"""What a task protocol name says about its trials: passive, or a choice world whose trials count.

The one rule of ``ibllib.pipes.training_status.get_data_collection``, used for a task of the
experiment description (``sources.locate``) and for each task of a chained Alyx ``task_protocol``
(``compute.training``). Plain strings: no imports.
"""

from __future__ import annotations

PASSIVE_FRAGMENT = "passive"  # a protocol holding this (any case) is passive: stimuli replayed, no choices
CHOICE_FRAGMENT = "ChoiceWorld"  # ibllib's get_data_collection keeps only tasks whose protocol holds this


def is_passive(protocol: str) -> bool:
    """A passive protocol (stimuli replayed, no choices): not trials for the training status."""
    return PASSIVE_FRAGMENT in protocol.lower()


def is_choice_protocol(protocol: str) -> bool:
    """A protocol whose trials count for the training status: a choice world that is not passive."""
    return CHOICE_FRAGMENT in protocol and not is_passive(protocol)
