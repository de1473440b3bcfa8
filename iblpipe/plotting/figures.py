"""One mouse's performance figure: six panels, each ``plot_x(data, *, ax=None) -> Figure``.

Arrays in, Figure out: no queries here. The caller saves and closes the figure.
Every dated panel marks the first date of each training status with a dashed
vertical line labelled ``status: <name>``.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter

from iblpipe.compute import training
from iblpipe.plotting.data import (
    HEATMAP_BLOCK,
    REFERENCE_FRACTIONS,
    MouseData,
    contrast_heatmap,
    latest_session,
    sessions_per_day,
    status_changes,
    water_per_day,
)

FIGSIZE = (14.0, 13.0)  # (inch) the whole six-panel figure
PANEL_SIZE = (7.0, 4.0)  # (inch) a panel drawn alone
BAR_WIDTH_DAYS = 0.8  # (days) width of a daily water bar
CURVE_CONTRASTS = np.linspace(-100.0, 100.0, 201)  # (% contrast) where psychometric curves are evaluated
STATUS_COLORS = {
    "habituation": "#9e9e9e",
    "in_training": "#ff9800",
    "trained_1a": "#8bc34a",
    "trained_1b": "#2e7d32",
    "ready4ephysrig": "#1e88e5",
    "ready4delay": "#5e35b1",
    "ready4recording": "#c2185b",
    "untrainable": "#000000",
    "unbiasable": "#6d4c41",
}
UNSTABLE_COLOR = "#ff6f00"  # triangles at dates whose status changes with psychofit's seed
UNSTABLE_MARK_Y = 0.97  # (fraction of the axes height) where those triangles sit
UNSTABLE_LABEL = "status: unstable"  # their label (status: labels stay out of the panel legends)
BLOCK_COLORS = {0.2: "#d62728", 0.5: "#000000", 0.8: "#1f77b4"}  # probabilityLeft block -> colour


def _ax(ax, size=PANEL_SIZE):
    """The given axes, or a new figure's single axes."""
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def _dated(ax) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date")


def mark_status(ax, data: MouseData) -> None:
    """A dashed vertical line at the first date of each training status; a triangle atop each unstable date."""
    for date, status in status_changes(data.status):
        ax.axvline(
            np.datetime64(date, "ns"),
            color=STATUS_COLORS.get(status, "k"),
            ls="--",
            lw=1.0,
            label=f"status: {status}",
        )
    if not data.unstable.empty:
        dates = np.sort(_ns(data.unstable["session_date"]))
        ax.plot(
            dates,
            np.full(dates.size, UNSTABLE_MARK_Y),
            ls="",
            marker="v",
            ms=6,
            color=UNSTABLE_COLOR,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label=UNSTABLE_LABEL,
        )


def _legend(*axes) -> None:
    """One small legend of the data artists of ``axes`` (status lines and limits are explained elsewhere)."""
    handles, labels = [], []
    for a in axes:
        for handle, label in zip(*a.get_legend_handles_labels(), strict=True):
            if not label.startswith("status:") and not label.endswith("limit"):
                handles.append(handle)
                labels.append(label)
    if handles:
        axes[0].legend(handles, labels, fontsize="small", loc="upper left")


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes, color="0.5")


def _ns(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]")


def plot_weight_water(data: MouseData, *, ax=None) -> Figure:
    """Weight (g) with 85 and 75 percent reference-weight lines; water (mL) per day stacked by type, ad lib marked."""
    ax = _ax(ax)
    w = data.weighings.sort_values("weighing_time", kind="stable")
    ax.plot(_ns(w["weighing_time"]), w["weight"].to_numpy(dtype=float), "o-", color="k", ms=3, label="weight")
    end = max(
        [pd.Timestamp(t) for t in (*data.weighings["weighing_time"], *data.sessions["session_start_time"])],
        default=None,
    )
    for r in data.restrictions.itertuples(index=False):
        if pd.isna(r.reference_weight):
            continue
        stop = r.restriction_end_time if not pd.isna(r.restriction_end_time) else end
        stop = stop if stop is not None else r.restriction_start_time
        for fraction, style in zip(REFERENCE_FRACTIONS, ("--", ":"), strict=True):
            ax.plot(
                _ns([r.restriction_start_time, stop]),
                [r.reference_weight * fraction] * 2,
                style,
                color="r",
                label=f"{fraction:.0%} reference",
            )
    ax.set_ylabel("weight (g)")
    water = ax.twinx()
    per_day, adlib = water_per_day(data.water)
    bottom = np.zeros(len(per_day))
    for kind in per_day.columns:
        heights = per_day[kind].to_numpy(dtype=float)
        water.bar(_ns(per_day.index), heights, BAR_WIDTH_DAYS, bottom=bottom, alpha=0.4, label=f"water: {kind}")
        bottom = bottom + heights
    if len(adlib):
        water.plot(_ns(adlib), np.zeros(len(adlib)), "D", color="tab:cyan", label="ad lib water")
    water.set_ylabel("water (mL)")
    _legend(ax, water)
    if w.empty and data.water.empty:
        _no_data(ax, "weighings or water")
    mark_status(ax, data)
    _dated(ax)
    ax.set_title("weight and water")
    return ax.figure


