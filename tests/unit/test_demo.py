"""The synthetic lab generator: real formats (ONE, ALF spec, Alyx dump), ground truth, determinism, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iblpipe import cli
from iblpipe.demo import generate
from iblpipe.sources import ids

TINY = {"labs": 1, "mice": 2, "max_sessions": 6}  # (mice, sessions) fast determinism checks
STATUS_RANK = {  # ibllib.pipes.training_status.TRAINING_STATUS ranks
    "untrainable": -4,
    "unbiasable": -3,
    "not_computed": -2,
    "habituation": -1,
    "in training": 0,
    "trained 1a": 1,
    "trained 1b": 2,
    "ready4ephysrig": 3,
    "ready4delay": 4,
    "ready4recording": 5,
}


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def one(demo_lab):
    from one.api import One

    return One(cache_dir=demo_lab, mode="local")


@pytest.fixture(scope="module")
def truth(demo_lab):
    return json.loads((demo_lab / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def dump(demo_lab):
    return json.loads((demo_lab / "alyx_dump.json").read_text())


def test_same_seed_same_bytes_other_seed_other_lab(tmp_path):
    generate(tmp_path / "a", seed=3, **TINY)
    # another process (another str hash seed) through the CLI, with parallel mice: same bytes
    argv = [sys.executable, "-m", "iblpipe", "demo", "generate", "--out", str(tmp_path / "b"), "--seed", "3"]
    argv += ["--workers", "2", *(f"--{k.replace('_', '-')}={v}" for k, v in TINY.items())]
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    generate(tmp_path / "c", seed=4, **TINY)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert len(a) > 50
    assert a == b
    assert a["alyx_dump.json"] != c["alyx_dump.json"]
    assert a["ground_truth.json"] != c["ground_truth.json"]


def test_one_loads_every_session_and_eids_are_the_shared_ids(one, demo_lab):
    import one.alf.io as alfio

    sessions = one._cache["sessions"]
    assert len(sessions) > 50
    row = sessions.reset_index().iloc[0]
    eid = str(row["id"])
    assert eid == str(ids.session_uuid(row["lab"], row["subject"], row["date"], row["number"]))
    trials = one.load_object(eid, "trials")
    path = demo_lab / row["lab"] / "Subjects" / row["subject"] / str(row["date"]) / f"{row['number']:03d}" / "alf"
    assert np.array_equal(trials["choice"], alfio.load_object(path, "trials")["choice"])
    assert trials["intervals"].shape == (trials["choice"].size, 2)
    # the two trials layouts alternate: per-attribute files, then the table file
    listed = [set(one.list_datasets(str(e))) for e in sessions.index[:20]]
    assert any("alf/_ibl_trials.table.pqt" in d and "alf/_ibl_trials.choice.npy" not in d for d in listed)
    assert any("alf/_ibl_trials.choice.npy" in d and "alf/_ibl_trials.table.pqt" not in d for d in listed)
    # the cache lists exactly the files on disk
    datasets = one._cache["datasets"].reset_index()
    on_disk = {p.relative_to(demo_lab).as_posix() for p in demo_lab.glob("*/Subjects/*/*/*/**/*") if p.is_file()}
    by_eid = sessions.reset_index().set_index("id")
    listed = {
        f"{by_eid.at[e, 'lab']}/Subjects/{by_eid.at[e, 'subject']}/{by_eid.at[e, 'date']}/"
        f"{by_eid.at[e, 'number']:03d}/{r}"
        for e, r in zip(datasets["eid"], datasets["rel_path"], strict=True)
    }
    assert listed == on_disk


def test_file_names_pass_alf_spec(demo_lab):
    from one.alf import spec
    from one.alf.path import full_path_parts

    files = [p for p in demo_lab.glob("*/Subjects/*/*/*/**/*") if p.is_file()]
    assert files
    for p in files:
        parts = full_path_parts(p, as_dict=True, assert_valid=True)
        assert parts["subject"] and parts["object"] and parts["attribute"]
        assert spec.is_valid(p.name), p
    sessions = {p.parent for p in demo_lab.glob("*/Subjects/*/*/*/alf")}
    assert sessions and all(spec.is_session_path(s) for s in sessions)


def test_cache_tables_list_what_make_parquet_db_finds(demo_lab, tmp_path):
    """Same sessions, datasets, columns and dtypes as ``one.alf.cache.make_parquet_db``, with three differences.

    Ours (1) use uuid eids from ``iblpipe.sources.ids`` (make_parquet_db: path ids or random-hash ids),
    so Alyx dump pks, ONE eids and mirror uuids are one id; (2) fill task_protocol and projects (it leaves
    them empty); (3) add Alyx's default_revision column (ONE warns per dataset without it).
    """
    from one.alf.cache import make_parquet_db

    ref_sessions, ref_datasets = (
        pd.read_parquet(p) for p in make_parquet_db(demo_lab, out_dir=tmp_path, hash_ids=False)
    )
    sessions, datasets = pd.read_parquet(demo_lab / "sessions.pqt"), pd.read_parquet(demo_lab / "datasets.pqt")
    assert list(sessions.columns) == [c for c in ref_sessions.columns if c != "id"]
    assert sessions.dtypes.to_dict() == ref_sessions.drop(columns="id").dtypes.to_dict()
    folder = ["lab", "subject", "date", "number"]
    assert sorted(map(tuple, sessions[folder].astype(str).to_numpy())) == sorted(
        map(tuple, ref_sessions[folder].astype(str).to_numpy())
    )
    assert (sessions["task_protocol"] != "").all() and (ref_sessions["task_protocol"] == "").all()
    assert list(datasets.columns) == [*(c for c in ref_datasets.columns if c not in ("eid", "id")), "default_revision"]
    by_eid = sessions[folder].astype(str).agg("/".join, axis=1)
    ours = {
        (by_eid[eid], rel, int(size))
        for (eid, _), rel, size in zip(datasets.index, datasets["rel_path"], datasets["file_size"], strict=True)
    }
    ref_folder = ref_sessions.set_index("id")[folder].astype(str).agg("/".join, axis=1)
    ref = {
        (ref_folder[eid], rel, int(size))
        for eid, rel, size in zip(ref_datasets["eid"], ref_datasets["rel_path"], ref_datasets["file_size"], strict=True)
    }
    assert ours == ref


def test_dump_uses_alyx_models_and_consistent_keys(dump, one):
    models = Counter(r["model"] for r in dump)
    for model in (
        "misc.lab",
        "misc.labmember",
        "subjects.project",
        "subjects.subject",
        "actions.session",
        "actions.weighing",
        "actions.wateradministration",
        "actions.waterrestriction",
        "actions.watertype",
        "experiments.probeinsertion",
        "experiments.trajectoryestimate",
    ):
        assert models[model] > 0, model
    pks = [r["pk"] for r in dump]
    assert len(pks) == len(set(pks))
    subjects = {r["pk"]: r["fields"] for r in dump if r["model"] == "subjects.subject"}
    for pk, fields in subjects.items():
        assert pk == str(ids.subject_uuid(fields["lab"], fields["nickname"]))
    sessions = {r["pk"]: r["fields"] for r in dump if r["model"] == "actions.session"}
    assert set(sessions) == set(map(str, one._cache["sessions"].index))
    assert all(s["subject"] in subjects for s in sessions.values())
    probes = [r for r in dump if r["model"] == "experiments.probeinsertion"]
    assert {p["fields"]["name"] for p in probes} == {"probe00", "probe01"}
    for p in probes:
        s = sessions[p["fields"]["session"]]
        nick = subjects[s["subject"]]["nickname"]
        assert p["pk"] == str(
            ids.name_uuid("probe", s["lab"], nick, s["start_time"][:10], s["number"], p["fields"]["name"])
        )
    provenances = {r["fields"]["provenance"] for r in dump if r["model"] == "experiments.trajectoryestimate"}
    assert provenances == {"Planned", "Micro-manipulator", "Histology track", "Ephys aligned histology track"}


def test_probe_regions_are_allen_ids_along_the_track(demo_lab):
    from iblatlas.regions import BrainRegions

    from iblpipe.sources.locate import spike_sorting

    br = BrainRegions()
    probes = sorted(demo_lab.glob("*/Subjects/*/*/*/alf/probe*"))
    chosen = [spike_sorting(p.parent.parent, p.name) for p in probes]
    assert {c.sorter for c in chosen} == {"", "pykilosort", "iblsorter"}  # flat, pykilosort, iblsorter re-run
    assert any(c.revision for c in chosen)
    for located in chosen:
        probe = located.files("channels")[0].parent
        channels = np.load(probe / "channels.brainLocationIds_ccf_2017.npy")
        assert channels.shape == (384,)
        assert np.isin(channels, br.id).all() and 3 <= np.unique(channels).size <= 20
        if (probe / "clusters.brainLocationIds_ccf_2017.npy").exists():  # the flat, older-lab layout
            clusters = np.load(probe / "clusters.brainLocationIds_ccf_2017.npy")
            assert np.array_equal(clusters, channels[np.load(probe / "clusters.channels.npy")])
        metrics = pd.read_parquet(probe / "clusters.metrics.pqt")
        n = np.load(probe / "clusters.depths.npy").size
        assert list(metrics["cluster_id"]) == list(range(n))
        assert set(np.unique(metrics["label"])) <= {0.0, 1 / 3, 2 / 3, 1.0} | set(np.round([1 / 3, 2 / 3], 6))
        spikes = np.load(probe / "spikes.clusters.npy")
        assert np.array_equal(np.bincount(spikes, minlength=n), metrics["spike_count"].to_numpy())
        assert np.all(np.diff(np.load(probe / "spikes.times.npy")) >= 0)


def _reference_statuses(root: Path, subject: dict) -> list[str]:
    """ibllib's per-date procedure, calling brainbox on trials loaded by one.alf.io (no shortcuts).

    psychofit restarts fits from np.random: seed 0 before each call, as the generator does.
    """
    import one.alf.io as alfio
    from brainbox.behavior.training import get_training_status
    from ibllib.pipes.training_status import get_data_collection

    from iblpipe.sources.alf import session_path

    dates, statuses = subject["dates"], []
    loaded = {}
    n_in_training = n_biased = 0
    reached_ephysrig = False
    flags = set()
    for i, d in enumerate(dates):
        if d["protocol"] == "habituation":
            statuses.append("habituation")
            continue
        folders = [
            session_path(root, subject["lab"], subject["nickname"], d["date"], k) for k in range(1, d["n_sessions"] + 1)
        ]
        # ibllib's own choice of the trials collection (alf, or alf/task_01 of a chained iblrig 8 session)
        loaded[d["date"]] = [alfio.load_object(f / get_data_collection(f)[1][0], "trials") for f in folders]
        window = [w for w in dates[max(0, i - 2) : i + 1] if w["protocol"] != "habituation"]
        trials = {
            w["date"]: {k: np.concatenate([t[k] for t in loaded[w["date"]]]) for k in loaded[w["date"]][0]}
            for w in window
        }
        ephys = [w["date"] for w in window if w["location"] == "ephys_rig"]
        n_delay = sum(w["delay"] >= 900 for w in window)
        np.random.seed(0)
        with np.errstate(all="ignore"):
            status, _, _ = get_training_status(trials, [w["protocol"] for w in window], ephys, n_delay)
        previous = statuses[-1] if len(window) > 1 else "not_computed"
        if STATUS_RANK[previous] > STATUS_RANK[status]:
            status = previous
        n_in_training += d["n_sessions"] * (status == "in training")
        n_biased += d["n_sessions"] * (d["protocol"] == "biased")
        reached_ephysrig |= STATUS_RANK[status] >= 3
        if "untrainable" not in flags and n_in_training >= 40:
            flags.add("untrainable")
            status = "untrainable"
        elif "unbiasable" not in flags and not reached_ephysrig and n_biased >= 40:
            flags.add("unbiasable")
            status = "unbiasable"
        statuses.append(status)
    return statuses


def test_brainbox_statuses_equal_ground_truth(demo_lab, truth):
    seen = set()
    for subject in truth["subjects"]:
        expected = [d["status"] for d in subject["dates"]]
        assert _reference_statuses(demo_lab, subject) == expected, subject["nickname"]
        seen |= set(expected)
    assert {"in training", "trained 1b", "ready4ephysrig", "ready4recording"} <= seen


def test_ground_truth_first_statuses(truth):
    fast = truth["subjects"][0]
    assert fast["params"]["kind"] == "fast"
    first = fast["first"]
    order = ["trained 1a", "trained 1b", "ready4ephysrig", "ready4delay", "ready4recording"]
    assert [first[s]["date"] for s in order] == sorted(first[s]["date"] for s in order)
    assert first["ready4recording"]["sessions_to_reach"] > first["trained 1a"]["sessions_to_reach"]


def test_cli_refuses_non_empty_out_and_bad_args(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert cli.main(["demo", "generate", "--out", str(tmp_path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0]
    assert (tmp_path / "keep.txt").exists()
    bad_args = (["--mice", "x"], ["--mice", "0"], ["--labs", "-1"], ["--seed", "1.5"], ["--seed", "-2"])
    for bad in (*bad_args, ["--max-sessions", "2"], ["--workers", "0"], ["--labs", "101"]):
        assert cli.main(["demo", "generate", "--out", str(tmp_path / "new"), *bad]) == cli.EXIT_USAGE
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and bad[0] in err[0], err
    assert not (tmp_path / "new").exists()
    out = tmp_path / "forced"
    out.mkdir()
    (out / "old.txt").write_text("x")
    argv = ["demo", "generate", "--out", str(out), "--labs", "1", "--mice", "1", "--max-sessions", "4", "--force"]
    assert cli.main(argv) == 0
    assert not (out / "old.txt").exists() and (out / "alyx_dump.json").exists()


def test_a_mouse_that_stops_progressing_is_culled(tmp_path):
    """Mouse 3 (unbiasable kind) reaches 'ready4ephysrig' on a lucky fit, then cannot pass the
    recording criterion: it is culled STALL_SESSIONS sessions after its last new status."""
    from iblpipe.demo.build import _region_ids
    from iblpipe.demo.lab import mouse_specs
    from iblpipe.demo.mouse import STALL_SESSIONS, simulate_mouse

    spec = mouse_specs(3, 4, 0)[3]
    assert spec.params.kind == "unbiasable"
    result = simulate_mouse(spec, tmp_path, 0, None, _region_ids())
    dates = result.truth["dates"]
    ranks = [STATUS_RANK[d["status"]] for d in dates]
    assert max(ranks) < STATUS_RANK["ready4recording"]
    last_new = max(i for i, r in enumerate(ranks) if r > max(ranks[:i], default=-99))
    after = sum(d["n_sessions"] for d in dates[last_new + 1 :])
    assert after == STALL_SESSIONS, after
    assert len(result.sessions) < 3 * STALL_SESSIONS
    subject = next(r for r in result.records if r["model"] == "subjects.subject")
    assert subject["fields"]["death_date"] is not None


def test_chained_iblrig8_sessions_read_as_ibllib_reads_them(demo_lab):
    """Passive + ephys chained on iblrig 8: description, v8 settings, trials in alf/task_01 (ibllib's own rules)."""
    from ibllib.io.extractors.base import get_bpod_extractor_class
    from ibllib.pipes.training_status import compute_session_duration_delay_location, get_data_collection

    from iblpipe.compute.training import is_passive_only, protocol_kind
    from iblpipe.demo.rig import CHAINED_PROTOCOL
    from iblpipe.sources import locate
    from iblpipe.sources.trials import load_session_trials, task_settings

    sessions = pd.read_parquet(demo_lab / "sessions.pqt")
    chained = sorted(p.parent for p in demo_lab.glob("*/Subjects/*/*/*/_ibl_experiment.description.yaml"))
    assert chained
    for session in chained:
        tasks = locate.tasks(session)
        assert [locate.is_passive(t.protocol) for t in tasks] == [True, False]
        raw, alf = get_data_collection(session)
        assert (raw, alf) == (["raw_task_data_01"], ["alf/task_01"])
        trials, where = load_session_trials(session)
        assert where == f"{session / 'alf/task_01'}/_ibl_trials"
        rig, delay = task_settings(session)
        _, their_delay, location = compute_session_duration_delay_location(session, collections=raw)
        assert delay == their_delay and ("ephys" in rig) == (location == "ephys_rig") and location == "ephys_rig"
        assert trials["choice"].size > 0
        # the protocol kind: ours from Alyx's joined task_protocol, ibllib's from the choice task's settings
        lab, _, nickname, date, number = session.relative_to(demo_lab).parts
        row = sessions[(sessions["subject"] == nickname) & (sessions["date"].astype(str) == date)]
        protocol = row.loc[row["number"].astype(int) == int(number), "task_protocol"].item()
        assert protocol == CHAINED_PROTOCOL and not is_passive_only(protocol)
        theirs = [get_bpod_extractor_class(session, task_collection=c)[:-6].lower() for c in raw]
        assert [protocol_kind(protocol)] == theirs == ["ephys"]
