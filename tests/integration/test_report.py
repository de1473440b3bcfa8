"""Nightly figures from the tables: axes hold table values; only changed mice are redrawn; the index in Chromium."""

from __future__ import annotations

import datetime as dt

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from iblpipe.errors import ConfigError
from iblpipe.plotting import figures
from iblpipe.schemas import acquisition, behavior, reference, report, subject
from iblpipe.sources import ids
from iblpipe.sources.alf import session_path
from tests.behavior_lab import PROTOCOLS, make_trials, write_trials
from tests.chromium import render

LAB = "plotlab"
START = dt.date(2024, 5, 6)
# (nickname, day offset, number, n_trials, observer parameters)
SESSIONS = [
    ("PLT001", 0, 1, 300, dict(threshold=40, lapse=0.2, bias=12)),
    ("PLT001", 1, 1, 420, dict(threshold=14, lapse=0.04, bias=3)),
    ("PLT001", 1, 2, 300, dict(threshold=14, lapse=0.04, bias=3)),
    ("PLT001", 2, 1, 500, dict(threshold=12, lapse=0.03, bias=2)),
    ("PLT001", 4, 1, 520, dict(threshold=11, lapse=0.03, bias=1)),
    ("PLT002", 0, 1, 250, dict(threshold=45, lapse=0.25, bias=15)),
    ("PLT002", 1, 1, 260, dict(threshold=40, lapse=0.25, bias=15)),
]
MICE = ("PLT001", "PLT002")


def _uuid(nick, day, number):
    return ids.session_uuid(LAB, nick, (START + dt.timedelta(days=day)).isoformat(), number)


def _folder(root, nick, day, number):
    return session_path(root, LAB, nick, (START + dt.timedelta(days=day)).isoformat(), number)


def _populate():
    for table in (
        behavior.TrialSet,
        behavior.PsychometricFit,
        behavior.ReactionTime,
        behavior.BehaviorHistory,
        behavior.DailySummary,
        behavior.TrainingStatus,
    ):
        table.populate()


@pytest.fixture(scope="module")
def lab(prefix, tmp_path_factory, set_data_root):
    """Two mice with sessions, trials, weighings, water and a restriction; behaviour tables populated."""
    root = tmp_path_factory.mktemp("alf")
    set_data_root(root)
    reference.Lab.insert1({"lab_name": LAB})
    rng = np.random.default_rng(7)
    for i, nick in enumerate(MICE):
        uid = ids.subject_uuid(LAB, nick)
        subject.Subject.insert1({"subject_uuid": uid, "subject_nickname": nick})
        subject.SubjectLab.insert1({"subject_uuid": uid, "lab_name": LAB})
        subject.WaterRestriction.insert1(
            {
                "restriction_uuid": ids.subject_uuid(LAB, f"{nick}-restriction"),
                "subject_uuid": uid,
                "restriction_start_time": dt.datetime.combine(START, dt.time(8)) - dt.timedelta(days=3),
                "reference_weight": 25.0 + i,
            }
        )
        subject.Weighing.insert(
            {
                "weighing_uuid": ids.subject_uuid(LAB, f"{nick}-w{day}"),
                "subject_uuid": uid,
                "weighing_time": dt.datetime.combine(START + dt.timedelta(days=day), dt.time(8, 30)),
                "weight": float(np.round(22 + i - 0.3 * day + rng.normal(0, 0.2), 1)),
            }
            for day in range(5)
        )
        subject.WaterAdministration.insert(
            {
                "wateradmin_uuid": ids.subject_uuid(LAB, f"{nick}-water{day}"),
                "subject_uuid": uid,
                "administration_time": dt.datetime.combine(START + dt.timedelta(days=day), dt.time(17)),
                "water_administered": None if day == 3 else 0.5 + 0.1 * day,
                "water_type": "Hydrogel" if day == 2 else "Water",
                "adlib": day == 3,
            }
            for day in range(5)
        )
    for i, (nick, day, number, n, observer) in enumerate(SESSIONS):
        acquisition.Session.insert1(
            {
                "session_uuid": _uuid(nick, day, number),
                "subject_uuid": ids.subject_uuid(LAB, nick),
                "session_lab": LAB,
                "session_start_time": dt.datetime.combine(START + dt.timedelta(days=day), dt.time(9 + 3 * number)),
                "session_number": number,
                "task_protocol": PROTOCOLS["training"],
            }
        )
        write_trials(_folder(root, nick, day, number), make_trials(300 + i, n, **observer))
    _populate()
    yield {"root": root}


