"""The columnar fetch returns exactly DataJoint's own frame, on the queries analysts write, and falls back where it must."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import numpy as np
import pandas as pd
import pytest

from iblpipe.schemas import acquisition, behavior, ephys, reference, subject
from iblpipe.schemas.columnar import columnar_frame, datajoint_frame
from iblpipe.schemas.units_query import DEFAULT_SORTING
from iblpipe.sources import ids

LAB = "colab"
MICE = ("COL001", "COL002", "XYZ%03")  # a '%' in a value: DataJoint escapes it as '%%' in its SQL
N_SESSIONS, N_TRIALS, N_UNITS = 4, 300, 500


def _sid(nick: str, day: int):
    return ids.session_uuid(LAB, nick, f"2024-05-{day + 1:02d}", 1)


@pytest.fixture(scope="module")
def lab(prefix):
    """Rows written directly (no ALF): NULLs, uuids, dates, datetimes, float32 units, one json table."""
    rng = np.random.default_rng(15)
    reference.Lab.insert1({"lab_name": LAB, "lab_uuid": uuid.uuid4()})
    for m, nick in enumerate(MICE):
        sub = ids.subject_uuid(LAB, nick)
        subject.Subject.insert1(
            {"subject_uuid": sub, "subject_nickname": nick, "subject_birth_date": dt.date(2024, 1, 1) if m else None}
        )
        for day in range(N_SESSIONS):
            key = {"session_uuid": _sid(nick, day)}
            start = dt.datetime(2024, 5, day + 1, 9, 30, 15)
            acquisition.Session.insert1(
                dict(
                    key,
                    subject_uuid=sub,
                    session_lab=LAB,
                    session_start_time=start,
                    session_end_time=None if day == 1 else start + dt.timedelta(hours=1),
                    task_protocol=None if day == 2 else "_iblrig_tasks_trainingChoiceWorld6.4.0",
                )
            )
            if m == 2 and day == 3:
                continue  # a session without trials
            n = N_TRIALS + 10 * day
            behavior.TrialSet.insert1(
                dict(key, n_trials=n, n_correct=n // 2, n_no_go=3, trials_duration=n * 5.5),
                allow_direct_insert=True,
            )
            stim = np.cumsum(rng.uniform(2, 6, n))
            frame = pd.DataFrame(
                {
                    "trial_id": np.arange(n),
                    "trial_start_time": stim - 0.5,
                    "trial_end_time": stim + 1.5,
                    "stim_on_time": np.where(rng.random(n) < 0.05, np.nan, stim),
                    "go_cue_time": stim + 0.01,
                    "response_time": stim + rng.uniform(0.2, 1.0, n),
                    "first_movement_time": np.nan if day == 0 else stim + 0.1,  # a column all NULL in one session
                    "feedback_time": stim + 1.0,
                    "choice": np.where(rng.random(n) < 0.02, np.nan, rng.choice([-1, 0, 1], n)),
                    "feedback_type": rng.choice([-1, 1], n),
                    "contrast_left": np.where(rng.random(n) < 0.5, np.nan, rng.choice([0, 0.0625, 0.25, 1], n)),
                    "contrast_right": rng.choice([0, 0.125, 1], n),
                    "probability_left": 0.5,
                    "reward_volume": rng.uniform(1.5, 3.0, n),
                }
            ).assign(**key)
            rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
            behavior.Trials.insert(rows, allow_direct_insert=True)
        pid = ids.name_uuid("probe", LAB, nick, "2024-05-01", 1, "probe00")
        ephys.ProbeInsertion.insert1(
            {"probe_insertion_uuid": pid, "session_uuid": _sid(nick, 0), "probe_name": "probe00"}
        )
        sorting = {"probe_insertion_uuid": pid, "sorting_params": DEFAULT_SORTING}
        ephys.Clusters.insert1(
            {
                **sorting,
                "spike_sorter": "pykilosort",
                "revision": "",
                "collection": "alf/probe00/pykilosort",
                "region_source": "",
                "n_clusters": N_UNITS,
                "n_spikes": 10**6,
                "recording_duration": 3600.0,
                "has_regions": 0,
            },
            allow_direct_insert=True,
        )
        values = lambda scale: rng.standard_normal(N_UNITS) * scale  # noqa: E731
        units = pd.DataFrame(
            {
                **sorting,
                "cluster_id": np.arange(N_UNITS),
                "cluster_uuid": [None if i % 7 == 0 else uuid.uuid4() for i in range(N_UNITS)],
                "depth": rng.uniform(0, 3840, N_UNITS),
                "channel": rng.integers(0, 384, N_UNITS),
                "amp_median": np.abs(values(1e-4)),
                "firing_rate": np.abs(values(10)),
                "n_spikes": rng.integers(1, 10**5, N_UNITS),
                "label": rng.choice([0, 1 / 3, 2 / 3, 1], N_UNITS),
                "ks2_label": rng.choice(["good", "mua", None], N_UNITS),
                "contamination": np.where(rng.random(N_UNITS) < 0.2, np.nan, rng.random(N_UNITS)),
                "drift": values(1e3) * 10.0 ** rng.integers(-6, 6, N_UNITS),
                "ml": values(2000),
            }
        )
        rows = units.astype(object).where(units.notna(), None).to_dict("records")
        ephys.Clusters.Cluster.insert(rows, allow_direct_insert=True)
    behavior.StatusMemo.insert1(
        {"subject_uuid": ids.subject_uuid(LAB, MICE[0]), "window_digest": "0" * 32, "verdict": {"status": "x"}}
    )
    return {"mouse": subject.Subject & {"subject_nickname": MICE[0]}}


def _in_order(frame: pd.DataFrame, ordered: bool) -> pd.DataFrame:
    """``frame`` as it is when the query had an ``order_by``; else in primary-key order.

    SQL gives no row order without ORDER BY (DataJoint's frame comes in whatever order the
    server's plan reads), and a join read with lookups (``schemas.lookups``) may be planned
    differently: the rows, columns, index and values must be equal, their order is not defined.
    """
    return frame if ordered or not len(frame) or frame.index.names == [None] else frame.sort_index(kind="stable")


def _same(query, **kwargs) -> pd.DataFrame:
    """Assert the columnar path serves ``query`` and equals DataJoint's own frame exactly; returns the frame."""
    ordered = kwargs.get("order_by") is not None
    expected = _in_order(datajoint_frame(query, **kwargs), ordered)
    fast = columnar_frame(query, **kwargs)
    assert fast is not None, "the columnar path did not serve this query"
    pd.testing.assert_frame_equal(_in_order(fast, ordered), expected, check_exact=True)
    got = _in_order(query.to_pandas(**kwargs), ordered)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got.columns) == list(expected.columns) and got.index.names == expected.index.names
    if isinstance(expected.index, pd.MultiIndex):  # the levels too, not only the values
        assert all(
            a.equals(b) and a.dtype == b.dtype for a, b in zip(got.index.levels, expected.index.levels, strict=True)
        )
        assert all((a == b).all() for a, b in zip(got.index.codes, expected.index.codes, strict=True))
    return got


