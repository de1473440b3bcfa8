"""One mouse's whole history: sessions day by day, files written, Alyx records and ground truth returned.

The experimenter's policy follows the status computed on the trials so far
(``truth.StatusTracker``): training until 'trained 1b', then biasedChoiceWorld;
on the ephys rig from 'ready4ephysrig'; delayed starts from 'ready4delay';
ephysChoiceWorld with probes from 'ready4recording'. 'untrainable' and
'unbiasable' mice are culled, and so is any mouse that has not moved up the ladder
in ``STALL_SESSIONS`` sessions (one that reached 'ready4ephysrig' by a lucky fit
but cannot show a block bias would otherwise sit at 'ready4delay' for ever).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import numpy as np

from iblpipe.demo import ephys, rig
from iblpipe.demo.lab import MouseSpec
from iblpipe.demo.learner import simulate_trials
from iblpipe.demo.truth import LADDER, STATUS_RANK, TRIALS_KEYS, DateRecord, StatusTracker
from iblpipe.sources.alf import session_path
from iblpipe.sources.ids import name_uuid, session_uuid, subject_uuid

logger = logging.getLogger(__name__)

HABITUATION_DAYS = 2  # (dates) habituationChoiceWorld before training
IBLRIG_VERSION = "6.6.2"
PROTOCOL_NAMES = {
    "habituation": f"_iblrig_tasks_habituationChoiceWorld{IBLRIG_VERSION}",
    "training": f"_iblrig_tasks_trainingChoiceWorld{IBLRIG_VERSION}",
    "biased": f"_iblrig_tasks_biasedChoiceWorld{IBLRIG_VERSION}",
    "ephys": f"_iblrig_tasks_ephysChoiceWorld{IBLRIG_VERSION}",
}
P_SKIP_DAY = 0.06  # (probability) a weekday without a session
P_TWO_SESSIONS = 0.03  # (probability) a training date with two sessions
DELAY_RANGE = (900, 1800)  # (s) session start delay on delay-training dates
WATER_TYPE_SESSION = "Water 10% Sucrose"
WATER_TYPE_SUPPLEMENT = "Water"
MIN_DAILY_WATER = 1.0  # (mL) supplement up to this on session days
STALL_SESSIONS = 40  # (sessions) without a new status before 'ready4recording': the experimenter culls
PLANNED_PROVENANCES = (  # (Alyx provenance, um of error vs the planned trajectory)
    ("Planned", 0.0),
    ("Micro-manipulator", 60.0),
    ("Histology track", 120.0),
    ("Ephys aligned histology track", 100.0),
)


@dataclasses.dataclass
class MouseResult:
    """Everything the generator collects from one mouse (files are already on disk)."""

    records: list[dict]  # Alyx dumpdata records
    sessions: list[dict]  # ONE cache sessions rows
    datasets: list[dict]  # ONE cache datasets rows
    truth: dict  # ground truth of this mouse
    n_trials: int


def _phase(status_rank: int, done_recordings: int, spec: MouseSpec) -> str:
    if status_rank >= STATUS_RANK["ready4recording"]:
        return "recording"
    if status_rank >= STATUS_RANK["ready4delay"]:
        return "delay"
    if status_rank >= STATUS_RANK["ready4ephysrig"]:
        return "ephysrig"
    if status_rank >= STATUS_RANK["trained 1b"]:
        return "biased"
    return "training"


def simulate_mouse(spec: MouseSpec, out: Path, seed: int, max_sessions: int | None, region_ids: dict[str, int]):
    """Run one mouse's life; write its ALF folders; return a ``MouseResult``."""
    rng = np.random.default_rng([seed, 2, spec.index])
    subject = str(subject_uuid(spec.lab, spec.nickname))
    tracker = StatusTracker()
    records: list[dict] = []
    sessions: list[dict] = []
    datasets: list[dict] = []
    dates: list[dict] = []
    ref_weight = round(float(rng.uniform(20.0, 27.0)), 1)
    day, n_sessions, training_day, total_trials = spec.first_day, 0, 0, 0
    done_recordings, after_recordings = 0, 0
    best_rank, since_progress = STATUS_RANK["not_computed"], 0
    culled = False
    while not culled and (max_sessions is None or n_sessions < max_sessions):
        if day.weekday() >= 5 or (n_sessions > 0 and rng.random() < P_SKIP_DAY):
            day += dt.timedelta(days=1)
            continue
        date = day.isoformat()
        rank = tracker.max_rank()
        phase = "habituation" if len(tracker.dates) < HABITUATION_DAYS else _phase(rank, done_recordings, spec)
        protocol = {"habituation": "habituation", "training": "training", "recording": "ephys"}.get(phase, "biased")
        location = "ephys_rig" if phase in ("ephysrig", "delay", "recording") else "training_rig"
        n_today = 2 if protocol == "training" and training_day > 0 and rng.random() < P_TWO_SESSIONS else 1
        if max_sessions is not None:
            n_today = min(n_today, max_sessions - n_sessions)
        combined, delays, water = [], [], 0.0
        start_clock = dt.datetime.combine(day, dt.time(8, 0)) + dt.timedelta(minutes=int(rng.integers(0, 480)))
        for number in range(1, n_today + 1):
            delay = int(rng.integers(*DELAY_RANGE)) if phase == "delay" else int(rng.integers(0, 120))
            trials = simulate_trials(rng, spec.params, protocol, max(training_day, 0))
            eid = str(session_uuid(spec.lab, spec.nickname, date, number))
            folder = session_path(out, spec.lab, spec.nickname, date, number)
            recording = phase == "recording" and done_recordings < spec.n_recordings
            rig_name = f"_iblrig_{spec.lab}_{'ephys_0' if location == 'ephys_rig' else 'behavior_1'}"
            task_protocol = PROTOCOL_NAMES[protocol]
            if recording and done_recordings % 2 == 1:  # every other recording: iblrig 8, passive + ephys chained
                task_protocol = rig.CHAINED_PROTOCOL
                end = start_clock + dt.timedelta(seconds=round(delay + float(trials["intervals"][-1, 1])))
                args = (
                    rig_name,
                    number,
                    spec.responsible_user,
                    spec.nickname,
                    start_clock.isoformat(),
                    end.isoformat(),
                )
                settings = (rig.v8_settings(rig.PASSIVE_V8, *args, 0), rig.v8_settings(rig.EPHYS_V8, *args, delay))
                files = rig.write_chained_session(folder, trials, settings)
            else:
                settings = {
                    "PYBPOD_PROTOCOL": PROTOCOL_NAMES[protocol][: -len(IBLRIG_VERSION)],
                    "IBLRIG_VERSION": IBLRIG_VERSION,
                    "PYBPOD_BOARD": rig_name,
                    "SUBJECT_NAME": spec.nickname,
                    "SESSION_DATETIME": start_clock.isoformat(),
                    "SESSION_START_DELAY_SEC": delay,
                }
                style = rig.TRIAL_STYLES[n_sessions % len(rig.TRIAL_STYLES)]
                files = rig.write_v6_session(folder, trials, style, settings)
            duration = float(trials["intervals"][-1, 1])
            end_clock = start_clock + dt.timedelta(seconds=round(delay + duration))
            procedures = ["Behavior training/tasks"]
            probe_names = []
            if recording:
                probe_names = [f"probe{k:02d}" for k in range(spec.n_probes)]
                procedures.append("Ephys recording with acute probe(s)")
            for k, probe in enumerate(probe_names):
                pid = name_uuid("probe", spec.lab, spec.nickname, date, number, probe)
                planned = ephys.draw_trajectory(rng, int(rng.integers(0, len(ephys.TRACKS))))
                estimates = {
                    name: ephys.perturb(rng, planned, err) if err else planned for name, err in PLANNED_PROVENANCES
                }
                final = estimates["Ephys aligned histology track"]
                layout = ephys.PROBE_LAYOUTS[(spec.index + done_recordings + k) % len(ephys.PROBE_LAYOUTS)]
                files += ephys.write_sortings(
                    folder / "alf" / probe,
                    rng,
                    [seed, 3, spec.index, n_sessions, k],
                    layout,
                    (day + dt.timedelta(days=ephys.RERUN_DELAY)).isoformat(),
                    traj=final,
                    region_ids=region_ids,
                    stim_on=trials["stimOn_times"],
                    duration=duration,
                    pid=pid,
                )
                records.append(
                    {
                        "model": "experiments.probeinsertion",
                        "pk": str(pid),
                        "fields": {"session": eid, "name": probe, "model": "3B2", "serial": f"1840{spec.index:05d}{k}"},
                    }
                )
                for provenance, traj in estimates.items():
                    fields = {"probe_insertion": str(pid), **traj.as_dict(), "provenance": provenance}
                    fields.pop("track")
                    records.append(
                        {
                            "model": "experiments.trajectoryestimate",
                            "pk": str(name_uuid("trajectory", pid, provenance)),
                            "fields": fields,
                        }
                    )
            if probe_names:
                done_recordings += 1
            elif phase == "recording":
                after_recordings += 1
            n_correct = int(np.sum(trials["feedbackType"] == 1))
            records.append(
                {
                    "model": "actions.session",
                    "pk": eid,
                    "fields": {
                        "subject": subject,
                        "start_time": start_clock.isoformat(),
                        "end_time": end_clock.isoformat(),
                        "number": number,
                        "task_protocol": task_protocol,
                        "lab": spec.lab,
                        "location": rig_name,
                        "users": [spec.responsible_user],
                        "procedures": procedures,
                        "projects": ["iblpipe_demo"],
                        "qc": 0,
                        "type": "Experiment",
                        "n_trials": int(trials["choice"].size),
                        "n_correct_trials": n_correct,
                        "json": {"SESSION_START_DELAY_SEC": delay, "RIG_NAME": rig_name},
                    },
                }
            )
            session_water = round(float(np.sum(trials["rewardVolume"])) / 1000.0, 4)
            water += session_water
            records.append(
                {
                    "model": "actions.wateradministration",
                    "pk": str(name_uuid("water", eid)),
                    "fields": {
                        "subject": subject,
                        "date_time": end_clock.isoformat(),
                        "water_administered": session_water,
                        "water_type": WATER_TYPE_SESSION,
                        "adlib": False,
                        "session": eid,
                        "user": spec.responsible_user,
                    },
                }
            )
            sessions.append(
                {
                    "id": eid,
                    "lab": spec.lab,
                    "subject": spec.nickname,
                    "date": day,
                    "number": number,
                    "task_protocol": task_protocol,
                    "projects": "iblpipe_demo",
                }
            )
            rel_session = folder.relative_to(out)
            for f in files:
                rel = f.relative_to(out / rel_session).as_posix()
                datasets.append({"eid": eid, "rel_path": rel, "file_size": f.stat().st_size})
            combined.append(trials)
            delays.append(delay)
            total_trials += int(trials["choice"].size)
            n_sessions += 1
            start_clock = end_clock + dt.timedelta(minutes=int(rng.integers(30, 120)))
        weight = round(ref_weight * float(rng.uniform(0.84, 0.95)), 2)
        records.append(
            {
                "model": "actions.weighing",
                "pk": str(name_uuid("weighing", subject, date)),
                "fields": {
                    "subject": subject,
                    "date_time": f"{date}T07:55:00",
                    "weight": weight,
                    "user": spec.responsible_user,
                },
            }
        )
        if water < MIN_DAILY_WATER:
            records.append(
                {
                    "model": "actions.wateradministration",
                    "pk": str(name_uuid("water", subject, date, "supplement")),
                    "fields": {
                        "subject": subject,
                        "date_time": f"{date}T18:00:00",
                        "water_administered": round(MIN_DAILY_WATER - water, 4),
                        "water_type": WATER_TYPE_SUPPLEMENT,
                        "adlib": False,
                        "session": None,
                        "user": spec.responsible_user,
                    },
                }
            )
        record = DateRecord(
            date=date,
            protocol=protocol,
            location=location,
            delay=float(max(delays)),
            trials={k: np.concatenate([t[k] for t in combined]) for k in TRIALS_KEYS},
            n_sessions=len(combined),
        )
        status = tracker.add(record)
        dates.append(
            {
                "date": date,
                "status": status,
                "protocol": protocol,
                "location": location,
                "delay": int(max(delays)),
                "n_sessions": len(combined),
                "n_trials": int(sum(t["choice"].size for t in combined)),
                "eids": [str(session_uuid(spec.lab, spec.nickname, date, k)) for k in range(1, len(combined) + 1)],
            }
        )
        if protocol != "habituation":
            training_day += 1
            if STATUS_RANK[status] > best_rank:
                best_rank, since_progress = STATUS_RANK[status], 0
            else:
                since_progress += len(combined)
        stalled = since_progress >= STALL_SESSIONS and best_rank < STATUS_RANK["ready4recording"]
        culled = (
            stalled
            or status in ("untrainable", "unbiasable")
            or (phase == "recording" and done_recordings >= spec.n_recordings and after_recordings >= spec.n_after)
        )
        day += dt.timedelta(days=1)
    end_day = day
    if culled:
        # Weekend adlib water is not modelled; the mouse's death date closes its history.
        pass
    records[:0] = _subject_records(spec, subject, ref_weight, end_day if culled else None)
    return MouseResult(records, sessions, datasets, _truth(spec, subject, dates), total_trials)