def _line(ax, label):
    (found,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return found


def _x(ln):
    return mdates.date2num(np.asarray(ln.get_xdata(), dtype="datetime64[ns]"))


def _days(values):
    return mdates.date2num(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]"))


def _twin(ax):
    (other,) = [a for a in ax.figure.axes if a is not ax and a.bbox.bounds == ax.bbox.bounds]
    return other


def test_figure_axes_hold_the_table_values(prefix, lab):
    uid = ids.subject_uuid(LAB, "PLT001")
    mouse = {"subject_uuid": uid}
    data = report.load_mouse_data({"subject_nickname": "PLT001"})
    assert list(data) == [uid]
    fig = figures.plot_mouse(data[uid])
    weight_ax, trials_ax, perf_ax, heat_ax, fit_ax, _ = fig.axes[:6]
    assert "PLT001 (plotlab)" in fig._suptitle.get_text()

    weighings = (subject.Weighing & mouse).to_pandas().sort_values("weighing_time")
    assert np.allclose(_line(weight_ax, "weight").get_ydata(), weighings["weight"], rtol=1e-5)
    assert np.allclose(_x(_line(weight_ax, "weight")), _days(weighings["weighing_time"]))
    assert np.allclose(_line(weight_ax, "85% reference").get_ydata(), 25.0 * 0.85)

    trials = ((behavior.TrialSet * acquisition.Session) & mouse).to_pandas()
    per_day = trials.groupby(pd.to_datetime(trials["session_start_time"]).dt.normalize())["n_trials"].sum()
    assert np.allclose(_line(trials_ax, "trials").get_ydata(), per_day.to_numpy())
    assert np.allclose(_x(_line(trials_ax, "trials")), _days(per_day.index))
    assert per_day.iloc[1] == 420 + 300  # the two sessions of day 1 summed

    daily = (behavior.DailySummary & mouse).to_pandas().reset_index().sort_values("session_date")
    assert np.allclose(_line(perf_ax, "performance").get_ydata(), daily["performance"])
    assert np.allclose(_line(perf_ax, "easy").get_ydata(), daily["performance_easy"])

    fits = ((behavior.PsychometricFit * acquisition.Session) & mouse & {"probability_left": 0.5}).to_pandas()
    fits = fits.sort_values("session_start_time")
    assert np.allclose(_line(fit_ax, "bias").get_ydata(), fits["bias"])
    assert np.allclose(_line(_twin(fit_ax), "lapse_low").get_ydata(), fits["lapse_low"])

    # heatmap: the last date has one session, so its column is that session's p_right per contrast
    last = _uuid("PLT001", 4, 1)
    points = (behavior.PsychometricFit.Contrast & {"session_uuid": last}).to_pandas().reset_index()
    (mesh,) = heat_ax.collections
    n_dates = 5  # day 0 .. day 4, day 3 empty
    values = np.ma.filled(mesh.get_array().reshape(-1, n_dates).astype(float), np.nan)
    assert np.allclose(values[:, -1], points.sort_values("signed_contrast")["p_right"])
    assert np.isnan(values[:, 3]).all()

    status = (behavior.TrainingStatus & mouse).to_pandas().reset_index()
    first = status.groupby("training_status")["session_date"].min()
    for name, date in first.items():
        assert np.allclose(_x(_line(weight_ax, f"status: {name}")), _days([date, date]))


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in (out / LAB).glob("*.png")}