def plot_trials_duration(data: MouseData, *, ax=None) -> Figure:
    """Trials per day and session duration (min) per day (sessions of a date summed)."""
    ax = _ax(ax)
    days = sessions_per_day(data.sessions)
    ax.plot(_ns(days.index), days["n_trials"].to_numpy(), "o-", color="k", ms=3, label="trials")
    ax.set_ylabel("trials (count)")
    duration = ax.twinx()
    duration.plot(_ns(days.index), days["duration_min"].to_numpy(), "s-", color="tab:purple", ms=3, label="duration")
    duration.set_ylabel("duration (min)", color="tab:purple")
    _legend(ax, duration)
    if days.empty:
        _no_data(ax, "sessions")
    mark_status(ax, data)
    _dated(ax)
    ax.set_title("trials and session duration")
    return ax.figure


def plot_performance_rt(data: MouseData, *, ax=None) -> Figure:
    """Performance and easy-trial performance per day (fraction) with the daily median reaction time (s, log)."""
    ax = _ax(ax)
    daily = data.daily.sort_values("session_date", kind="stable")
    dates = _ns(daily["session_date"])
    ax.plot(dates, daily["performance"].to_numpy(dtype=float), "o-", color="k", ms=3, label="performance")
    ax.plot(dates, daily["performance_easy"].to_numpy(dtype=float), "o-", color="tab:green", ms=3, label="easy")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("performance (fraction correct)")
    rt = ax.twinx()
    days = sessions_per_day(data.sessions)
    rt.plot(_ns(days.index), days["median_rt"].to_numpy(), "^-", color="tab:red", ms=3, label="median RT")
    if np.isfinite(days["median_rt"].to_numpy(dtype=float)).any():
        rt.set_yscale("log")
        rt.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        rt.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    rt.set_ylabel("median reaction time (s)", color="tab:red")
    _legend(ax, rt)
    if daily.empty:
        _no_data(ax, "daily performance")
    mark_status(ax, data)
    _dated(ax)
    ax.set_title("performance and reaction time")
    return ax.figure


def plot_contrast_heatmap(data: MouseData, *, ax=None) -> Figure:
    """p(right choice) per signed contrast (rows) and date (columns) in the probabilityLeft 0.5 block."""
    ax = _ax(ax)
    dates, contrasts, p_right = contrast_heatmap(data.points, HEATMAP_BLOCK)
    if len(dates):
        half = np.timedelta64(12, "h")
        x = np.append(_ns(dates) - half, _ns(dates[-1:]) + half)
        y = np.arange(len(contrasts) + 1) - 0.5
        mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(p_right), cmap="PuOr", vmin=0, vmax=1)
        ax.set_yticks(np.arange(len(contrasts)), [f"{c:g}" for c in contrasts])
        ax.figure.colorbar(mesh, ax=ax, label="p(right choice)")
    else:
        _no_data(ax, f"sessions with a {HEATMAP_BLOCK} block")
    ax.set_ylabel("signed contrast (%)")
    mark_status(ax, data)
    _dated(ax)
    ax.set_title(f"p(right) at probabilityLeft {HEATMAP_BLOCK}")
    return ax.figure


FIT_THRESHOLDS = (  # (parameter, value, status) lines of the fit-parameter panel
    ("threshold", training.MAX_THRESHOLD_1A, "trained_1a"),
    ("threshold", training.MAX_THRESHOLD_1B, "trained_1b"),
    ("bias", training.MAX_BIAS_1A, "trained_1a"),
    ("bias", training.MAX_BIAS_1B, "trained_1b"),
    ("lapse", training.MAX_LAPSE_1A, "trained_1a"),
    ("lapse", training.MAX_LAPSE_1B, "trained_1b"),
)
FIT_COLORS = {"bias": "tab:blue", "threshold": "tab:orange", "lapse_low": "tab:green", "lapse_high": "tab:olive"}


def plot_fit_parameters(data: MouseData, *, ax=None) -> Figure:
    """Psychometric parameters of the probabilityLeft 0.5 block per session, with the trained_1a/1b limits."""
    ax = _ax(ax)
    fits = data.fits[np.isclose(data.fits["probability_left"].to_numpy(dtype=float), HEATMAP_BLOCK)]
    fits = fits.sort_values("session_start_time", kind="stable")
    x = _ns(fits["session_start_time"])
    for name in ("bias", "threshold"):
        ax.plot(x, fits[name].to_numpy(dtype=float), "o-", ms=3, color=FIT_COLORS[name], label=name)
    ax.set_ylabel("bias, threshold (% contrast)")
    lapses = ax.twinx()
    for name in ("lapse_low", "lapse_high"):
        lapses.plot(x, fits[name].to_numpy(dtype=float), "o-", ms=3, color=FIT_COLORS[name], label=name)
    lapses.set_ylim(0, 1)
    lapses.set_ylabel("lapse rate (fraction)")
    _legend(ax, lapses)
    for parameter, value, status in FIT_THRESHOLDS:
        style = "--" if status == "trained_1a" else ":"
        target = lapses if parameter == "lapse" else ax
        color = FIT_COLORS["lapse_low" if parameter == "lapse" else parameter]
        signs = (1, -1) if parameter == "bias" else (1,)
        for sign in signs:
            target.axhline(sign * value, ls=style, lw=0.8, color=color, label=f"{status} {parameter} limit")
    if fits.empty:
        _no_data(ax, "psychometric fits")
    mark_status(ax, data)
    _dated(ax)
    ax.set_title(f"psychometric fit (probabilityLeft {HEATMAP_BLOCK}); -- 1a, : 1b limits")
    return ax.figure