def _subject_records(spec: MouseSpec, subject: str, ref_weight: float, death: dt.date | None) -> list[dict]:
    restriction_start = dt.datetime.combine(spec.first_day - dt.timedelta(days=7), dt.time(9, 0))
    return [
        {
            "model": "subjects.subject",
            "pk": subject,
            "fields": {
                "nickname": spec.nickname,
                "sex": spec.sex,
                "birth_date": spec.birth_date.isoformat(),
                "death_date": death.isoformat() if death else None,
                "lab": spec.lab,
                "responsible_user": spec.responsible_user,
                "strain": spec.strain,
                "line": spec.line,
                "projects": ["iblpipe_demo"],
            },
        },
        {
            "model": "actions.waterrestriction",
            "pk": str(name_uuid("waterrestriction", subject, restriction_start.date())),
            "fields": {
                "subject": subject,
                "start_time": restriction_start.isoformat(),
                "end_time": dt.datetime.combine(death, dt.time(9, 0)).isoformat() if death else None,
                "reference_weight": ref_weight,
                "water_type": WATER_TYPE_SESSION,
            },
        },
    ]


def _truth(spec: MouseSpec, subject: str, dates: list[dict]) -> dict:
    """Ground truth of one mouse: parameters, first date of each status, per-date statuses."""
    first: dict[str, dict] = {}
    n_sessions = n_trials = 0
    for d in dates:
        n_sessions += d["n_sessions"]
        n_trials += d["n_trials"]
        reached = [s for s in LADDER if STATUS_RANK[d["status"]] >= STATUS_RANK[s]]
        if d["status"] in ("untrainable", "unbiasable"):
            reached = [d["status"]]
        for s in reached:
            if s not in first:
                first[s] = {
                    "date": d["date"],
                    "eid": d["eids"][-1],
                    "sessions_to_reach": n_sessions,
                    "trials_to_reach": n_trials,
                }
    return {
        "lab": spec.lab,
        "nickname": spec.nickname,
        "subject_uuid": subject,
        "params": dataclasses.asdict(spec.params),
        "first": first,
        "final_status": dates[-1]["status"] if dates else None,
        "dates": dates,
    }