def test_one_mouse_trials_as_analysts_query_them(prefix, lab):
    mouse = lab["mouse"]
    trials = _same(behavior.Trials & (acquisition.Session & mouse))
    assert len(trials) == sum(N_TRIALS + 10 * d for d in range(N_SESSIONS))
    assert trials.index.names == ["session_uuid", "trial_id"]
    assert isinstance(trials.index[0][0], uuid.UUID)
    assert trials["choice"].dtype == np.float64 and trials["choice"].isna().any()  # int8 with NULLs: float, NaN
    assert trials["feedback_type"].dtype == np.int64
    joined = _same(behavior.Trials * acquisition.Session * mouse)
    assert joined["session_start_time"].dtype == "datetime64[ns]"
    assert joined["session_end_time"].isna().any() and joined["task_protocol"].isna().any()
    with pytest.warns(DeprecationWarning):
        frame = (behavior.Trials & (acquisition.Session & mouse)).fetch(format="frame")
    pd.testing.assert_frame_equal(frame, trials, check_exact=True)


def test_restrictions_projections_aggregations(prefix, lab):
    mouse = lab["mouse"]
    _same(behavior.Trials & "stim_on_time is null")
    _same(behavior.Trials - {"feedback_type": 1})
    _same((behavior.Trials & {"session_uuid": _sid(MICE[1], 1)}).proj("choice", rt="response_time - stim_on_time"))
    _same(behavior.Trials.proj(start="trial_start_time") & "start > 100")
    counts = _same(acquisition.Session.aggr(behavior.Trials, n="count(trial_id)", mean_rt="avg(response_time)"))
    assert counts["n"].dtype == np.int64 and counts["n"].sum() == len(behavior.Trials())
    _same(subject.Subject & "subject_nickname LIKE 'XYZ%%'")  # a '%' in DataJoint's own SQL
    _same(subject.Subject & {"subject_nickname": MICE[2]})
    _same(subject.Subject * acquisition.Session & behavior.TrialSet)
    _same(acquisition.Session - behavior.TrialSet)
    _same(behavior.TrialSet * acquisition.Session * mouse, order_by="session_start_time desc", limit=2, offset=1)
    _same(behavior.Trials & mouse.proj(), order_by=("trial_id", "session_uuid"), limit=50)
    _same(reference.Lab())  # nullable uuid, empty strings
    assert subject.Subject.to_pandas()["subject_birth_date"].isna().sum() == 1  # date column with a NULL


