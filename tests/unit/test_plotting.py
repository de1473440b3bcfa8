"""Figure functions and the report writer on small frames made here: the axes hold the input values."""

from __future__ import annotations

import datetime as dt

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from iblpipe.plotting import figures
from iblpipe.plotting.data import MouseData, empty
from iblpipe.plotting.html import ReportRow, render_index, write_report

T = pd.Timestamp


def demo_mouse(**changes) -> MouseData:
    """Three session dates (two sessions on the second), weighings, water and statuses."""
    s1, s2a, s2b, s3 = T("2024-03-04 10:00"), T("2024-03-05 09:00"), T("2024-03-05 15:00"), T("2024-03-07 10:00")
    frames = dict(
        weighings=pd.DataFrame(
            {
                "weighing_time": [T("2024-03-04 08:00"), T("2024-03-05 08:00"), T("2024-03-07 08:00")],
                "weight": [22.0, 21.5, 21.0],
            }
        ),
        restrictions=pd.DataFrame(
            {"restriction_start_time": [T("2024-03-01")], "restriction_end_time": [pd.NaT], "reference_weight": [24.0]}
        ),
        water=pd.DataFrame(
            {
                "administration_time": [
                    T("2024-03-04 11:00"),
                    T("2024-03-04 17:00"),
                    T("2024-03-05 17:00"),
                    T("2024-03-06 12:00"),
                ],
                "water_type": ["Water", "Hydrogel", "Water", "Water"],
                "water_administered": [0.6, 0.4, 1.0, np.nan],
                "adlib": [False, False, False, True],
            }
        ),
        sessions=pd.DataFrame(
            {
                "session_start_time": [s1, s2a, s2b, s3],
                "n_trials": [300, 200, 250, 500],
                "trials_duration": [1800.0, 1200.0, 1500.0, 3000.0],
                "median_rt": [0.9, 0.5, 0.7, 0.4],
            }
        ),
        daily=pd.DataFrame(
            {
                "session_date": [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 7)],
                "n_trials": [300, 450, 500],
                "performance": [0.55, 0.7, 0.85],
                "performance_easy": [0.6, 0.8, 0.95],
            }
        ),
        fits=pd.DataFrame(
            {
                "session_start_time": [s1, s2a, s2b, s3, s3, s3],
                "probability_left": [0.5, 0.5, 0.5, 0.2, 0.5, 0.8],
                "bias": [20.0, 10.0, 8.0, -9.0, 1.0, 11.0],
                "threshold": [40.0, 25.0, 22.0, 12.0, 11.0, 13.0],
                "lapse_low": [0.3, 0.2, 0.15, 0.05, 0.04, 0.06],
                "lapse_high": [0.25, 0.2, 0.1, 0.05, 0.03, 0.04],
            }
        ),
        points=pd.DataFrame(
            {
                "session_start_time": [s1, s1, s2a, s2a, s2b, s2b, s3, s3, s3, s3],
                "probability_left": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.8],
                "signed_contrast": [-100.0, 100.0, -100.0, 100.0, -100.0, 100.0, -100.0, 100.0, 0.0, 0.0],
                "n_trials": [10, 10, 10, 20, 30, 20, 5, 5, 8, 8],
                "p_right": [0.3, 0.6, 0.2, 0.5, 0.1, 0.8, 0.0, 1.0, 0.75, 0.25],
            }
        ),
        status=pd.DataFrame(
            {
                "session_date": [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 7)],
                "training_status": ["in_training", "in_training", "trained_1a"],
            }
        ),
    )
    frames.update(changes)
    return MouseData(subject="KS014", lab="cortexlab", **frames)


def days(*isodates) -> np.ndarray:
    return mdates.date2num(np.array(isodates, dtype="datetime64[ns]"))


def line(ax, label):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, (label, [ln.get_label() for ln in ax.get_lines()])
    return found[0]


def xnum(ln) -> np.ndarray:
    return mdates.date2num(np.asarray(ln.get_xdata(), dtype="datetime64[ns]"))


def twin(ax):
    """The twinx axes sharing ``ax``'s x axis."""
    (other,) = [
        a
        for a in ax.figure.axes
        if a is not ax and a.get_shared_x_axes().joined(a, ax) and a.bbox.bounds == ax.bbox.bounds
    ]
    return other


def test_mouse_data_names_a_missing_column():
    with pytest.raises(ValueError, match="weighings: missing columns \\['weight'\\]"):
        demo_mouse(weighings=pd.DataFrame({"weighing_time": []}))