def plot_latest_psychometric(data: MouseData, *, ax=None) -> Figure:
    """The latest session's psychometric curve and data points of each probabilityLeft block."""
    from psychofit import erf_psycho_2gammas

    ax = _ax(ax)
    fits, points = latest_session(data.fits, data.points)
    for fit in fits.sort_values("probability_left").itertuples(index=False):
        block = float(fit.probability_left)
        color = BLOCK_COLORS.get(round(block, 1), "0.4")
        sel = points[np.isclose(points["probability_left"].to_numpy(dtype=float), block)]
        sel = sel.sort_values("signed_contrast")
        ax.plot(
            sel["signed_contrast"].to_numpy(dtype=float),
            sel["p_right"].to_numpy(dtype=float),
            "o",
            color=color,
            label=f"data p_left {block:g}",
        )
        pars = [fit.bias, fit.threshold, fit.lapse_low, fit.lapse_high]
        ax.plot(
            CURVE_CONTRASTS, erf_psycho_2gammas(pars, CURVE_CONTRASTS), "-", color=color, label=f"fit p_left {block:g}"
        )
    if fits.empty:
        _no_data(ax, "psychometric fits")
        ax.set_title("latest session")
    else:
        ax.set_title(f"latest session {pd.Timestamp(fits['session_start_time'].iloc[0]):%Y-%m-%d}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("signed contrast (%)")
    ax.set_ylabel("p(right choice)")
    if not fits.empty:
        ax.legend(fontsize="small", loc="upper left")
    return ax.figure


PANELS = (
    plot_weight_water,
    plot_trials_duration,
    plot_performance_rt,
    plot_contrast_heatmap,
    plot_fit_parameters,
    plot_latest_psychometric,
)


def plot_mouse(data: MouseData) -> Figure:
    """The six panels of one mouse, titled with the mouse, its lab and its current status."""
    # Fixed margins, not constrained layout: it measured every tick label twice and cost about
    # half of a figure's drawing time; these leave room for the twin axes' labels and the legend.
    fig = Figure(figsize=FIGSIZE)
    fig.subplots_adjust(**FIGURE_MARGINS)
    axes = fig.subplots(3, 2).ravel()
    for ax in axes[1:5]:
        ax.sharex(axes[0])
    for panel, ax in zip(PANELS, axes, strict=True):
        panel(data, ax=ax)
    last = data.last_session
    fig.suptitle(
        f"{data.subject} ({data.lab}): {data.current_status or 'no status'}"
        f"; last session {last.isoformat() if last else 'none'}",
        fontsize="x-large",
    )
    changes = status_changes(data.status)
    handles = [Line2D([], [], ls="--", color=STATUS_COLORS.get(s, "k")) for _, s in changes]
    labels = [f"{s} from {d:%Y-%m-%d}" for d, s in changes]
    if not data.unstable.empty:
        handles.append(Line2D([], [], ls="", marker="v", color=UNSTABLE_COLOR))
        labels.append(f"status hangs on the fit seed ({len(data.unstable)} dates)")
    if handles:
        fig.legend(handles, labels, loc="lower center", ncols=min(len(handles), 5), fontsize="small")
    return fig


FIGURE_DPI = 80  # (dots per inch) of the saved full figure
FIGURE_MARGINS = {  # (fraction of the figure) subplot margins and gaps of the six-panel figure
    "left": 0.06,
    "right": 0.93,
    "top": 0.94,
    "bottom": 0.09,
    "wspace": 0.32,
    "hspace": 0.38,
}
THUMBNAIL_SCALE = 0.25  # (fraction) thumbnail size relative to the saved figure


def save_mouse_figure(fig: Figure, png, thumbnail) -> None:
    """Save the full PNG and its thumbnail (parent folders created)."""
    from pathlib import Path

    from PIL import Image

    png, thumbnail = Path(png), Path(thumbnail)
    png.parent.mkdir(parents=True, exist_ok=True)
    thumbnail.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=FIGURE_DPI)
    with Image.open(png) as image:
        size = (int(image.width * THUMBNAIL_SCALE), int(image.height * THUMBNAIL_SCALE))
        image.resize(size, Image.LANCZOS).save(thumbnail)