def test_frames_without_index_equal_datajoints_reset_index(prefix, lab):
    """``frames.to_frame(index=False)`` (as ``ephys.units`` and the exports read) never builds the index it drops."""
    from iblpipe.schemas.frames import to_frame

    queries = (
        behavior.Trials * acquisition.Session * lab["mouse"],
        ephys.Clusters.Cluster * ephys.ProbeInsertion * acquisition.Session * subject.Subject,
        subject.Subject(),
    )
    for query in queries:
        got = to_frame(query, index=False)
        assert got.index.equals(pd.RangeIndex(len(got)))
        key = list(query.primary_key)
        expected = datajoint_frame(query).sort_index().reset_index()
        pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True), expected, check_exact=True)


def test_joined_parents_are_read_as_lookups(prefix, lab, monkeypatch):
    """A parent the left side determines on an exact key is read once per key (``schemas.lookups``): same frame."""
    from iblpipe.schemas import lookups

    read, served = lookups.read, []

    def spy(query, *args):
        served.append((query, read(query, *args)))
        return served[-1][1]

    def tables_of(query):
        return [table for expression, table in served if expression is query]

    monkeypatch.setattr(lookups, "read", spy)
    mouse = lab["mouse"]
    joined = behavior.Trials * acquisition.Session * mouse
    assert [lookup.on for lookup in getattr(joined, lookups.ATTRIBUTE)] == [("session_uuid",), ("subject_uuid",)]
    for query in (
        joined,
        behavior.Trials * acquisition.Session & "task_protocol is null",  # restricted by a parent's column
        ephys.Clusters.Cluster * ephys.ProbeInsertion.proj("session_uuid") * acquisition.Session,  # chained parents
        behavior.Trials * acquisition.Session * (subject.Subject & {"subject_nickname": MICE[2]}),  # a '%' in SQL
    ):
        _same(query)
        assert len(tables_of(query)) == 2 and all(table is not None for table in tables_of(query))
    assert not getattr(joined.proj("task_protocol"), lookups.ATTRIBUTE)  # a projection: the whole SELECT
    assert not getattr(acquisition.Session * behavior.Trials, lookups.ATTRIBUTE)  # the left does not determine
    assert not getattr(subject.SubjectLab * reference.Lab, lookups.ATTRIBUTE)  # a text key: compared by collation
    left = acquisition.Session.join(behavior.TrialSet, left=True)
    _same(left)
    assert tables_of(left) == [None, None]  # a left join: the whole SELECT
    empty = behavior.Trials * acquisition.Session & {"session_uuid": uuid.uuid4()}
    _same(empty)
    assert tables_of(empty) == [None, None]  # no rows: the whole SELECT gives the columns their types


