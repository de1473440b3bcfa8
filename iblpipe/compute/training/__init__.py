"""Training status history, learning curve and daily summary of one subject (pure; no database).

:func:`training_history` mirrors ``ibllib.pipes.training_status`` (ibllib 4.1):
for each date in order, the trials of the last three session rows up to that date
(sessions of one date combined, habituation dates skipped) go to
``brainbox.behavior.training.get_training_status`` with their protocols, the
ephys-rig dates and the count of dates whose start delay was >= 15 min; the
result never falls below the previous date's status; after the loop the 40th
'in training' session is marked untrainable and the 40th biased session
unbiasable when ready4ephysrig was not reached within those 40.

Differences from ibllib, on purpose:

- psychofit's random restarts are seeded (:data:`psychometrics.FIT_SEED`) for
  every date, so a recompute never flips a status;
- a date whose three-date window holds only habituation keeps its previous
  status (ibllib raises there);
- status names use underscores (``trained_1a``), see :data:`IBL_NAMES`.

The code is split by what it computes; every public name is importable from here:

- :mod:`.sessions`: statuses, protocol kinds, the rig rule, ``SessionInput`` / ``DailyStatus``;
- :mod:`.criteria`: brainbox's thresholds and the per-criterion breakdown;
- :mod:`.history`: :func:`training_history` and ibllib's untrainable / unbiasable marks;
- :mod:`.memo`: session and window digests, the verdict encoding of the status memo;
- :mod:`.summaries`: :func:`learning_curve` and :func:`daily_summary`.
"""

from iblpipe.compute.training.criteria import (  # noqa: F401
    MAX_BIAS_1A,
    MAX_BIAS_1B,
    MAX_LAPSE_1A,
    MAX_LAPSE_1B,
    MAX_LAPSE_EPHYS,
    MAX_RT_1B,
    MAX_RT_EPHYS,
    MAX_THRESHOLD_1A,
    MAX_THRESHOLD_1B,
    MIN_BIAS_SHIFT_EPHYS,
    MIN_BIASED_SESSIONS,
    MIN_DELAY_SESSIONS_RECORDING,
    MIN_EPHYS_SESSIONS_DELAY,
    MIN_EPHYS_SESSIONS_RECORDING,
    MIN_PERF_EASY_1A,
    MIN_PERF_EASY_1B,
    MIN_PERF_EASY_DELAY,
    MIN_PERF_EASY_EPHYS,
    MIN_TRIALS_1A,
    MIN_TRIALS_1B,
    MIN_TRIALS_DELAY,
    MIN_TRIALS_EPHYS,
)
from iblpipe.compute.training.history import (  # noqa: F401
    DELAY_MIN_S,
    N_WINDOW_DATES,
    UNBIASABLE_AFTER_SESSIONS,
    UNTRAINABLE_AFTER_SESSIONS,
    training_history,
)
from iblpipe.compute.training.memo import (  # noqa: F401
    DIGEST_KEYS,
    decode_verdict,
    encode_verdict,
    memo_version,
    session_counts,
    session_digest,
    window_digest,
)
from iblpipe.compute.training.sessions import (  # noqa: F401
    CHAIN_SEPARATOR,
    EPHYS_PROTOCOL_KIND,
    EPHYS_RIG_FRAGMENT,
    HABITUATION,
    IBL_NAMES,
    IN_TRAINING,
    OUR_NAMES,
    PROGRESSION,
    PROTOCOL_KINDS,
    PROTOCOL_MAP,
    STATUS_RANK,
    STATUSES,
    Criterion,
    DailyStatus,
    SessionCounts,
    SessionInput,
    choice_protocols,
    is_ephys_rig,
    is_passive_only,
    protocol_kind,
)
from iblpipe.compute.training.summaries import (  # noqa: F401
    DailySummary,
    LearningPoint,
    daily_summary,
    learning_curve,
)
