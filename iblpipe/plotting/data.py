"""The inputs of one mouse's performance figure (plain frames) and the per-day views the panels draw.

``MouseData`` is what ``iblpipe.schemas.report`` fetches for each mouse and
what every figure function takes; nothing here queries a database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

FIGURE_VERSION = "3"  # bump when the drawing changes, so every figure is redrawn once
HEATMAP_BLOCK = 0.5  # (probability) probabilityLeft block of the contrast x date heatmap
REFERENCE_FRACTIONS = (0.85, 0.75)  # (fraction) of the reference weight: the welfare lines of the weight panel

# Columns of each frame of MouseData (units in the field comments below).
COLUMNS = {
    "weighings": ("weighing_time", "weight"),
    "restrictions": ("restriction_start_time", "restriction_end_time", "reference_weight"),
    "water": ("administration_time", "water_type", "water_administered", "adlib"),
    "sessions": ("session_start_time", "n_trials", "trials_duration", "median_rt"),
    "daily": ("session_date", "n_trials", "performance", "performance_easy"),
    "fits": ("session_start_time", "probability_left", "bias", "threshold", "lapse_low", "lapse_high"),
    "points": ("session_start_time", "probability_left", "signed_contrast", "n_trials", "p_right"),
    "status": ("session_date", "training_status"),
    "unstable": ("session_date", "statuses"),
}


def empty(name: str) -> pd.DataFrame:
    """An empty frame with the columns of ``MouseData.<name>``."""
    return pd.DataFrame({c: [] for c in COLUMNS[name]})


@dataclass(frozen=True)
class MouseData:
    """Everything one mouse's figure is drawn from: one frame per input, one row per item.

    weighings: weighing_time (datetime), weight (g).
    restrictions: restriction_start_time, restriction_end_time (NaT while ongoing), reference_weight (g).
    water: administration_time, water_type, water_administered (mL; NaN when ad libitum), adlib (bool).
    sessions: session_start_time, n_trials (count), trials_duration (s), median_rt (s) per session.
    daily: session_date, n_trials (count), performance, performance_easy (fraction correct) per date.
    fits: session_start_time, probability_left, bias, threshold (% contrast), lapse_low, lapse_high (fraction).
    points: session_start_time, probability_left, signed_contrast (% contrast), n_trials, p_right (fraction).
    status: session_date, training_status.
    unstable: session_date, statuses (comma-separated, the stored one first) of status dates whose verdict
    changes with psychofit's seed (``behavior.StatusStability``); empty when none or not computed.
    """

    subject: str
    lab: str
    weighings: pd.DataFrame
    restrictions: pd.DataFrame
    water: pd.DataFrame
    sessions: pd.DataFrame
    daily: pd.DataFrame
    fits: pd.DataFrame
    points: pd.DataFrame
    status: pd.DataFrame
    unstable: pd.DataFrame = field(default_factory=lambda: empty("unstable"))

    def __post_init__(self) -> None:
        for name, columns in COLUMNS.items():
            missing = set(columns) - set(getattr(self, name).columns)
            if missing:
                raise ValueError(f"MouseData({self.subject}).{name}: missing columns {sorted(missing)}")

    def digest(self) -> str:
        """sha256 of every input value (and FIGURE_VERSION): equal digests draw equal figures."""
        h = hashlib.sha256(f"{FIGURE_VERSION}|{self.subject}|{self.lab}".encode())
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame):
                frame = value[list(COLUMNS[f.name])]
                frame = frame.sort_values(list(frame.columns[:1]), kind="stable").reset_index(drop=True)
                h.update(f"|{f.name}|".encode())
                h.update(frame.to_csv(index=False, float_format="%.9g", date_format="%Y-%m-%dT%H:%M:%S").encode())
        return h.hexdigest()

    @property
    def last_session(self) -> dt.date | None:
        """Date of the latest session, None without sessions."""
        if self.sessions.empty:
            return None
        return pd.Timestamp(self.sessions["session_start_time"].max()).date()

    @property
    def current_status(self) -> str | None:
        """Training status of the latest status date, None without one."""
        if self.status.empty:
            return None
        return str(self.status.sort_values("session_date", kind="stable")["training_status"].iloc[-1])


def _dates(values) -> pd.Series:
    """Calendar dates (datetime64 at midnight) of dates or datetimes."""
    return pd.to_datetime(pd.Series(values)).dt.normalize()


def status_changes(status: pd.DataFrame) -> list[tuple[pd.Timestamp, str]]:
    """(first date, status) of each status the mouse was assigned, in date order."""
    if status.empty:
        return []
    frame = pd.DataFrame({"date": _dates(status["session_date"]).to_numpy(), "status": status["training_status"]})
    first = frame.groupby("status", sort=False)["date"].min().sort_values(kind="stable")
    return [(date, name) for name, date in first.items()]


def water_per_day(water: pd.DataFrame) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """(mL) Measured water per date (rows) and water type (columns), and the dates with ad-lib water."""
    dates = _dates(water["administration_time"]).to_numpy()
    adlib = water["adlib"].astype(bool).to_numpy()
    measured = pd.DataFrame({"date": dates[~adlib], "type": water["water_type"].to_numpy()[~adlib]}).assign(
        ml=water["water_administered"].to_numpy(dtype=float)[~adlib]
    )
    table = measured.pivot_table(index="date", columns="type", values="ml", aggfunc="sum", fill_value=0.0)
    return table.sort_index(), pd.DatetimeIndex(sorted(set(dates[adlib])))


def sessions_per_day(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per date: n_trials (sum), duration_min (sum of trials durations, min), median_rt (s, median of session medians)."""
    frame = pd.DataFrame(
        {
            "date": _dates(sessions["session_start_time"]).to_numpy(),
            "n_trials": sessions["n_trials"].to_numpy(dtype=float),
            "duration_min": sessions["trials_duration"].to_numpy(dtype=float) / 60.0,
            "median_rt": sessions["median_rt"].to_numpy(dtype=float),
        }
    )
    return frame.groupby("date").agg(
        n_trials=("n_trials", "sum"), duration_min=("duration_min", "sum"), median_rt=("median_rt", "median")
    )


def contrast_heatmap(
    points: pd.DataFrame, block: float = HEATMAP_BLOCK
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Every calendar date from the first to the last session, the signed contrasts (%), and p(right) [contrast, date].

    Sessions of one date are pooled (weighted by their trials); dates without a
    session of that block are NaN.
    """
    sel = points[np.isclose(points["probability_left"].to_numpy(dtype=float), block)]
    if sel.empty:
        return pd.DatetimeIndex([]), np.array([]), np.zeros((0, 0))
    frame = pd.DataFrame(
        {
            "date": _dates(sel["session_start_time"]).to_numpy(),
            "contrast": sel["signed_contrast"].to_numpy(dtype=float),
            "n": sel["n_trials"].to_numpy(dtype=float),
        }
    ).assign(right=sel["p_right"].to_numpy(dtype=float) * sel["n_trials"].to_numpy(dtype=float))
    pooled = frame.groupby(["contrast", "date"])[["n", "right"]].sum()
    p_right = (pooled["right"] / pooled["n"]).unstack("date")
    dates = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D")
    p_right = p_right.reindex(columns=dates)
    return dates, p_right.index.to_numpy(dtype=float), p_right.to_numpy(dtype=float)


def latest_session(fits: pd.DataFrame, points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fits and data points of the latest session with a fit."""
    if fits.empty:
        return fits, points
    last = fits["session_start_time"].max()
    return fits[fits["session_start_time"] == last], points[points["session_start_time"] == last]
