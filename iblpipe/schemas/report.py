"""Nightly figures: which mouse figure was drawn from which inputs (issue 8).

``load_mouse_data`` fetches every mouse's figure inputs with one query per
input (never one per mouse); ``draw_report`` redraws only the mice whose
inputs hash changed (or every mouse with ``force``) and writes the index pages.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import datajoint as dj

from iblpipe.errors import ConfigError
from iblpipe.schemas import acquisition, behavior, subject  # noqa: F401  (named in table definitions)
from iblpipe.schemas.frames import to_frame

logger = logging.getLogger(__name__)

schema = dj.Schema()


@schema
class MouseFigure(dj.Manual):
    """One mouse's latest performance figure: the hash of the inputs it was drawn from, and where it is."""

    definition = """
    # nightly per-mouse performance figure; redrawn when inputs_hash changes
    -> subject.Subject
    ---
    inputs_hash : char(64)          # sha256 of the figure inputs, see iblpipe.plotting.data.MouseData.digest
    figure_path : varchar(1024)     # absolute path of the PNG
    drawn_time : datetime           # (local time) when it was drawn
    """


def _subjects(restriction):
    """The mice with sessions matching ``restriction``: subject_uuid, subject_nickname, lab_name."""
    query = (subject.Subject * subject.SubjectLab & acquisition.Session).proj("subject_nickname", "lab_name")
    return query if restriction is None else query & restriction


def load_mouse_data(restriction=None) -> dict:
    """``{subject_uuid: MouseData}`` of every mouse with sessions (restricted by ``restriction``), ten queries in all.

    ``restriction``: anything DataJoint restricts ``Subject * SubjectLab`` by
    (a dict, a list of dicts for OR, a query). Behaviour results are those of
    the default ``BehaviorParams`` (and ``FitParams`` for the unstable status dates).
    """
    from iblpipe.plotting.data import COLUMNS, MouseData, empty

    keys = _subjects(restriction)
    mice = to_frame(keys, index=False)
    keys = keys.proj()
    params = {"params_name": behavior.DEFAULT_PARAMS_NAME}
    session_time = acquisition.Session.proj("subject_uuid", "session_start_time")
    session_keys = acquisition.Session & keys
    queries = {
        "weighings": (subject.Weighing & keys).proj("subject_uuid", *COLUMNS["weighings"]),
        "restrictions": (subject.WaterRestriction & keys).proj("subject_uuid", *COLUMNS["restrictions"]),
        "water": (subject.WaterAdministration & keys).proj("subject_uuid", *COLUMNS["water"]),
        "sessions": (behavior.TrialSet * session_time & keys).proj(
            "subject_uuid", "session_start_time", "n_trials", "trials_duration"
        ),
        "rt": (behavior.ReactionTime & params & session_keys).proj("median_rt"),
        "daily": (behavior.DailySummary & params & keys).proj("n_trials", "performance", "performance_easy"),
        "fits": (behavior.PsychometricFit * session_time & params & keys).proj(
            "subject_uuid", "session_start_time", *COLUMNS["fits"][2:]
        ),
        "points": (behavior.PsychometricFit.Contrast * session_time & params & keys).proj(
            "subject_uuid", "session_start_time", "n_trials", "p_right"
        ),
        "status": (behavior.TrainingStatus & params & keys).proj("training_status"),
        "unstable": (
            behavior.StatusStability
            & params
            & {"fit_params_name": behavior.DEFAULT_FIT_PARAMS_NAME}
            & keys
            & "stable = 0"
        ).proj("statuses"),
    }
    frames = {name: to_frame(query, index=False) for name, query in queries.items()}
    rt = frames.pop("rt")[["session_uuid", "median_rt"]]
    frames["sessions"] = frames["sessions"].merge(rt, on="session_uuid", how="left")
    grouped = {name: dict(tuple(frame.groupby("subject_uuid", sort=False))) for name, frame in frames.items()}
    result = {}
    for mouse in mice.itertuples(index=False):
        parts = {}
        for name in COLUMNS:
            frame = grouped[name].get(mouse.subject_uuid)
            parts[name] = empty(name) if frame is None else frame[list(COLUMNS[name])].reset_index(drop=True)
        result[mouse.subject_uuid] = MouseData(subject=mouse.subject_nickname, lab=mouse.lab_name, **parts)
    return result


