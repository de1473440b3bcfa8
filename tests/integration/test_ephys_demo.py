"""Ephys tables on the synthetic demo lab (fixture ``demo_lab``; skipped until the demo generator provides it).

Metadata rows are derived from the ALF paths here, so this test needs only the ALF files.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest
from iblatlas.regions import BrainRegions

from iblpipe.schemas import acquisition, ephys, reference, subject
from iblpipe.sources import ids
from iblpipe.sources.ephys import load_clusters

MAX_INSERTIONS = 12  # (count) insertions of the demo lab this test populates, to stay fast


@pytest.fixture(scope="module")
def demo(prefix, request):
    try:
        root = request.getfixturevalue("demo_lab")
    except pytest.FixtureLookupError:
        pytest.skip("no demo_lab fixture yet (demo generator not landed)")
    probes = sorted(root.glob("*/Subjects/*/*/*/alf/probe*"))[:MAX_INSERTIONS]
    if not probes:
        pytest.skip(f"demo lab {root} has no alf/probe* folders")
    saved = os.environ.get("IBLPIPE_DATA_ROOT")
    os.environ["IBLPIPE_DATA_ROOT"] = str(root)
    reference.BrainRegion.load()
    rows = []
    for folder in probes:
        lab, _, nick, date, number = folder.parts[-7:-2]
        rows.append(
            {
                "lab": lab,
                "nick": nick,
                "date": date,
                "number": int(number),
                "probe": folder.name,
                "folder": folder,
                "pid": ids.name_uuid("probe", lab, nick, date, int(number), folder.name),
            }
        )
    frame = pd.DataFrame(rows)
    reference.Lab.insert([{"lab_name": lab} for lab in frame["lab"].unique()], skip_duplicates=True)
    mice = frame.drop_duplicates(["lab", "nick"])
    subject.Subject.insert(
        [{"subject_uuid": ids.subject_uuid(r.lab, r.nick), "subject_nickname": r.nick} for r in mice.itertuples()]
    )
    subject.SubjectLab.insert(
        [{"subject_uuid": ids.subject_uuid(r.lab, r.nick), "lab_name": r.lab} for r in mice.itertuples()]
    )
    sessions = frame.drop_duplicates(["lab", "nick", "date", "number"])
    acquisition.Session.insert(
        [
            {
                "session_uuid": ids.session_uuid(r.lab, r.nick, r.date, r.number),
                "subject_uuid": ids.subject_uuid(r.lab, r.nick),
                "session_lab": r.lab,
                "session_start_time": dt.datetime.fromisoformat(r.date),
                "session_number": r.number,
            }
            for r in sessions.itertuples()
        ]
    )
    ephys.ProbeInsertion.insert(
        [
            {
                "probe_insertion_uuid": r.pid,
                "session_uuid": ids.session_uuid(r.lab, r.nick, r.date, r.number),
                "probe_name": r.probe,
            }
            for r in frame.itertuples()
        ]
    )
    result = ephys.Clusters.populate(suppress_errors=True)
    ephys.UnitQuality.populate()
    ephys.RegionUnits.populate()
    yield {"insertions": frame, "errors": result["error_list"]}
    if saved is None:
        os.environ.pop("IBLPIPE_DATA_ROOT", None)
    else:
        os.environ["IBLPIPE_DATA_ROOT"] = saved


def test_demo_region_counts_equal_groupby_of_raw_alf(demo):
    assert demo["errors"] == []
    br = BrainRegions()
    frames = []
    for r in demo["insertions"].itertuples():
        clusters = load_clusters(r.folder)
        regions = clusters.get("brainLocationIds_ccf_2017")
        if regions is None:
            continue
        frames.append(
            pd.DataFrame({"pid": r.pid, "region": regions, "good": clusters["metrics"]["label"].to_numpy() == 1})
        )
    raw = pd.concat(frames, ignore_index=True)
    acronyms = (ephys.Clusters.Cluster * reference.BrainRegion).to_pandas().reset_index()
    assert sorted(acronyms["acronym"]) == sorted(br.id2acronym(raw["region"].to_numpy()))
    for acronym in pd.Series(br.id2acronym(raw["region"].to_numpy())).value_counts().index[:3]:
        descendants = br.descendants(br.acronym2id(acronym))["id"]
        expected = raw[np.isin(raw["region"], descendants)].groupby("pid")["good"].agg(["size", "sum"])
        got = (ephys.RegionUnits & {"acronym": acronym, "rule_name": "ibl_label"}).to_pandas().reset_index()
        got = got.groupby("probe_insertion_uuid")[["n_units", "n_good"]].sum()
        assert got["n_units"].to_dict() == expected["size"].to_dict()
        assert got["n_good"].to_dict() == expected["sum"].to_dict()


def test_demo_trial_psth_populates_every_insertion(demo):
    result = ephys.TrialPSTH.populate({"rule_name": "ibl_label"}, suppress_errors=True)
    assert result["error_list"] == []
    n_good = len(ephys.UnitQuality.Unit & {"rule_name": "ibl_label", "is_good": 1})
    units = ephys.TrialPSTH.Unit & {"psth_params": "default"}
    assert len(units & {"event": "stimOn"}) == n_good
