"""Issue 20 tables: the block rule in PsychometricFit, ConvergedFit, StatusStability and the figure's marks."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest

from iblpipe.compute import blocks, stability
from iblpipe.compute import training as tr
from iblpipe.schemas import acquisition, behavior, reference, report, subject
from iblpipe.sources import ids
from iblpipe.sources.alf import session_path
from tests.behavior_data import make_trials
from tests.behavior_lab import PROTOCOLS, write_trials

LAB = "trustlab"
START = dt.date(2024, 1, 1)
FLIPPING_DATA_SEED = 13  # as in tests/unit/test_fit_trust.py: biased data whose ephys lapses flip with the seed
BIASED_LAPSE = 0.07  # (fraction) generative lapse of those sessions
SCATTERED = {10: 0.2, 11: 0.2}  # trial -> probabilityLeft of the few off-0.5 trials of the training session
SCATTERED_08 = range(300, 330)  # 30 trials at 0.8 in that training session


def _flipping_sessions() -> list[dict]:
    rng = np.random.default_rng(FLIPPING_DATA_SEED)
    return [make_trials(rng, 600, biased=True, bias=0.0, threshold=10.0, lapse=BIASED_LAPSE) for _ in range(3)]


def _scattered_training() -> dict:
    trials = make_trials(np.random.default_rng(4), 450, bias=-2.0, threshold=15.0, lapse=0.05)
    p_left = trials["probabilityLeft"].copy()
    for i, value in SCATTERED.items():
        p_left[i] = value
    p_left[list(SCATTERED_08)] = 0.8
    return {**trials, "probabilityLeft": p_left}


MICE = {"FLP001": ("biased", _flipping_sessions), "TRN002": ("training", lambda: [_scattered_training()])}


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory):
    """Two mice as ALF: three biased sessions whose status flips with the seed; a training session with stray blocks."""
    root = tmp_path_factory.mktemp("alf")
    saved = os.environ.get("IBLPIPE_DATA_ROOT")
    os.environ["IBLPIPE_DATA_ROOT"] = str(root)
    reference.Lab.insert1({"lab_name": LAB})
    sessions = {}
    for nick, (protocol, make) in MICE.items():
        subject.Subject.insert1({"subject_uuid": ids.subject_uuid(LAB, nick), "subject_nickname": nick})
        subject.SubjectLab.insert1({"subject_uuid": ids.subject_uuid(LAB, nick), "lab_name": LAB})
        for day, trials in enumerate(make()):
            date = (START + dt.timedelta(days=day)).isoformat()
            uid = ids.session_uuid(LAB, nick, date, 1)
            acquisition.Session.insert1(
                {
                    "session_uuid": uid,
                    "subject_uuid": ids.subject_uuid(LAB, nick),
                    "session_lab": LAB,
                    "session_start_time": dt.datetime.fromisoformat(date) + dt.timedelta(hours=10),
                    "session_number": 1,
                    "task_protocol": PROTOCOLS[protocol],
                }
            )
            write_trials(session_path(root, LAB, nick, date, 1), trials)
            sessions.setdefault(nick, []).append((uid, START + dt.timedelta(days=day), PROTOCOLS[protocol], trials))
    for table in (
        behavior.TrialSet,
        behavior.PsychometricFit,
        behavior.ConvergedFit,
        behavior.BehaviorHistory,
        behavior.TrainingStatus,
        behavior.StatusStability,
    ):
        table.populate()
    yield sessions
    if saved is None:
        os.environ.pop("IBLPIPE_DATA_ROOT", None)
    else:
        os.environ["IBLPIPE_DATA_ROOT"] = saved


def _mouse(nick):
    return {"subject_uuid": ids.subject_uuid(LAB, nick)}


def test_training_session_fits_only_its_unbiased_block_and_counts_the_rest(lab):
    uid = lab["TRN002"][0][0]
    fits = (behavior.PsychometricFit & {"session_uuid": uid}).to_pandas().reset_index()
    assert fits["probability_left"].tolist() == [0.5]
    assert int(fits["n_trials"].iloc[0]) == 450 - len(SCATTERED) - len(SCATTERED_08)
    row = (behavior.ConvergedFit & {"session_uuid": uid}).fetch1()
    assert not row["has_blocks"]
    assert (row["n_blocks_fitted"], row["n_blocks_skipped"]) == (1, 2)
    assert row["n_trials_skipped"] == len(SCATTERED) + len(SCATTERED_08)


def test_biased_sessions_fit_every_block_and_the_converged_fit_is_never_worse(lab):
    keys = [{"session_uuid": uid} for uid, *_ in lab["FLP001"]]
    fits = (behavior.PsychometricFit & keys).to_pandas().reset_index()
    assert sorted(set(fits["probability_left"])) == [0.2, 0.5, 0.8]
    converged = (behavior.ConvergedFit.Block & keys).to_pandas().reset_index()
    assert len(converged) == len(fits) == 9
    assert np.all(converged["log_likelihood"] >= converged["psychofit_log_likelihood"])  # psychofit's fit is a start
    summary = (behavior.ConvergedFit & keys).to_pandas()
    assert summary["has_blocks"].astype(bool).all() and (summary["n_blocks_skipped"] == 0).all()
    assert blocks.MIN_BLOCK_TRIALS <= fits["n_trials"].min()


def _inputs(lab, nick):
    return [tr.SessionInput(date, protocol, trials, session_id=str(uid)) for uid, date, protocol, trials in lab[nick]]


def test_status_stability_equals_the_pure_computation_and_flags_the_flip(lab):
    stored = (behavior.StatusStability & _mouse("FLP001")).to_pandas(order_by="session_date").reset_index()
    expected = stability.status_stability(_inputs(lab, "FLP001"), stability.STABILITY_SEEDS)
    assert [d.date for d in expected] == list(stored["session_date"])
    assert [d.stable for d in expected] == list(stored["stable"].astype(bool))
    assert [",".join(d.statuses) for d in expected] == list(stored["statuses"])
    assert not stored["stable"].astype(bool).all()
    status = (behavior.TrainingStatus & _mouse("FLP001")).to_pandas(order_by="session_date")
    assert [s.split(",")[0] for s in stored["statuses"]] == list(status["training_status"])
    steady = (behavior.StatusStability & _mouse("TRN002")).to_pandas()
    assert steady["stable"].astype(bool).all()


def test_stability_verdicts_are_cached_in_the_status_memo(lab):
    memo = behavior.StatusMemo & _mouse("FLP001")
    n_windows = len(behavior.TrainingStatus & _mouse("FLP001"))
    assert len(memo) == n_windows * (1 + stability.STABILITY_SEEDS)
    (behavior.StatusStability & _mouse("FLP001")).delete(prompt=False)
    behavior.StatusStability.populate(_mouse("FLP001"))
    assert len(behavior.StatusMemo & _mouse("FLP001")) == n_windows * (1 + stability.STABILITY_SEEDS)
    assert not (behavior.StatusStability & _mouse("FLP001")).to_pandas()["stable"].astype(bool).all()


def test_figure_marks_the_unstable_dates(lab):
    from matplotlib import dates as mdates

    from iblpipe.plotting import figures

    data = report.load_mouse_data(_mouse("FLP001"))[ids.subject_uuid(LAB, "FLP001")]
    unstable = (behavior.StatusStability & _mouse("FLP001") & "stable = 0").to_pandas().reset_index()
    assert sorted(data.unstable["session_date"]) == sorted(unstable["session_date"])
    ax = figures.plot_fit_parameters(data).axes[0]
    (marks,) = [ln for ln in ax.get_lines() if ln.get_label() == figures.UNSTABLE_LABEL]
    drawn = mdates.date2num(np.asarray(marks.get_xdata(), dtype="datetime64[ns]"))
    assert np.allclose(drawn, mdates.date2num(np.array(sorted(unstable["session_date"]), dtype="datetime64[ns]")))
    fig = figures.plot_mouse(data)
    assert any("hangs on the fit seed" in t.get_text() for legend in fig.legends for t in legend.get_texts())


def test_new_tables_read_columnwise_equal_datajoints_frames(lab):
    import pandas as pd

    from iblpipe.schemas.columnar import columnar_frame, datajoint_frame

    for query in (
        behavior.ConvergedFit(),
        behavior.ConvergedFit.Block(),
        behavior.StatusStability(),
        behavior.FitParams(),
    ):
        fast = columnar_frame(query)
        assert fast is not None, query.table_name
        pd.testing.assert_frame_equal(fast, datajoint_frame(query), check_exact=True)


def test_figures_with_unstable_marks_drawn_in_parallel_equal_the_serial_ones(lab, tmp_path):
    serial = report.draw_report(tmp_path / "serial", force=True, today=dt.date(2024, 2, 1))
    parallel = report.draw_report(tmp_path / "parallel", force=True, today=dt.date(2024, 2, 1), processes=2)
    assert sorted(parallel.drawn) == sorted(serial.drawn) == [f"{LAB}/{m}" for m in sorted(MICE)]
    for mouse in MICE:
        for name in (f"{mouse}.png", f"thumbnails/{mouse}.png"):
            assert (tmp_path / "parallel" / LAB / name).read_bytes() == (tmp_path / "serial" / LAB / name).read_bytes()


def test_migrate_refits_sessions_with_near_empty_blocks_and_rehashes_parameters(prefix, lab):
    import hashlib
    import json
    import uuid

    from iblpipe.compute.params import content_hash
    from iblpipe.schemas import migrate

    uid = lab["TRN002"][0][0]
    key = {"session_uuid": uid, "params_name": behavior.DEFAULT_PARAMS_NAME}
    # a row as the earlier code made it: a 2-trial 0.2 'block' of a training session
    behavior.PsychometricFit.insert1(
        dict(key, probability_left=0.2, bias=6.25, threshold=38.3, lapse_low=0.83, lapse_high=0.53, n_trials=2),
        allow_direct_insert=True,
    )
    old_hash = uuid.UUID(hashlib.md5(json.dumps(behavior.DEFAULT_PARAMS, sort_keys=True).encode()).hexdigest())
    behavior.BehaviorParams.update1({"params_name": behavior.DEFAULT_PARAMS_NAME, "params_hash": old_hash})
    conn = behavior.schema.connection
    assert migrate.refit_pending(prefix, conn) == 1
    rehashed, refit, reconverged = migrate.refresh(prefix, conn)
    assert refit == 1 and reconverged == [] and rehashed == [f"behavior.BehaviorParams {behavior.DEFAULT_PARAMS_NAME}"]
    assert behavior.BehaviorParams.fetch1("params_hash") == content_hash(behavior.DEFAULT_PARAMS)
    assert not (behavior.PsychometricFit & key) and not (behavior.ConvergedFit & key)
    behavior.PsychometricFit.populate(key)
    behavior.ConvergedFit.populate(key)
    assert (behavior.PsychometricFit & key).to_pandas().reset_index()["probability_left"].tolist() == [0.5]
    assert (behavior.ConvergedFit & key).fetch1("n_blocks_skipped") == 2
    assert migrate.refresh(prefix, conn) == ([], 0, [])


def test_migrate_refits_converged_fits_below_psychofits(prefix, lab, run_cli):
    """A block stored as the earlier code could leave it (below psychofit's log-likelihood) is refitted."""
    from iblpipe.compute import mle
    from iblpipe.compute import psychometrics as psy
    from iblpipe.schemas import migrate

    uid = lab["FLP001"][1][0]
    key = {"session_uuid": uid, "params_name": behavior.DEFAULT_PARAMS_NAME, "probability_left": 0.8}
    (master,) = (behavior.ConvergedFit & key).proj().to_dicts()
    block = (behavior.ConvergedFit.Block & key).fetch1()
    behavior.ConvergedFit.Block.update1(
        dict(master, probability_left=0.8, threshold=1.0, log_likelihood=block["psychofit_log_likelihood"] - 0.07)
    )
    dry = run_cli("db", "migrate", "--dry-run", "--prefix", prefix)
    assert dry.returncode == 0, dry.stderr
    assert f"would delete the converged fit {migrate.describe_key(master)}: log-likelihood below" in dry.stdout
    assert "would delete 1 converged fit(s) below psychofit's log-likelihood" in dry.stdout
    assert (behavior.ConvergedFit.Block & key).fetch1("threshold") == 1.0  # a dry run changes nothing
    assert migrate.refresh(prefix, behavior.schema.connection) == ([], 0, [master])
    assert not (behavior.ConvergedFit & master) and not (behavior.ConvergedFit.Block & master)
    behavior.ConvergedFit.populate(master)
    refit = (behavior.ConvergedFit.Block & key).fetch1()
    pars = np.array((behavior.PsychometricFit & key).fetch1("bias", "threshold", "lapse_low", "lapse_high"))
    points = (behavior.PsychometricFit.Contrast & key).to_pandas().reset_index().sort_values("signed_contrast")
    c, n, p = (points[col].to_numpy(float) for col in ("signed_contrast", "n_trials", "p_right"))
    lower = np.array([c.min(), 0.0, 0.0, 0.0])
    upper = np.array([c.max(), psy.THRESHOLD_MAX, psy.LAPSE_MAX, psy.LAPSE_MAX])
    settings = (behavior.FitParams & master).fetch1("mle_grid_points", "mle_restarts", "mle_tolerance")
    expected = mle.fit_converged(
        c, n, p, lower=lower, upper=upper, grid_points=int(settings[0]), restarts=int(settings[1]),
        tolerance=float(settings[2]), starts=pars,
    )  # fmt: skip
    assert [refit[a] for a in ("bias", "threshold", "lapse_low", "lapse_high", "log_likelihood")] == [
        *expected.parameters.tolist(),
        expected.log_likelihood,
    ]
    assert refit["psychofit_log_likelihood"] == mle.log_likelihood(pars, c, n, p) <= refit["log_likelihood"]
    assert refit == block  # the same numbers as before the row was spoilt
    assert migrate.converged_pending(prefix, behavior.schema.connection) == []


def test_workers_reserve_stability_jobs_per_history(lab):
    """Workers populate through the jobs table: its key is the key source's (a history), as for TrainingStatus.

    With ``-> TrainingStatus`` in the key, the jobs table held session_date and refreshing it failed
    (``Field 'session_date' doesn't have a default value``): every ``populate --processes`` died there.
    """
    from iblpipe.populate import Worker

    before = (behavior.StatusStability & _mouse("FLP001")).to_pandas()
    (behavior.StatusStability & _mouse("FLP001")).delete(prompt=False)
    report = Worker([behavior.StatusStability], stale_timeout=60).run()
    assert report.ok and report.made == 1
    assert "session_date" not in behavior.StatusStability.jobs.primary_key
    pd.testing.assert_frame_equal((behavior.StatusStability & _mouse("FLP001")).to_pandas(), before)
