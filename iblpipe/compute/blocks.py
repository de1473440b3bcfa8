"""Which probabilityLeft blocks of a session get a psychometric fit (pure; issue 20).

Training sessions carry scattered probabilityLeft values (a few trials at 0.2 or 0.8,
from debiasing or rig settings); fitting them as blocks gave fits of 1 to 34 trials
(one 1-trial fit: bias 6.25, threshold 38.3, lapses 0.83/0.53). The rule:

- the 0.5 block is fitted whenever it has trials (the fit of training sessions);
- a 0.2 or 0.8 block is fitted only when the session's protocol has blocks
  (:func:`has_blocks`: ibllib's biased and ephys kinds, and iblrig's biased
  subclasses it extracts as training) **and** the block holds at least
  ``min_trials`` trials (default :data:`MIN_BLOCK_TRIALS`);
- every other block is skipped, and counted (:class:`BlockSelection`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from iblpipe.compute.psychometrics import PROBABILITY_LEFT_BLOCKS, block_mask

UNBIASED_BLOCK = 0.5  # (probability) the block fitted in every session
# iblrig's shortest biased block (BLOCK_LEN_MIN of biasedChoiceWorld): fewer trials at a prior
# cannot be one block, and four parameters over ~9 contrasts need at least that many choices.
MIN_BLOCK_TRIALS = 20  # (count) trials of a 0.2 or 0.8 block for it to be fitted
BLOCK_PROTOCOL_KINDS = ("biased", "ephys")  # ibllib protocol kinds whose sessions run probabilityLeft blocks
# iblrig tasks that subclass BiasedChoiceWorldSession (so have blocks) while ibllib's
# extractor map names them training (its TrainingTrials extractor)
BLOCK_PROTOCOL_FRAGMENTS = ("_neuromodulatorChoiceWorld",)


class BlockSelection(NamedTuple):
    """The blocks of one session to fit, and what the rule left out."""

    fitted: tuple[float, ...]  # (probability) blocks to fit, ascending
    skipped: tuple[float, ...]  # (probability) blocks present in the trials but not fitted
    n_trials_skipped: int  # (count) trials of the skipped blocks


def has_blocks(task_protocol: str | None) -> bool:
    """The protocol runs probabilityLeft blocks (biased, ephys, imaging, neuromodulator choice worlds).

    An unknown or missing protocol has no blocks (only its 0.5 trials are fitted).
    """
    from iblpipe.compute.training import protocol_kind
    from iblpipe.errors import DataError

    if not task_protocol:
        return False
    if any(fragment in task_protocol for fragment in BLOCK_PROTOCOL_FRAGMENTS):
        return True
    try:
        return protocol_kind(task_protocol) in BLOCK_PROTOCOL_KINDS
    except DataError:
        return False


def select_blocks(
    probability_left: np.ndarray, task_protocol: str | None, *, min_trials: int = MIN_BLOCK_TRIALS
) -> BlockSelection:
    """The blocks of :data:`PROBABILITY_LEFT_BLOCKS` present in the trials to fit, by the module's rule."""
    if min_trials < 1:
        raise ValueError(f"select_blocks: min_trials must be >= 1, got {min_trials}")
    blocked = has_blocks(task_protocol)
    fitted, skipped, n_skipped = [], [], 0
    for block in PROBABILITY_LEFT_BLOCKS:
        n = int(np.sum(block_mask(probability_left, block)))
        if n == 0:
            continue
        if block == UNBIASED_BLOCK or (blocked and n >= min_trials):
            fitted.append(block)
        else:
            skipped.append(block)
            n_skipped += n
    return BlockSelection(tuple(fitted), tuple(skipped), n_skipped)
