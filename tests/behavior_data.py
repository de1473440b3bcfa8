"""Seeded synthetic ALF trials and a subject's session history, for behaviour tests.

Choices follow psychofit's erf_psycho_2gammas with per-session parameters; a
biased block shifts the bias toward the likely side. Times are in seconds.
"""

from __future__ import annotations

import datetime
import types
from pathlib import Path

import numpy as np
import pandas as pd
from iblutil.util import Bunch
from scipy.special import erf

from iblpipe.compute import psychometrics as psy
from iblpipe.compute import training as tr

TRAINING_CONTRASTS = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)  # (fraction)
BIASED_CONTRASTS = (1.0, 0.25, 0.125, 0.0625, 0.0)  # (fraction)
BLOCK_BIAS_SHIFT = 8.0  # (% contrast) bias shift of the 0.2 / 0.8 blocks from the 0.5 fit
NO_GO_RATE = 0.01  # (fraction) trials without a response


def make_trials(
    rng: np.random.Generator,
    n: int,
    *,
    biased: bool = False,
    bias: float = 0.0,
    threshold: float = 15.0,
    lapse: float = 0.05,
    rt_median: float = 1.0,
    contrasts=None,
    n_unbiased: int = 90,
) -> dict[str, np.ndarray]:
    """One session's ALF trials object (ALF attribute names)."""
    levels = np.array(contrasts or (BIASED_CONTRASTS if biased else TRAINING_CONTRASTS))
    if biased:
        p_left = np.full(n, 0.5)
        block_starts = np.arange(n_unbiased, n, 60)
        for i, start in enumerate(block_starts):
            p_left[start:] = 0.2 if i % 2 == 0 else 0.8
    else:
        p_left = np.full(n, 0.5)
    left_side = rng.random(n) < p_left
    contrast = rng.choice(levels, n)
    contrast_left = np.where(left_side, contrast, np.nan)
    contrast_right = np.where(left_side, np.nan, contrast)
    signed = np.where(left_side, -contrast, contrast) * 100
    shift = np.where(p_left > 0.5, BLOCK_BIAS_SHIFT, np.where(p_left < 0.5, -BLOCK_BIAS_SHIFT, 0.0))
    p_right = lapse + (1 - 2 * lapse) * (erf((signed - (bias + shift)) / threshold) + 1) / 2
    rightward = rng.random(n) < p_right
    choice = np.where(rightward, -1.0, 1.0)
    choice[rng.random(n) < NO_GO_RATE] = 0.0
    correct = ((choice == -1) & ~left_side) | ((choice == 1) & left_side)
    feedback_type = np.where(correct, 1.0, -1.0)
    rt = rng.lognormal(np.log(rt_median), 0.5, n)
    duration = 0.5 + rt + 1.5
    start = np.cumsum(np.r_[0.0, duration[:-1]]) + 2.0
    stim_on = start + 0.1
    go_cue = stim_on + 0.01
    response = stim_on + rt
    feedback = response + 0.01
    return {
        "intervals": np.c_[start, start + duration],
        "stimOn_times": stim_on,
        "goCue_times": go_cue,
        "goCueTrigger_times": go_cue - 0.001,
        "response_times": response,
        "firstMovement_times": stim_on + rt / 2,
        "feedback_times": feedback,
        "choice": choice,
        "feedbackType": feedback_type,
        "contrastLeft": contrast_left,
        "contrastRight": contrast_right,
        "probabilityLeft": p_left,
        "rewardVolume": np.where(correct, 3.0, 0.0),
    }


