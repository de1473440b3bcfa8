"""brainbox's training criteria: thresholds with units, and our per-criterion breakdown of its verdict (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from iblpipe.compute.training.sessions import OUR_NAMES, Criterion

MAX_BIAS_1A = 16.0  # (% contrast) |bias| below this
MAX_THRESHOLD_1A = 19.0  # (% contrast) threshold below this
MAX_LAPSE_1A = 0.2  # (fraction) each lapse rate below this
MIN_TRIALS_1A = 200  # (count) trials above this in every session of the window
MIN_PERF_EASY_1A = 0.8  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_BIAS_1B = 10.0  # (% contrast) |bias| below this
MAX_THRESHOLD_1B = 20.0  # (% contrast) threshold below this
MAX_LAPSE_1B = 0.1  # (fraction) each lapse rate below this
MIN_TRIALS_1B = 400  # (count) trials above this in every session of the window
MIN_PERF_EASY_1B = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_RT_1B = 2.0  # (s) median zero-contrast reaction time below this
MIN_BIASED_SESSIONS = 3  # (count) biased/ephys dates in the window before ready4ephysrig is tested
MAX_LAPSE_EPHYS = 0.1  # (fraction) each lapse rate of the 20 and 80 blocks below this
MIN_BIAS_SHIFT_EPHYS = 5.0  # (% contrast) bias(80 block) - bias(20 block) above this
MIN_TRIALS_EPHYS = 400  # (count) trials above this in every session of the window
MIN_PERF_EASY_EPHYS = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in every session
MAX_RT_EPHYS = 2.0  # (s) median zero-contrast reaction time below this
MIN_EPHYS_SESSIONS_DELAY = 1  # (count) ephys-rig dates in the window for ready4delay
MIN_TRIALS_DELAY = 400  # (count) trials above this in any ephys-rig session
MIN_PERF_EASY_DELAY = 0.9  # (fraction correct at |contrast| >= 50 percent) above this in any ephys-rig session
MIN_EPHYS_SESSIONS_RECORDING = 3  # (count) ephys-rig dates in the window for ready4recording
MIN_DELAY_SESSIONS_RECORDING = 1  # (count) dates in the window with a start delay >= DELAY_MIN_S

_LAPSES_1A = ("<", MAX_LAPSE_1A)
_LAPSES_1B = ("<", MAX_LAPSE_1B)
_LAPSES_EPHYS = ("<", MAX_LAPSE_EPHYS)
# brainbox criterion name -> (our name, rule, threshold) per target status
_CRITERIA = {
    "trained_1a": {
        "Zero_contrast": ("zero_contrast", "any == 0", 0.0),
        "LapseLow_50": ("lapse_low_50", *_LAPSES_1A),
        "LapseHigh_50": ("lapse_high_50", *_LAPSES_1A),
        "Bias": ("bias", "abs <", MAX_BIAS_1A),
        "Threshold": ("threshold", "<", MAX_THRESHOLD_1A),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_1A),
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_1A),
    },
    "trained_1b": {
        "Zero_contrast": ("zero_contrast", "any == 0", 0.0),
        "LapseLow_50": ("lapse_low_50", *_LAPSES_1B),
        "LapseHigh_50": ("lapse_high_50", *_LAPSES_1B),
        "Bias": ("bias", "abs <", MAX_BIAS_1B),
        "Threshold": ("threshold", "<", MAX_THRESHOLD_1B),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_1B),
        "Perf_tasy": ("perf_easy", "all >", MIN_PERF_EASY_1B),  # sic in brainbox
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_1B),
        "Reaction_time": ("reaction_time", "<", MAX_RT_1B),
    },
    "ready4ephysrig": {
        "NBiased": ("n_biased", ">=", MIN_BIASED_SESSIONS),
        "LapseLow_80": ("lapse_low_80", *_LAPSES_EPHYS),
        "LapseHigh_80": ("lapse_high_80", *_LAPSES_EPHYS),
        "LapseLow_20": ("lapse_low_20", *_LAPSES_EPHYS),
        "LapseHigh_20": ("lapse_high_20", *_LAPSES_EPHYS),
        "Bias_shift": ("bias_shift", ">", MIN_BIAS_SHIFT_EPHYS),
        "N_trials": ("n_trials", "all >", MIN_TRIALS_EPHYS),
        "Perf_easy": ("perf_easy", "all >", MIN_PERF_EASY_EPHYS),
        "Reaction_time": ("reaction_time", "<", MAX_RT_EPHYS),
    },
    "ready4delay": {
        "N_ephys": ("n_ephys", ">=", MIN_EPHYS_SESSIONS_DELAY),
        "N_trials": ("n_trials", "any >", MIN_TRIALS_DELAY),
        "Perf_easy": ("perf_easy", "any >", MIN_PERF_EASY_DELAY),
    },
}
_CRITERIA["ready4recording"] = {
    **_CRITERIA["ready4ephysrig"],
    "N_ephys": ("n_ephys", ">=", MIN_EPHYS_SESSIONS_RECORDING),
    "N_delay": ("n_delay", ">=", MIN_DELAY_SESSIONS_RECORDING),
}


def _float(value) -> float | tuple[float, ...]:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else tuple(float(v) for v in array.ravel())


def _criteria(bunch: Mapping[str, dict], protocols: Sequence[str]) -> tuple[str | None, tuple[Criterion, ...]]:
    """Our criteria tuple from brainbox's breakdown (value / pass per name, plus 'Criteria' = the target)."""
    target = OUR_NAMES.get(bunch.get("Criteria", {}).get("val"), bunch.get("Criteria", {}).get("val"))
    table = _CRITERIA.get(target, {})
    out = []
    for name, entry in bunch.items():
        if name == "Criteria":
            continue
        ours, rule, threshold = table.get(name, (name.lower(), "", math.nan))
        value = entry["val"]
        if name == "NBiased":  # brainbox stores the protocols of the window
            value = sum(p != "training" for p in protocols)
        out.append(Criterion(ours, _float(value), float(threshold), bool(entry["pass"]), rule))
    return target, tuple(out)
