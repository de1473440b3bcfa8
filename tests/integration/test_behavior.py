"""Behaviour tables against a tiny ALF lab made by code: trials import, bad input, the fast fetch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from iblutil.util import Bunch
from one.alf.io import load_object

from iblpipe.errors import ConfigError
from iblpipe.schemas import acquisition, behavior, reference, subject
from iblpipe.schemas.files import session_folder
from iblpipe.sources import ids
from iblpipe.sources.alf import session_path
from tests.behavior_lab import PROTOCOLS, make_trials, write_trials

LAB = "behavlab"
START = dt.date(2024, 3, 4)

# (nickname, day offset, number, protocol, n_trials, observer parameters)
GOOD_MOUSE = [
    ("LRN001", 0, 1, "habituation", 120, dict(threshold=60, lapse=0.3, bias=20)),
    ("LRN001", 1, 1, "training", 400, dict(threshold=40, lapse=0.2, bias=12)),
    ("LRN001", 2, 1, "training", 450, dict(threshold=25, lapse=0.1, bias=8)),
    ("LRN001", 3, 1, "training", 260, dict(threshold=14, lapse=0.04, bias=3)),
    ("LRN001", 3, 2, "training", 260, dict(threshold=14, lapse=0.04, bias=3)),
    ("LRN001", 4, 1, "training", 500, dict(threshold=12, lapse=0.03, bias=2)),
    ("LRN001", 7, 1, "training", 520, dict(threshold=11, lapse=0.03, bias=1)),
    ("LRN001", 8, 1, "training", 540, dict(threshold=10, lapse=0.02, bias=1)),
    ("LRN001", 9, 1, "biased", 600, dict(threshold=10, lapse=0.02, biased=True)),
    ("LRN001", 10, 1, "biased", 620, dict(threshold=10, lapse=0.02, biased=True)),
    ("LRN001", 11, 1, "biased", 640, dict(threshold=10, lapse=0.02, biased=True)),
    ("LRN001", 14, 1, "ephys", 650, dict(threshold=9, lapse=0.02, biased=True)),
    ("LRN001", 15, 1, "ephys", 660, dict(threshold=9, lapse=0.02, biased=True)),
    ("LRN001", 16, 1, "ephys", 670, dict(threshold=9, lapse=0.02, biased=True)),
]
SLOW_MOUSE = [("SLW002", day, 1, "training", 300, dict(threshold=45, lapse=0.25, bias=15)) for day in range(5)]
SESSIONS = GOOD_MOUSE + SLOW_MOUSE
BAD = {
    "lengths": ("BAD003", 0, 1),
    "choice": ("BAD003", 1, 1),
    "missing": ("BAD003", 2, 1),
    "unsorted": ("BAD003", 3, 1),
}


def _date(day: int) -> str:
    return (START + dt.timedelta(days=day)).isoformat()


def _uuid(nick: str, day: int, number: int):
    return ids.session_uuid(LAB, nick, _date(day), number)


def _register(nick: str, day: int, number: int, protocol: str) -> None:
    acquisition.Session.insert1(
        {
            "session_uuid": _uuid(nick, day, number),
            "subject_uuid": ids.subject_uuid(LAB, nick),
            "session_lab": LAB,
            "session_start_time": dt.datetime.fromisoformat(_date(day)) + dt.timedelta(hours=9 + number),
            "session_number": number,
            "task_protocol": PROTOCOLS[protocol],
        }
    )


def _folder(root, nick: str, day: int, number: int):
    return session_path(root, LAB, nick, _date(day), number)


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory, set_data_root):
    """Three mice registered and written as ALF; every behaviour table populated."""
    root = tmp_path_factory.mktemp("alf")
    set_data_root(root)
    reference.Lab.insert1({"lab_name": LAB})
    for nick in ("LRN001", "SLW002", "BAD003"):
        subject.Subject.insert1({"subject_uuid": ids.subject_uuid(LAB, nick), "subject_nickname": nick})
        subject.SubjectLab.insert1({"subject_uuid": ids.subject_uuid(LAB, nick), "lab_name": LAB})
    for i, (nick, day, number, protocol, n, obs) in enumerate(SESSIONS):
        _register(nick, day, number, protocol)
        write_trials(_folder(root, nick, day, number), make_trials(100 + i, n, **obs))
    for nick, day, number in BAD.values():
        _register(nick, day, number, "training")
    bad = {name: make_trials(900 + i, 200) for i, name in enumerate(BAD)}
    bad["lengths"]["feedbackType"] = bad["lengths"]["feedbackType"][:-3]
    bad["choice"]["choice"][:] = np.nan
    bad["unsorted"]["intervals"] = bad["unsorted"]["intervals"][::-1].copy()
    for name, key in BAD.items():
        if name != "missing":
            write_trials(_folder(root, *key), bad[name])
        else:
            (_folder(root, *key) / "alf").mkdir(parents=True)

    result = behavior.TrialSet.populate(suppress_errors=True)
    yield {"root": root, "errors": result["error_list"]}


ALF_FIELDS = {
    "stim_on_time": "stimOn_times",
    "go_cue_time": "goCue_times",
    "response_time": "response_times",
    "first_movement_time": "firstMovement_times",
    "feedback_time": "feedback_times",
    "choice": "choice",
    "feedback_type": "feedbackType",
    "contrast_left": "contrastLeft",
    "contrast_right": "contrastRight",
    "probability_left": "probabilityLeft",
    "reward_volume": "rewardVolume",
}


def test_trials_equal_the_alf_files(prefix, lab):
    assert len(behavior.TrialSet()) == len(SESSIONS)
    for nick, day, number, *_ in SESSIONS[:3] + SESSIONS[-2:]:
        key = {"session_uuid": _uuid(nick, day, number)}
        alf = load_object(_folder(lab["root"], nick, day, number) / "alf", "trials")
        rows = (behavior.Trials & key).to_pandas(order_by="trial_id")
        assert (rows.index.get_level_values("trial_id") == np.arange(len(alf["choice"]))).all()
        assert np.array_equal(rows["trial_start_time"], alf["intervals"][:, 0])
        assert np.array_equal(rows["trial_end_time"], alf["intervals"][:, 1])
        for column, field in ALF_FIELDS.items():
            assert np.array_equal(rows[column].astype(float), alf[field], equal_nan=True), column
        master = (behavior.TrialSet & key).fetch1()
        assert master["n_trials"] == len(alf["choice"])
        assert master["n_correct"] == (alf["feedbackType"] == 1).sum()
        assert master["n_no_go"] == (alf["choice"] == 0).sum()
        assert np.isclose(master["trials_duration"], alf["intervals"][-1, 1] - alf["intervals"][0, 0])


def test_bad_sessions_fail_alone_naming_file_and_field(prefix, lab):
    messages = {str(key["session_uuid"]): msg for key, msg in lab["errors"]}
    assert len(messages) == len(BAD)
    expect = {"lengths": "feedbackType", "choice": "choice", "missing": "_ibl_trials", "unsorted": "intervals"}
    for name, key in BAD.items():
        message = messages[str(_uuid(*key))]
        assert str(_folder(lab["root"], *key) / "alf") in message, message
        assert expect[name] in message, message
        assert len(behavior.TrialSet & {"session_uuid": _uuid(*key)}) == 0
        assert len(behavior.Trials & {"session_uuid": _uuid(*key)}) == 0


def test_bad_sessions_are_recorded_as_job_errors(prefix, lab):
    """With reserved jobs (the populate worker's mode) the errors stay in TrialSet.jobs, one per bad session."""
    result = behavior.TrialSet.populate(reserve_jobs=True, suppress_errors=True, display_progress=False)
    assert result["success_count"] == 0 and len(result["error_list"]) == len(BAD)
    errors = behavior.TrialSet.jobs.errors.to_pandas().reset_index()
    try:
        messages = dict(zip(errors["session_uuid"].astype(str), errors["error_message"], strict=True))
        expect = {"lengths": "feedbackType", "choice": "choice", "missing": "_ibl_trials", "unsorted": "intervals"}
        assert set(messages) == {str(_uuid(*key)) for key in BAD.values()}
        for name, key in BAD.items():
            message = messages[str(_uuid(*key))]
            assert str(_folder(lab["root"], *key) / "alf") in message and expect[name] in message, message
    finally:
        behavior.TrialSet.jobs.delete_quick()
    assert len(behavior.TrialSet()) == len(SESSIONS)


def test_missing_data_root_is_a_clear_config_error(prefix, lab, monkeypatch):
    monkeypatch.delenv("IBLPIPE_DATA_ROOT")
    with pytest.raises(ConfigError, match="IBLPIPE_DATA_ROOT"):
        session_folder({"session_uuid": _uuid(*BAD["missing"])})


def test_fetch_trials_equals_to_pandas_exactly(prefix, lab):
    mouse = acquisition.Session * subject.Subject & {"subject_nickname": "LRN001"}
    expected = (behavior.Trials & mouse).to_pandas()
    got = behavior.fetch_trials(mouse)
    assert len(got) == sum(n for nick, _, _, _, n, _ in SESSIONS if nick == "LRN001")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    whole = behavior.fetch_trials()
    pd.testing.assert_frame_equal(whole, behavior.Trials().to_pandas(), check_exact=True)
    assert behavior.fetch_trials({"session_uuid": _uuid(*BAD["missing"])}).empty


def test_psychometric_fits_agree_with_psychofit(prefix, lab):
    from brainbox.behavior import training

    behavior.PsychometricFit.populate()
    fits = behavior.PsychometricFit.to_pandas().reset_index()
    biased = [s for s in SESSIONS if s[5].get("biased")]
    assert len(fits) == len(SESSIONS) + 2 * len(biased)
    for nick, day, number, *_ in SESSIONS[1:2] + biased[:1]:
        key = {"session_uuid": _uuid(nick, day, number)}
        rows = behavior.fetch_trials(key).sort_index()
        trials = Bunch(
            {
                "contrastLeft": rows["contrast_left"].to_numpy(float),
                "contrastRight": rows["contrast_right"].to_numpy(float),
                "choice": rows["choice"].to_numpy(float),
                "probabilityLeft": rows["probability_left"].to_numpy(float),
            }
        )
        for block in np.unique(trials["probabilityLeft"]):
            got = fits[(fits["session_uuid"] == key["session_uuid"]) & (fits["probability_left"] == block)]
            np.random.seed(0)
            ref = training.compute_psychometric(trials, block=block)
            assert np.allclose(got[["bias", "threshold", "lapse_low", "lapse_high"]].to_numpy()[0], ref, atol=1e-3)
            points = (behavior.PsychometricFit.Contrast & key & {"probability_left": block}).to_pandas()
            contrast = training.get_signed_contrast(trials)
            sel = trials["probabilityLeft"] == block
            assert np.array_equal(points.index.get_level_values("signed_contrast"), np.unique(contrast[sel]))
            right = [np.mean(trials["choice"][sel][contrast[sel] == c] == -1) for c in np.unique(contrast[sel])]
            assert np.allclose(points["p_right"], right)


def test_reaction_times_are_response_minus_stim_on_with_go_cue_fallback(prefix, lab):
    behavior.ReactionTime.populate()
    assert len(behavior.ReactionTime()) == len(SESSIONS)
    nick, day, number, *_ = SESSIONS[5]
    alf = load_object(_folder(lab["root"], nick, day, number) / "alf", "trials")
    assert np.isnan(alf["stimOn_times"]).any()
    onset = np.where(np.isnan(alf["stimOn_times"]), alf["goCue_times"], alf["stimOn_times"])
    rt = alf["response_times"] - onset
    contrast = np.nan_to_num(alf["contrastRight"]) * 100 - np.nan_to_num(alf["contrastLeft"]) * 100
    key = {"session_uuid": _uuid(nick, day, number)}
    per = (behavior.ReactionTime.Contrast & key).to_pandas().reset_index()
    assert np.array_equal(per["signed_contrast"], np.unique(contrast))
    assert np.allclose(per["median_rt"], [np.median(rt[contrast == c]) for c in np.unique(contrast)])
    assert np.isclose((behavior.ReactionTime & key).fetch1("median_rt"), np.median(rt))


def _populate_subject_tables():
    for table in (behavior.BehaviorHistory, behavior.DailySummary, behavior.TrainingStatus, behavior.LearningCurve):
        table.populate()


def _reference_statuses(tmp, nick: str) -> dict[str, str]:
    """ibllib.pipes.training_status.compute_training_status, date by date, on the trials stored in the database."""
    from ibllib.pipes.training_status import compute_training_status

    from iblpipe.compute.training import protocol_kind

    mouse = acquisition.Session * subject.Subject & {"subject_nickname": nick}
    sessions = (mouse & behavior.TrialSet).to_pandas(order_by="session_start_time").reset_index()
    trials = behavior.fetch_trials(mouse).reset_index()
    rows = []
    for s in sessions.itertuples():
        folder = tmp / nick / str(s.session_uuid)
        of = trials[trials["session_uuid"] == s.session_uuid].sort_values("trial_id")
        alf = {ALF_FIELDS[c]: of[c].to_numpy(float) for c in ALF_FIELDS}
        alf["intervals"] = of[["trial_start_time", "trial_end_time"]].to_numpy(float)
        alf["goCueTrigger_times"] = of["go_cue_time"].to_numpy(float)
        write_trials(folder, alf)
        kind = protocol_kind(s.task_protocol)
        rows.append(
            {
                "date": s.session_start_time.date().isoformat(),
                "session_path": str(folder),
                "task_protocol": kind,
                "training_status": "habituation" if kind == "habituation" else "not_computed",
                "combined_n_delay": 0,
                "location": "ephys_rig" if kind == "ephys" else "training_rig",
            }
        )
    df = pd.DataFrame(rows)
    first = df.index[df["training_status"] == "not_computed"][0]
    for date in df["date"].iloc[first:].unique():
        np.random.seed(0)  # psychofit's restarts, seeded as iblpipe.compute.psychometrics does
        df, _, _, _ = compute_training_status(df, date, one=None)
    return df.groupby("date")["training_status"].last().str.replace(" ", "_").to_dict()


def test_training_status_equals_ibllib_reference(prefix, lab, tmp_path):
    _populate_subject_tables()
    for nick in ("LRN001", "SLW002"):
        expected = _reference_statuses(tmp_path, nick)
        got = (behavior.TrainingStatus * subject.Subject & {"subject_nickname": nick}).to_pandas().reset_index()
        got = {d.isoformat(): s for d, s in zip(got["session_date"], got["training_status"], strict=True)}
        assert got == expected, nick
    statuses = set(
        (behavior.TrainingStatus * subject.Subject & {"subject_nickname": "LRN001"}).to_arrays("training_status")
    )
    assert {"in_training", "trained_1b", "ready4delay"} <= statuses, statuses  # several statuses exercised
    crit = (behavior.TrainingStatus.Criterion & {"criterion": "bias"}).to_pandas()
    assert len(crit) and crit["threshold"].notna().all()


def test_daily_summary_and_learning_curve(prefix, lab):
    _populate_subject_tables()
    from brainbox.behavior import training

    from iblpipe.compute.training import PROGRESSION

    days = (behavior.DailySummary * subject.Subject & {"subject_nickname": "LRN001"}).to_pandas().reset_index()
    assert len(days) == len({day for nick, day, *_ in GOOD_MOUSE})
    assert list(days["training_day"]) == list(range(1, len(days) + 1))
    four = days[days["session_date"] == dt.date.fromisoformat(_date(3))].iloc[0]
    assert four["n_sessions"] == 2 and four["n_trials"] == 520
    both = [load_object(_folder(lab["root"], "LRN001", 3, n) / "alf", "trials") for n in (1, 2)]
    combined = training.concatenate_trials({str(i): t for i, t in enumerate(both)})
    assert np.isclose(four["performance_easy"], training.compute_performance_easy(combined))
    curve = (behavior.LearningCurve * subject.Subject & {"subject_nickname": "LRN001"}).to_pandas().reset_index()
    status = (behavior.TrainingStatus * subject.Subject & {"subject_nickname": "LRN001"}).to_pandas().reset_index()
    trained = curve[curve["training_status"] == "trained_1a"].iloc[0]
    ranks = {s: i for i, s in enumerate(PROGRESSION)}
    first = status[[ranks.get(s, -1) >= ranks["trained_1a"] for s in status["training_status"]]]["session_date"].min()
    assert trained["first_date"] == first
    upto = days[(days["session_date"] <= first) & (days["protocol"] != "habituation")]
    assert trained["n_sessions"] == upto["n_sessions"].sum() and trained["n_trials"] == upto["n_trials"].sum()


def test_stored_digests_match_the_stored_trials_and_are_not_needed(prefix, lab):
    from iblpipe.compute.training import session_counts, session_digest

    _populate_subject_tables()
    digests = {r["session_uuid"]: r for r in behavior.TrialSet.Digest.to_dicts()}
    assert len(digests) == len(behavior.TrialSet()) > 0
    trials = behavior.fetch_trials(behavior.TrialSet.Digest).reset_index()
    for uid, frame in trials.groupby("session_uuid"):
        frame = frame.sort_values("trial_id")
        counts = session_counts(frame)
        assert digests[uid]["training_digest"] == session_digest(frame), uid
        assert (digests[uid]["n_easy"], digests[uid]["n_easy_correct"]) == counts[2:], uid
    # A database from before the digests: the per-subject tables read the trials instead, same rows.
    mouse = (subject.Subject & {"subject_nickname": "LRN001"}).keys()[0]  # {"subject_uuid": ...}
    tables = (behavior.DailySummary, behavior.TrainingStatus, behavior.TrainingStatus.Criterion)
    before = [(t & mouse).to_pandas() for t in tables]
    saved = (behavior.TrialSet.Digest & (acquisition.Session & mouse)).to_dicts()
    (behavior.TrialSet.Digest & (acquisition.Session & mouse)).delete_quick()
    try:
        (behavior.BehaviorHistory & mouse).delete(prompt=False, part_integrity="cascade")
        (behavior.StatusMemo & mouse).delete_quick()
        _populate_subject_tables()
        for table, old in zip(tables, before, strict=True):
            pd.testing.assert_frame_equal((table & mouse).to_pandas(), old)
    finally:
        behavior.TrialSet.Digest.insert(saved, skip_duplicates=True)


def test_new_or_replaced_session_recomputes_only_what_it_affects(prefix, lab, tmp_path):
    _populate_subject_tables()
    mouse = subject.Subject & {"subject_nickname": "LRN001"}
    before = (behavior.TrainingStatus * mouse).to_pandas().reset_index()
    fits_before = behavior.PsychometricFit.to_pandas()
    slow_before = (behavior.TrainingStatus - mouse).to_pandas()
    # replace the trials of the 8th date (a trained-level session) with a poor observer's
    nick, day, number, protocol, n, _ = GOOD_MOUSE[7]
    key = {"session_uuid": _uuid(nick, day, number)}
    write_trials(_folder(lab["root"], nick, day, number), make_trials(4242, n, threshold=60, lapse=0.3, bias=25))
    (behavior.TrialSet & key).delete(prompt=False, part_integrity="cascade")  # what the mirror does on a change
    assert len(behavior.TrainingStatus * mouse) == 0 and len(behavior.BehaviorHistory * mouse) == 0
    assert len(behavior.TrainingStatus - mouse) == len(slow_before)  # other subjects untouched
    behavior.TrialSet.populate(key)
    behavior.PsychometricFit.populate()
    _populate_subject_tables()
    after = (behavior.TrainingStatus * mouse).to_pandas().reset_index()
    fits_after = behavior.PsychometricFit.to_pandas()
    changed_date = dt.date.fromisoformat(_date(day))
    merged = before.merge(after, on="session_date", suffixes=("_before", "_after"))
    earlier = merged[merged["session_date"] < changed_date]
    assert (earlier["training_status_before"] == earlier["training_status_after"]).all()
    recomputed = {d.isoformat(): s for d, s in zip(after["session_date"], after["training_status"], strict=True)}
    assert recomputed == _reference_statuses(tmp_path, "LRN001")  # later dates follow the new trials
    assert len(merged) == len(before) == len(after)
    others = fits_before.drop(index=key["session_uuid"], level="session_uuid")
    pd.testing.assert_frame_equal(fits_after.drop(index=key["session_uuid"], level="session_uuid"), others)
    assert not np.allclose(
        fits_after.loc[key["session_uuid"]]["threshold"], fits_before.loc[key["session_uuid"]]["threshold"]
    )
    pd.testing.assert_frame_equal((behavior.TrainingStatus - mouse).to_pandas(), slow_before)
    # a new session arriving invalidates only its subject's history
    new = ("SLW002", 7, 1)
    _register(*new, "training")
    write_trials(_folder(lab["root"], *new), make_trials(77, 300, threshold=45, lapse=0.25))
    behavior.TrialSet.populate({"session_uuid": _uuid(*new)})
    assert len(behavior.BehaviorHistory & {"subject_uuid": ids.subject_uuid(LAB, "SLW002")}) == 0
    assert len(behavior.BehaviorHistory * mouse) == 1
    _populate_subject_tables()
    slw = (behavior.DailySummary & {"subject_uuid": ids.subject_uuid(LAB, "SLW002")}).to_pandas()
    assert len(slw) == len(SLOW_MOUSE) + 1


def test_trials_revision_is_read_at_import_and_not_followed(prefix, lab):
    """A later trials revision leaves TrialSet as imported; deleting its rows (README) re-imports the revision."""
    nick, day, number, _, n, obs = SLOW_MOUSE[0]
    key = {"session_uuid": _uuid(nick, day, number)}
    assert (behavior.TrialSet & key).fetch1("n_trials") == n
    revised = make_trials(4343, n + 33, **obs)
    revision = _folder(lab["root"], nick, day, number) / "alf" / "#2024-06-01#"  # a re-extraction
    revision.mkdir()
    for name, values in revised.items():
        np.save(revision / f"_ibl_trials.{name}.npy", values)
    behavior.TrialSet.populate(key)
    assert (behavior.TrialSet & key).fetch1("n_trials") == n  # not followed
    (behavior.TrialSet & [key]).delete(prompt=False, part_integrity="cascade")  # as the README says
    behavior.TrialSet.populate(key)
    rows = (behavior.Trials & key).to_pandas(order_by="trial_id")
    assert (behavior.TrialSet & key).fetch1("n_trials") == n + 33 == len(rows)
    assert np.array_equal(rows["trial_start_time"], revised["intervals"][:, 0])