def subject_history(seed: int, *, fast: bool = True, n_days: int = 30):
    """A subject's sessions as (date, protocol kind, trials, is_ephys_rig, delay_s), oldest first.

    ``fast`` mice learn within ~10 days and go through biased and ephys-rig sessions
    (with two sessions on some dates); slow mice stay poor (untrainable after 40 sessions).
    """
    rng = np.random.default_rng(seed)
    day0 = datetime.date(2024, 1, 8)
    out = []
    for day in range(n_days):
        date = day0 + datetime.timedelta(days=day)
        if day < 2:
            out.append((date, "habituation", make_trials(rng, 60, threshold=80, lapse=0.4), False, 0.0))
            continue
        k = day - 2
        if not fast:
            params = dict(bias=rng.normal(0, 5), threshold=30 + rng.normal(0, 5), lapse=0.25, rt_median=3.0)
            out.append((date, "training", make_trials(rng, 300, **params), False, 0.0))
            continue
        skill = min(1.0, k / 8)
        params = dict(
            bias=rng.normal(0, 2) * (1 - skill) * 4,
            threshold=40 - 28 * skill,
            lapse=0.3 - 0.27 * skill,
            rt_median=3.0 - 2.2 * skill,
        )
        n = int(250 + 400 * skill)
        if k < 12:
            kind, ephys, delay = "training", False, 0.0
        elif k < 17:
            kind, ephys, delay = "biased", False, 0.0
        else:
            kind, ephys, delay = "ephys", True, (1200.0 if k >= 19 else 0.0)
        out.append((date, kind, make_trials(rng, n, biased=kind != "training", **params), ephys, delay))
        if k in (5, 14):  # a second session the same date
            out.append((date, kind, make_trials(rng, n // 2, biased=kind != "training", **params), ephys, delay))
    return out


def write_subject(root: Path, subject: str, history) -> list[Path]:
    """Write the history as ALF session folders ``root/subject/date/00N/alf`` and return their paths."""
    paths = []
    counts: dict[datetime.date, int] = {}
    for date, _kind, trials, _ephys, _delay in history:
        number = counts.get(date, 0) + 1
        counts[date] = number
        alf = root / subject / date.isoformat() / f"{number:03d}" / "alf"
        alf.mkdir(parents=True)
        for name, values in trials.items():
            np.save(alf / f"_ibl_trials.{name}.npy", values)
        if "goCueTrigger_times" not in trials:  # ibllib finds trials folders by this file
            np.save(alf / "_ibl_trials.goCueTrigger_times.npy", trials["goCue_times"])
        paths.append(alf.parent)
    return paths


def bunch(trials):
    return Bunch({k: np.asarray(v) for k, v in trials.items()})


def reference_statuses(tmp_path, history) -> dict[datetime.date, str]:
    """ibllib 4.1's own procedure (get_latest_training_information, local mode) on the same trials.

    The session table ibllib would build from raw rig files is written directly (protocol,
    location, delay); trials are read back by ibllib from ALF files. psychofit restarts
    are seeded per get_training_status call, as iblpipe does.
    """
    from ibllib.pipes import training_status as ts

    paths = write_subject(tmp_path, "mouse", history)
    rows = []
    for path, (date, kind, _trials, ephys, delay) in zip(paths, history, strict=True):
        rows.append(
            dict(
                date=date.isoformat(),
                session_path=str(path),
                task_protocol=kind,
                training_status="habituation" if kind == "habituation" else "not_computed",
                combined_n_delay=delay,
                location="ephys_rig" if ephys else "training_rig",
                combined_thres_50=np.nan,
            )
        )
    frame = pd.DataFrame(rows)
    # ibllib combines same-date delays with nanmax
    frame["combined_n_delay"] = frame.groupby("date").combined_n_delay.transform("max")
    frame.to_csv(tmp_path / "mouse" / "training.csv", index=False)
    real = ts.training.get_training_status

    def seeded(*args, **kwargs):
        with psy.seeded_fits():
            return real(*args, **kwargs)

    ts.training.get_training_status = seeded
    try:
        df = ts.get_latest_training_information(paths[-1], types.SimpleNamespace(mode="local"), save=False)
    finally:
        ts.training.get_training_status = real
    out = {}
    for date, group in df.groupby("date"):
        values = set(group.training_status)
        fail = values & {"untrainable", "unbiasable"}
        assert len(values - fail) <= 1
        out[datetime.date.fromisoformat(date)] = tr.OUR_NAMES[(fail or values).pop()]
    return out
