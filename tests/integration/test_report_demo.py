"""A demo mouse's figure: metadata mirrored from the demo's Alyx dump, trials from its ALF files; axes equal the tables."""

from __future__ import annotations

import datetime as dt

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from iblpipe.schemas import acquisition, behavior, report, subject


@pytest.fixture(scope="module")
def demo_mouse(prefix, request, set_data_root):
    """The demo dump mirrored; the behaviour tables of the mouse with most weighings populated."""
    try:
        root = request.getfixturevalue("demo_lab")
    except pytest.FixtureLookupError:
        pytest.skip("no demo_lab fixture yet (demo generator not landed)")
    from iblpipe import mirror
    from iblpipe.sources.alyx_dump import read_dump

    set_data_root(root)
    assert not mirror.mirror(read_dump(root / "alyx_dump.json")).bad
    counts = subject.Subject.aggr(subject.Weighing, n="count(*)").to_pandas().sort_values("n", kind="stable")
    uid = counts.index[-1]
    mouse = {"subject_uuid": uid}
    sessions = acquisition.Session & mouse
    for table in (behavior.TrialSet, behavior.PsychometricFit, behavior.ReactionTime):
        table.populate(sessions)
    for table in (behavior.BehaviorHistory, behavior.DailySummary, behavior.TrainingStatus):
        table.populate(mouse)
    yield mouse


def _line(ax, label):
    (found,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return found


def _x(ln):
    return mdates.date2num(np.asarray(ln.get_xdata(), dtype="datetime64[ns]"))


def _days(values):
    return mdates.date2num(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]"))


def test_demo_mouse_figure_equals_the_tables(demo_mouse, tmp_path):
    from iblpipe.plotting.figures import plot_mouse

    nick = (subject.Subject & demo_mouse).fetch1("subject_nickname")
    result = report.draw_report(tmp_path, [nick], today=dt.date(2025, 1, 1))
    assert [name.split("/")[1] for name in result.drawn] == [nick]
    (data,) = report.load_mouse_data(demo_mouse).values()
    weight_ax, trials_ax, perf_ax, _, fit_ax, _ = plot_mouse(data).axes[:6]

    weighings = (subject.Weighing & demo_mouse).to_pandas().sort_values("weighing_time", kind="stable")
    assert len(weighings) > 0
    assert np.allclose(_line(weight_ax, "weight").get_ydata(), weighings["weight"], rtol=1e-5)
    assert np.allclose(_x(_line(weight_ax, "weight")), _days(weighings["weighing_time"]))

    trials = (behavior.TrialSet * acquisition.Session & demo_mouse).to_pandas()
    assert len(trials) > 0
    per_day = trials.groupby(pd.to_datetime(trials["session_start_time"]).dt.normalize())["n_trials"].sum()
    assert np.allclose(_line(trials_ax, "trials").get_ydata(), per_day.to_numpy())

    daily = (behavior.DailySummary & demo_mouse).to_pandas().reset_index().sort_values("session_date")
    assert np.allclose(_line(perf_ax, "performance").get_ydata(), daily["performance"].astype(float), equal_nan=True)

    fits = (behavior.PsychometricFit * acquisition.Session & demo_mouse & {"probability_left": 0.5}).to_pandas()
    assert np.allclose(_line(fit_ax, "threshold").get_ydata(), fits.sort_values("session_start_time")["threshold"])

    status = (behavior.TrainingStatus & demo_mouse).to_pandas().reset_index()
    for name, date in status.groupby("training_status")["session_date"].min().items():
        assert np.allclose(_x(_line(weight_ax, f"status: {name}")), _days([date, date]))
    assert (tmp_path / data.lab / f"{nick}.png").exists()


def test_demo_index_in_chromium_shows_every_demo_mouse(demo_mouse, demo_lab, tmp_path):
    """Every mouse of the demo lab gets a row, thumbnail and link on the index page Chromium renders."""
    import json

    from matplotlib.image import imread

    from tests.chromium import render

    truth = json.loads((demo_lab / "ground_truth.json").read_text())
    mice = [(s["lab"], s["nickname"]) for s in truth["subjects"]]
    out = tmp_path / "report"
    result = report.draw_report(out, today=dt.date(2025, 1, 1))
    assert sorted(result.drawn) == sorted(f"{lab}/{nick}" for lab, nick in mice)
    dom = render(out / "index.html", tmp_path, tmp_path / "index.png")
    for lab, nick in mice:
        assert f'id="mouse-{lab}-{nick}"' in dom, nick
        assert f'href="{lab}/{nick}.png"><img src="{lab}/thumbnails/{nick}.png"' in dom, nick
    pixels = imread(tmp_path / "index.png")
    assert pixels.shape[0] > 500 and pixels[..., :3].std() > 0.05  # not a blank page