def test_weight_water_panel_holds_weights_reference_lines_and_daily_water():
    data = demo_mouse()
    fig = figures.plot_weight_water(data)
    ax = fig.axes[0]
    weight = line(ax, "weight")
    assert np.allclose(xnum(weight), days("2024-03-04T08:00", "2024-03-05T08:00", "2024-03-07T08:00"))
    assert np.allclose(weight.get_ydata(), [22.0, 21.5, 21.0])
    assert np.allclose(line(ax, "85% reference").get_ydata(), [24 * 0.85] * 2)
    assert np.allclose(line(ax, "75% reference").get_ydata(), [24 * 0.75] * 2)
    # ongoing restriction: drawn up to the latest weighing or session
    assert np.allclose(xnum(line(ax, "75% reference")), days("2024-03-01", "2024-03-07T10:00"))
    water = twin(ax)
    bars = {c.get_label(): c for c in water.containers}
    hydrogel, tap = bars["water: Hydrogel"], bars["water: Water"]
    assert np.allclose([b.get_height() for b in tap], [0.6, 1.0])
    assert np.allclose([b.get_height() for b in hydrogel], [0.4, 0.0])
    assert np.allclose([b.get_y() for b in tap], [0.4, 0.0])  # stacked on the hydrogel
    assert np.allclose([b.get_x() + b.get_width() / 2 for b in tap], days("2024-03-04", "2024-03-05"))
    assert np.allclose(xnum(line(water, "ad lib water")), days("2024-03-06"))


def test_every_dated_panel_marks_the_first_date_of_each_status():
    data = demo_mouse()
    for panel in figures.PANELS[:5]:
        ax = panel(data).axes[0]
        assert np.allclose(xnum(line(ax, "status: in_training")), days("2024-03-04", "2024-03-04"))
        assert np.allclose(xnum(line(ax, "status: trained_1a")), days("2024-03-07", "2024-03-07"))


def test_trials_duration_and_performance_panels_sum_sessions_per_date():
    data = demo_mouse()
    ax = figures.plot_trials_duration(data).axes[0]
    trials = line(ax, "trials")
    assert np.allclose(xnum(trials), days("2024-03-04", "2024-03-05", "2024-03-07"))
    assert np.allclose(trials.get_ydata(), [300, 450, 500])
    assert np.allclose(line(twin(ax), "duration").get_ydata(), [30.0, 45.0, 50.0])

    ax = figures.plot_performance_rt(data).axes[0]
    assert np.allclose(line(ax, "performance").get_ydata(), [0.55, 0.7, 0.85])
    assert np.allclose(line(ax, "easy").get_ydata(), [0.6, 0.8, 0.95])
    rt = twin(ax)
    assert rt.get_yscale() == "log"
    assert np.allclose(line(rt, "median RT").get_ydata(), [0.9, 0.6, 0.4])  # 0.6: median of 0.5 and 0.7


def test_heatmap_pools_sessions_of_a_date_and_leaves_missing_dates_empty():
    ax = figures.plot_contrast_heatmap(demo_mouse()).axes[0]
    (mesh,) = ax.collections
    values = np.ma.filled(mesh.get_array().reshape(2, 4).astype(float), np.nan)
    # rows -100, 100; columns 03-04 .. 03-07; 03-05 pools 10 and 30 trials at -100, 20 and 20 at 100
    expected = np.array(
        [[0.3, (0.2 * 10 + 0.1 * 30) / 40, np.nan, 0.0], [0.6, (0.5 * 20 + 0.8 * 20) / 40, np.nan, 1.0]]
    )
    assert np.allclose(values, expected, equal_nan=True)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["-100", "100"]
    assert np.allclose(
        mesh.get_coordinates()[0, :, 0],
        days("2024-03-03T12:00", "2024-03-04T12:00", "2024-03-05T12:00", "2024-03-06T12:00", "2024-03-07T12:00"),
    )


def test_fit_parameter_panel_shows_the_05_block_and_training_limits():
    from iblpipe.compute import training

    ax = figures.plot_fit_parameters(demo_mouse()).axes[0]
    assert np.allclose(line(ax, "bias").get_ydata(), [20.0, 10.0, 8.0, 1.0])
    assert np.allclose(line(ax, "threshold").get_ydata(), [40.0, 25.0, 22.0, 11.0])
    assert np.allclose(line(twin(ax), "lapse_high").get_ydata(), [0.25, 0.2, 0.1, 0.03])
    assert np.allclose(line(ax, "trained_1a threshold limit").get_ydata(), training.MAX_THRESHOLD_1A)
    assert np.allclose(line(ax, "trained_1b threshold limit").get_ydata(), training.MAX_THRESHOLD_1B)
    assert np.allclose(line(twin(ax), "trained_1b lapse limit").get_ydata(), training.MAX_LAPSE_1B)
    bias_1a = [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_label() == "trained_1a bias limit"]
    assert sorted(bias_1a) == [-training.MAX_BIAS_1A, training.MAX_BIAS_1A]


