"""A session's task files as the rig writes them: iblrig 6 (one task) or iblrig 8 chained protocols.

iblrig 6: ``raw_behavior_data/_iblrig_taskSettings.raw.json``, trials in ``alf/``.
iblrig 8, chained (passive then ephys): ``_ibl_experiment.description.yaml`` naming both
tasks, ``raw_task_data_00/`` and ``raw_task_data_01/`` settings (v8 keys), and the active
task's trials in ``alf/task_01/`` (the passive task has no trials).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

IBLRIG_V8 = "8.27.0"
PASSIVE_V8 = f"_iblrig_tasks_passiveChoiceWorld{IBLRIG_V8}"
EPHYS_V8 = f"_iblrig_tasks_ephysChoiceWorld{IBLRIG_V8}"
CHAINED_PROTOCOL = f"{PASSIVE_V8}/{EPHYS_V8}"  # Alyx's task_protocol of a chained session: the tasks joined by /
SETTINGS = "_iblrig_taskSettings.raw.json"
TRIAL_STYLES = ("attributes", "table")  # IBL's older per-attribute files, its table file
TRIAL_NPY = (
    "intervals",
    "stimOn_times",
    "goCue_times",
    "response_times",
    "feedback_times",
    "firstMovement_times",
    "choice",
    "feedbackType",
    "contrastLeft",
    "contrastRight",
    "probabilityLeft",
    "rewardVolume",
)


def write_trials(alf: Path, trials: dict[str, np.ndarray], style: str) -> list[Path]:
    """The trials object in one of ``TRIAL_STYLES``: ``table`` (_ibl_trials.table.pqt) or ``attributes`` (.npy)."""
    alf.mkdir(parents=True, exist_ok=True)
    if style == "table":
        table = {"intervals_0": trials["intervals"][:, 0], "intervals_1": trials["intervals"][:, 1]}
        table.update({k: v for k, v in trials.items() if k != "intervals"})
        pd.DataFrame(table).to_parquet(alf / "_ibl_trials.table.pqt", index=False)  # iblutil needs pandas metadata
        return [alf / "_ibl_trials.table.pqt"]
    files = []
    for name in TRIAL_NPY:
        np.save(alf / f"_ibl_trials.{name}.npy", trials[name])
        files.append(alf / f"_ibl_trials.{name}.npy")
    return files


def _json(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1))
    return path


def write_v6_session(folder: Path, trials: dict, style: str, settings: dict) -> list[Path]:
    """iblrig 6: settings in raw_behavior_data, trials in alf."""
    files = write_trials(folder / "alf", trials, style)
    return [*files, _json(folder / "raw_behavior_data" / SETTINGS, settings)]


def v8_settings(
    protocol: str, rig: str, number: int, user: str, nickname: str, start: str, end: str, delay: float
) -> dict:
    """The task settings keys iblrig 8 writes that ibllib reads (``raw_data_loaders.load_settings``)."""
    return {
        "IBLRIG_VERSION": IBLRIG_V8,
        "PYBPOD_PROTOCOL": protocol[: -len(IBLRIG_V8)],
        "RIG_NAME": rig,
        "SUBJECT_NAME": nickname,
        "SESSION_NUMBER": number,
        "ALYX_USER": user,
        "SESSION_START_TIME": start,
        "SESSION_END_TIME": end,
        "SESSION_DELAY_START": delay,
        "device_sound": {"OUTPUT": "harp"},
    }


def write_chained_session(folder: Path, trials: dict, settings: tuple[dict, dict]) -> list[Path]:
    """iblrig 8, passive then ephys: description, both tasks' settings, the ephys task's trials (table)."""
    import yaml

    description = {
        "version": "1.0.0",
        "procedures": ["Behavior training/tasks", "Ephys recording with acute probe(s)"],
        "tasks": [
            {PASSIVE_V8: {"collection": "raw_task_data_00", "sync_label": "bpod", "protocol_number": 0}},
            {EPHYS_V8: {"collection": "raw_task_data_01", "sync_label": "bpod", "protocol_number": 1}},
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "_ibl_experiment.description.yaml"
    path.write_text(yaml.safe_dump(description, sort_keys=True))
    files = [path, *(_json(folder / f"raw_task_data_{i:02d}" / SETTINGS, s) for i, s in enumerate(settings))]
    return files + write_trials(folder / "alf" / "task_01", trials, "table")