def test_float32_units_equal_datajoints_text_values(prefix, lab):
    units = _same(ephys.Clusters.Cluster * ephys.ProbeInsertion * acquisition.Session * subject.Subject)
    assert len(units) == len(MICE) * N_UNITS
    assert units["cluster_uuid"].isna().any() and isinstance(units["cluster_uuid"].dropna().iloc[0], uuid.UUID)
    assert units["presence_ratio"].dtype == object and units["presence_ratio"].isna().all()  # all NULL: None
    _same(ephys.Clusters.Cluster & "firing_rate > 5", order_by="firing_rate", limit=100)


def test_empty_results_equal_datajoints(prefix, lab):
    empty = behavior.Trials & {"session_uuid": _sid(MICE[2], 3)}
    assert columnar_frame(empty) is not None
    pd.testing.assert_frame_equal(empty.to_pandas(), datajoint_frame(empty))
    assert empty.to_pandas().empty


def test_falls_back_silently_where_it_cannot_serve(prefix, lab, caplog):
    memo = behavior.StatusMemo()  # a json column
    with caplog.at_level(logging.DEBUG, logger="iblpipe.schemas.columnar"):
        assert columnar_frame(memo) is None
        pd.testing.assert_frame_equal(memo.to_pandas(), datajoint_frame(memo))
    assert "verdict" in caplog.text
    query = behavior.TrialSet & (acquisition.Session & lab["mouse"])
    conn = query.connection
    with conn.transaction:  # a make reads inside its transaction: another connection would not see its rows
        with caplog.at_level(logging.DEBUG, logger="iblpipe.schemas.columnar"):
            assert columnar_frame(query) is None
            pd.testing.assert_frame_equal(query.to_pandas(), datajoint_frame(query))
    assert "transaction" in caplog.text


def _arrow_as_frame(table) -> pd.DataFrame:
    """The Arrow table as pandas, sorted by trial, datetimes in ns like DataJoint's frame (Arrow keeps us)."""
    frame = table.to_pandas().sort_values(["session_uuid", "trial_id"], ignore_index=True)
    times = frame.select_dtypes("datetime").columns
    return frame.astype(dict.fromkeys(times, "datetime64[ns]"))


def test_to_arrow_holds_the_rows_of_to_pandas(prefix, lab):
    import pyarrow as pa

    query = behavior.Trials * acquisition.Session * lab["mouse"]
    table = query.to_arrow()
    assert isinstance(table, pa.Table) and table.schema.field("session_uuid").type == pa.uuid()
    frame = query.to_pandas().reset_index().sort_values(["session_uuid", "trial_id"], ignore_index=True)
    assert table.column_names == list(frame.columns) and table.num_rows == len(frame) > 0
    assert pa.types.is_timestamp(table.schema.field("session_start_time").type)
    pd.testing.assert_frame_equal(_arrow_as_frame(table), frame, check_dtype=False, check_exact=True)
    assert query.to_arrow(order_by="trial_id", limit=5).num_rows == 5


def test_to_arrow_falls_back_inside_a_transaction_and_refuses_json(prefix, lab):
    from iblpipe.errors import IblpipeError

    query = behavior.Trials * acquisition.Session * lab["mouse"]
    fast = query.to_arrow()
    with query.connection.transaction:
        slow = query.to_arrow()
    assert (
        slow.column_names == fast.column_names
        and slow.schema.field("session_uuid").type == fast.schema.field("session_uuid").type
    )
    pd.testing.assert_frame_equal(_arrow_as_frame(slow), _arrow_as_frame(fast), check_dtype=False, check_exact=True)
    with pytest.raises(IblpipeError, match="verdict"):
        behavior.StatusMemo().to_arrow()


def test_a_decimal_expression_falls_back_at_debug_only(prefix, lab, caplog):
    """AVG of an integer column is DECIMAL: DataJoint gives decimal.Decimal, which Arrow's float would not equal."""
    query = acquisition.Session.aggr(behavior.Trials, mean_feedback="avg(feedback_type)")
    with caplog.at_level(logging.DEBUG):
        frame = query.to_pandas()
    pd.testing.assert_frame_equal(frame, datajoint_frame(query), check_exact=True)
    mine = [r for r in caplog.records if r.name == "iblpipe.schemas.columnar"]
    assert mine and all(r.levelno == logging.DEBUG for r in mine), [r.getMessage() for r in mine]