def test_latest_psychometric_panel_draws_each_block_of_the_last_session():
    from psychofit import erf_psycho_2gammas

    ax = figures.plot_latest_psychometric(demo_mouse()).axes[0]
    points = line(ax, "data p_left 0.5")
    assert np.allclose(points.get_xdata(), [-100, 100]) and np.allclose(points.get_ydata(), [0.0, 1.0])
    assert np.allclose(line(ax, "data p_left 0.2").get_ydata(), [0.75])
    curve = line(ax, "fit p_left 0.8")
    assert np.allclose(curve.get_ydata(), erf_psycho_2gammas([11.0, 13.0, 0.06, 0.04], curve.get_xdata()))
    assert ax.get_title() == "latest session 2024-03-07"


def test_whole_figure_title_names_mouse_lab_and_status(tmp_path):
    fig = figures.plot_mouse(demo_mouse())
    assert "KS014 (cortexlab): trained_1a" in fig._suptitle.get_text()
    assert len([a for a in fig.axes if a.get_title()]) == 6
    figures.save_mouse_figure(fig, tmp_path / "a" / "KS014.png", tmp_path / "a" / "KS014_thumb.png")
    from matplotlib.image import imread

    full, thumb = imread(tmp_path / "a" / "KS014.png"), imread(tmp_path / "a" / "KS014_thumb.png")
    assert full.shape[1] == figures.FIGSIZE[0] * figures.FIGURE_DPI
    assert thumb.shape[1] == int(full.shape[1] * figures.THUMBNAIL_SCALE)


def test_a_mouse_without_data_still_draws():
    frames = {
        name: empty(name)
        for name in ("weighings", "restrictions", "water", "sessions", "daily", "fits", "points", "status")
    }
    fig = figures.plot_mouse(MouseData(subject="NEW01", lab="lab", **frames))
    assert "no status" in fig._suptitle.get_text()


def test_digest_changes_with_any_value_and_not_with_row_order():
    data = demo_mouse()
    assert data.digest() == demo_mouse().digest()
    shuffled = demo_mouse(sessions=data.sessions.iloc[::-1])
    assert shuffled.digest() == data.digest()
    changed = data.sessions.copy()
    changed.loc[2, "n_trials"] = 251
    assert demo_mouse(sessions=changed).digest() != data.digest()


def rows(tmp_path):
    def row(lab, subject, status, n, last):
        return ReportRow(
            lab, subject, status, n, last, tmp_path / lab / f"{subject}.png", tmp_path / lab / f"{subject}_thumb.png"
        )

    return [
        row("cortexlab", "KS014", "trained_1a", 12, dt.date(2024, 3, 7)),
        row("cortexlab", "KS015", "in_training", 5, dt.date(2024, 3, 1)),
        row("mainenlab", "ZM_<1>", "ready4ephysrig", 30, dt.date(2024, 3, 8)),
        row("mainenlab", "ZM_2", None, 0, None),
    ]


def test_index_rows_sorted_by_status_with_relative_links_and_days_since(tmp_path):
    page = render_index(rows(tmp_path), tmp_path, title="t", today=dt.date(2024, 3, 10))
    order = [
        page.index(f'id="mouse-{lab}-{s}"')
        for lab, s in (
            ("mainenlab", "ZM_&lt;1&gt;"),
            ("cortexlab", "KS014"),
            ("cortexlab", "KS015"),
            ("mainenlab", "ZM_2"),
        )
    ]
    assert order == sorted(order)
    assert 'href="cortexlab/KS014.png"><img src="cortexlab/KS014_thumb.png"' in page
    assert '<td data-sort="3">3</td>' in page  # KS014: 2024-03-07 -> 2024-03-10
    assert "ZM_<1>" not in page  # escaped


def test_write_report_writes_overall_and_per_lab_pages(tmp_path):
    pages = write_report(rows(tmp_path), tmp_path, today=dt.date(2024, 3, 10))
    assert pages == [
        tmp_path / "index.html",
        tmp_path / "cortexlab" / "index.html",
        tmp_path / "mainenlab" / "index.html",
    ]
    lab = (tmp_path / "cortexlab" / "index.html").read_text()
    assert 'href="KS014.png"' in lab and "ZM_2" not in lab and 'href="../index.html"' in lab
