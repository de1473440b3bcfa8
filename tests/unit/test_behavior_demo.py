"""Behaviour computations on the demo lab's ALF trials (fixture ``demo_lab``; skipped until it lands).

Per session: validation passes, performance equals brainbox's, fits equal brainbox's
(same seeded restarts). Per subject with task protocols in its raw task settings: the
training history equals ibllib's procedure run on the same trials.
"""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest
from brainbox.behavior import training as bb
from one.alf import io as alfio

from iblpipe.compute import psychometrics as psy
from iblpipe.compute import training as tr
from iblpipe.compute.trials import validate_trials
from tests.behavior_data import bunch, reference_statuses

MAX_SESSIONS = 10  # (count) demo sessions checked one by one, to stay fast
MAX_SUBJECTS = 1  # (count) demo subjects whose history is compared with ibllib
MAX_HISTORY = 30  # (count) first sessions of each compared subject (a prefix is a history too)


@pytest.fixture(scope="module")
def demo_sessions(request):
    try:
        root = request.getfixturevalue("demo_lab")
    except pytest.FixtureLookupError:
        pytest.skip("no demo_lab fixture yet (demo generator not landed)")
    folders = sorted({p.parent for p in root.glob("*/Subjects/*/*/*/alf/_ibl_trials.*")})
    if not folders:
        pytest.skip(f"demo lab {root} has no ALF trials")
    return folders


def _settings(session) -> dict:
    """The raw task settings of a session (protocol, rig, start delay), or {}."""
    for path in session.glob("raw_*/_iblrig_taskSettings.raw.json"):
        return json.loads(path.read_text())
    return {}


def test_demo_sessions_agree_with_brainbox(demo_sessions):
    step = max(1, len(demo_sessions) // MAX_SESSIONS)
    for alf in demo_sessions[::step][:MAX_SESSIONS]:
        trials = alfio.load_object(alf, "trials", short_keys=True)
        validate_trials(trials, where=str(alf))
        t = bunch(trials)
        sc = psy.signed_contrast(t.contrastLeft, t.contrastRight)
        perf, perf_easy = psy.performance(t.feedbackType, sc)
        assert np.array_equal(perf_easy, bb.compute_performance_easy(t), equal_nan=True), alf
        for block in (None, *psy.PROBABILITY_LEFT_BLOCKS):
            fit = psy.fit_psychometric(sc, t.choice, probability_left=t.probabilityLeft, block=block)
            with psy.seeded_fits():
                reference = bb.compute_psychometric(t, block=block)
            assert np.allclose(fit.parameters, reference, rtol=0, atol=1e-3, equal_nan=True), (alf, block)


def test_demo_training_history_equals_ibllib(demo_sessions, tmp_path):
    by_subject = {}
    for alf in demo_sessions:
        by_subject.setdefault(alf.parents[2], []).append(alf.parent)
    by_subject = {subject: sessions[:MAX_HISTORY] for subject, sessions in by_subject.items()}
    compared = 0
    for subject_dir, sessions in sorted(by_subject.items()):
        settings = [_settings(s) for s in sessions]
        if not all(md.get("PYBPOD_PROTOCOL") for md in settings):
            continue
        history = []
        for session, md in zip(sessions, settings, strict=True):
            trials = dict(alfio.load_object(session / "alf", "trials", short_keys=True))
            date = datetime.date.fromisoformat(session.parent.name)
            rig = (
                md.get("RIG_NAME", md.get("PYBPOD_BOARD")) or ""
            )  # as ibllib's compute_session_duration_delay_location
            delay = md.get("SESSION_DELAY_START", md.get("SESSION_START_DELAY_SEC", 0))
            history.append((date, tr.protocol_kind(md["PYBPOD_PROTOCOL"]), trials, "ephys" in rig, float(delay)))
        ours = tr.training_history([tr.SessionInput(*h) for h in history])
        assert {h.date: h.status for h in ours} == reference_statuses(tmp_path / subject_dir.name, history)
        compared += 1
        if compared == MAX_SUBJECTS:
            break
    if not compared:
        pytest.skip("demo sessions have no raw task settings with PYBPOD_PROTOCOL")