def test_only_changed_mice_are_redrawn(prefix, lab, tmp_path):
    out = tmp_path / "report"
    first = report.draw_report(out, today=dt.date(2024, 5, 12))
    assert sorted(first.drawn) == [f"{LAB}/{m}" for m in MICE]
    hashes = dict(zip(*report.MouseFigure.to_arrays("subject_uuid", "inputs_hash"), strict=True))
    assert len(hashes) == 2
    assert (out / LAB / "PLT001.png").exists() and (out / LAB / "thumbnails" / "PLT002.png").exists()
    before = _mtimes(out)

    again = report.draw_report(out, today=dt.date(2024, 5, 12))
    assert again.drawn == [] and sorted(again.unchanged) == [f"{LAB}/{m}" for m in MICE]
    assert _mtimes(out) == before

    # one session of PLT002 changes: its trials are rewritten and re-imported
    key = {"session_uuid": _uuid("PLT002", 1, 1)}
    write_trials(_folder(lab["root"], "PLT002", 1, 1), make_trials(999, 280, threshold=30, lapse=0.2, bias=10))
    (behavior.TrialSet & key).delete(prompt=False, part_integrity="cascade")
    _populate()
    changed = report.draw_report(out, today=dt.date(2024, 5, 12))
    assert changed.drawn == [f"{LAB}/PLT002"] and changed.unchanged == [f"{LAB}/PLT001"]
    after = _mtimes(out)
    assert after["PLT001.png"] == before["PLT001.png"] and after["PLT002.png"] != before["PLT002.png"]
    new_hashes = dict(zip(*report.MouseFigure.to_arrays("subject_uuid", "inputs_hash"), strict=True))
    assert new_hashes[ids.subject_uuid(LAB, "PLT001")] == hashes[ids.subject_uuid(LAB, "PLT001")]
    assert new_hashes[ids.subject_uuid(LAB, "PLT002")] != hashes[ids.subject_uuid(LAB, "PLT002")]


def test_figures_drawn_in_parallel_equal_the_serial_ones(prefix, lab, tmp_path):
    serial = report.draw_report(tmp_path / "serial", force=True, today=dt.date(2024, 5, 12))
    parallel = report.draw_report(tmp_path / "parallel", force=True, today=dt.date(2024, 5, 12), processes=2)
    assert sorted(parallel.drawn) == sorted(serial.drawn) == [f"{LAB}/{m}" for m in MICE]
    for mouse in MICE:
        for name in (f"{mouse}.png", f"thumbnails/{mouse}.png"):
            assert (tmp_path / "parallel" / LAB / name).read_bytes() == (tmp_path / "serial" / LAB / name).read_bytes()
    paths = report.MouseFigure.to_arrays("figure_path")
    assert sorted(paths) == [str(tmp_path / "parallel" / LAB / f"{m}.png") for m in MICE]
    with pytest.raises(ConfigError, match="--processes 0"):
        report.draw_report(tmp_path / "none", processes=0)


def test_plot_command_force_subject_and_index_in_chromium(prefix, lab, run_cli, tmp_path):
    out = tmp_path / "cli-report"
    ok = run_cli("plot", "--prefix", prefix, "--out", str(out), "--subject", "PLT001")
    assert ok.returncode == 0, ok.stderr
    assert "drew 1 figures" in ok.stdout and f"drew {LAB}/PLT001" in ok.stdout
    forced = run_cli("plot", "--prefix", prefix, "--out", str(out), "--force", "--processes", "2")
    assert forced.returncode == 0, forced.stderr
    assert "drew 2 figures, 0 unchanged" in forced.stdout
    bad = run_cli("plot", "--prefix", prefix, "--out", str(out), "--subject", "NOPE")
    assert bad.returncode == 2 and "NOPE" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

    screenshot = tmp_path / "index.png"
    dom = render(out / "index.html", tmp_path, screenshot)
    for mouse in MICE:
        assert f'id="mouse-{LAB}-{mouse}"' in dom
        assert f'src="{LAB}/thumbnails/{mouse}.png"' in dom
    from matplotlib.image import imread

    pixels = imread(screenshot)
    assert pixels.shape[0] > 500 and pixels[..., :3].std() > 0.05  # not a blank page
    lab_dom = render(out / LAB / "index.html", tmp_path, tmp_path / "lab.png")
    assert all(f'id="mouse-{LAB}-{m}"' in lab_dom for m in MICE)

    # sortable by status: the page's own script, run by a click on the status header (once: ascending)
    ranks = _status_sort_keys(dom)
    assert len(set(ranks)) > 1 and ranks == sorted(ranks, reverse=True)  # written most advanced first
    page = (out / "index.html").read_text()
    clicked = out / "index-clicked.html"
    clicked.write_text(
        page.replace("</body>", "<script>document.querySelectorAll('#mice th')[2].click()</script></body>")
    )
    assert _status_sort_keys(render(clicked, tmp_path, tmp_path / "clicked.png")) == sorted(ranks)


def _status_sort_keys(dom: str) -> list[float]:
    """The status cells' sort keys (rank of the training status), row by row as the page shows them."""
    import re

    rows = re.findall(r'<tr id="mouse-[^"]+">(.*?)</tr>', dom, flags=re.S)
    return [float(re.findall(r'<td data-sort="([^"]*)"', row)[2]) for row in rows]