@dataclass
class ReportResult:
    """What one ``draw_report`` did."""

    drawn: list[str] = field(default_factory=list)  # lab/subject of the figures drawn
    unchanged: list[str] = field(default_factory=list)  # lab/subject whose inputs had not changed
    pages: list[Path] = field(default_factory=list)  # index pages written


def figure_paths(out: Path, lab: str, nickname: str) -> tuple[Path, Path]:
    """``<out>/<lab>/<subject>.png`` and its thumbnail ``<out>/<lab>/thumbnails/<subject>.png``."""
    return out / lab / f"{nickname}.png", out / lab / "thumbnails" / f"{nickname}.png"


def _draw_one(job: tuple) -> None:
    """Draw and save one mouse's figure (run in a worker process: no database access here)."""
    from iblpipe.plotting.figures import plot_mouse, save_mouse_figure

    mouse, png, thumb = job
    save_mouse_figure(plot_mouse(mouse), png, thumb)


def draw_report(
    out,
    subjects: list[str] | None = None,
    *,
    force: bool = False,
    today: dt.date | None = None,
    progress=None,
    processes: int = 1,
) -> ReportResult:
    """Draw the figures of changed mice (``subjects`` only, when given) and rewrite every index page.

    A mouse is redrawn when ``force``, when its inputs hash differs from
    ``MouseFigure``'s, or when its figure is not at the expected path. The
    index lists every mouse whose figure exists under ``out``.
    ``progress``: an optional ``progress(iterable, total)`` wrapper of the figures drawn (e.g. tqdm).
    ``processes``: figures drawn in parallel by this many forked processes (they
    only draw; this process records each figure in ``MouseFigure`` as it is saved).
    """
    from iblpipe.parallel import ordered_map
    from iblpipe.plotting import figures  # noqa: F401  (imported once, before the workers fork)
    from iblpipe.plotting.html import ReportRow, write_report

    if processes < 1:
        raise ConfigError(f"--processes {processes}: must be at least 1")
    out = Path(out).expanduser().resolve()
    data = load_mouse_data()
    if subjects:
        known = {d.subject for d in data.values()}
        unknown = sorted(set(subjects) - known)
        if unknown:
            raise ConfigError(f"no sessions for subject(s) {', '.join(unknown)}: check the nickname (`iblpipe status`)")
    drawn = {r["subject_uuid"]: r for r in MouseFigure.to_dicts()}
    result = ReportResult()
    todo = []  # (subject_uuid, name, digest, png) of each figure to draw
    jobs = []  # (mouse, png, thumbnail) of each, for _draw_one
    for uid, mouse in data.items():
        png, thumb = figure_paths(out, mouse.lab, mouse.subject)
        name = f"{mouse.lab}/{mouse.subject}"
        if subjects is not None and mouse.subject not in subjects:
            continue
        digest = mouse.digest()
        previous = drawn.get(uid)
        stale = previous is None or previous["inputs_hash"] != digest or previous["figure_path"] != str(png)
        if force or stale or not png.exists() or not thumb.exists():
            todo.append((uid, name, digest, png))
            jobs.append((mouse, png, thumb))
        else:
            result.unchanged.append(name)
    with ordered_map(_draw_one, jobs, processes) as done:
        for (uid, name, digest, png), _ in zip(todo, progress(done, len(jobs)) if progress else done, strict=True):
            MouseFigure.insert1(
                {"subject_uuid": uid, "inputs_hash": digest, "figure_path": str(png), "drawn_time": dt.datetime.now()},
                replace=True,
            )
            result.drawn.append(name)
    rows = []
    for mouse in data.values():
        png, thumb = figure_paths(out, mouse.lab, mouse.subject)
        if png.exists():
            rows.append(
                ReportRow(
                    mouse.lab, mouse.subject, mouse.current_status, len(mouse.sessions), mouse.last_session, png, thumb
                )
            )
    logger.info("drew %d figures, %d unchanged", len(result.drawn), len(result.unchanged))
    result.pages = write_report(rows, out, today=today or dt.date.today())
    return result
