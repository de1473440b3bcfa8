"""Arrow -> DataJoint frame rules that need no database: FLOAT text values, column kinds."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from iblpipe.schemas import arrowframe


def _reference(values: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.6g}") for v in values.astype(np.float32)])


def test_float_text_values_equal_printf_6g_across_magnitudes():
    rng = np.random.default_rng(6)
    values = (rng.standard_normal(200_000) * 10.0 ** rng.integers(-30, 30, 200_000)).astype(np.float32)
    edges = np.array([0.0, -0.0, 1.0, 9.999995, 999999.5, 1234565.0, 0.1234565, 1e-7, 3.4e38, 1e-38, 0.5], np.float32)
    values = np.concatenate([values, edges, np.nextafter(edges, np.float32(np.inf))])
    got = arrowframe.float_text_values(values, "%.6g")
    assert np.array_equal(got, _reference(values))


def test_float_text_values_keep_nan_and_shortest_rule():
    values = np.array([np.nan, 0.1, 123.456], np.float32)
    got = arrowframe.float_text_values(values, "%.6g")
    assert np.isnan(got[0]) and got[1] == 0.1 and got[2] == 123.456
    assert list(arrowframe.float_text_values(values[1:], "shortest")) == [0.1, 123.456]
    with pytest.raises(arrowframe.NoExactRule):
        arrowframe.float_text_values(values, None)


def test_probe_text_names_the_rule():
    assert arrowframe.float_rule_from_probe("0.123457") == "%.6g"
    assert arrowframe.float_rule_from_probe("0.12345679") == "shortest"
    assert arrowframe.float_rule_from_probe(None) is None
    assert arrowframe.float_rule_from_probe("0.1") is None


def test_columns_pandas_would_infer_from_python_values():
    table = pa.table(
        {
            "i": pa.array([1, None], pa.int8()),
            "j": pa.array([1, 2], pa.int16()),
            "n": pa.array([None, None], pa.float64()),
            "s": pa.array(["a", None]),
        }
    )
    frame = arrowframe.to_frame(table, dict.fromkeys(["i", "j", "n", "s"], "plain"))
    assert [str(t) for t in frame.dtypes] == ["float64", "int64", "object", "object"]
    assert frame["n"].tolist() == [None, None] and frame["s"].tolist() == ["a", None]
    with pytest.raises(arrowframe.NoExactRule):
        arrowframe.to_frame(pa.table({"d": pa.array([1], pa.decimal128(5, 2))}), {"d": "plain"})


def test_uuid_levels_sort_as_python_sorts_uuids():
    """Levels sorted in Arrow by bytes equal ``sorted()`` of the UUIDs (high bytes too), codes point at them."""
    rng = np.random.default_rng(3)
    values = [uuid.UUID(bytes=rng.bytes(16)) for _ in range(300)]
    values += [uuid.UUID(bytes=b"\xff" * 16), uuid.UUID(bytes=b"\x00" * 16), uuid.UUID(bytes=b"\x7f" + b"\x80" * 15)]
    rows = [values[i] for i in rng.integers(0, len(values), 2000)] + [None]
    column = pa.chunked_array([pa.array([None if v is None else v.bytes for v in rows], pa.binary())])
    got, levels, codes = arrowframe._uuids(column)
    assert list(levels) == sorted(set(values) & set(rows))
    assert [None if c < 0 else levels[c] for c in codes] == rows == list(got)


def test_uuid_objects_are_the_constructors_own():
    """The fast-built uuids equal ``uuid.UUID(bytes=b)`` in every way a frame uses them; a wrong width is refused."""
    import pickle

    raw = [bytes(16), b"\xff" * 16, np.random.default_rng(5).bytes(16)]
    made = arrowframe._uuid_objects(pa.array(raw, pa.binary()))
    for value, got in zip(raw, made, strict=True):
        want = uuid.UUID(bytes=value)
        assert type(got) is uuid.UUID
        assert (got, hash(got), str(got), got.bytes, got.is_safe) == (want, hash(want), str(want), value, want.is_safe)
        assert pickle.loads(pickle.dumps(got)) == want
    with pytest.raises(arrowframe.NoExactRule):
        arrowframe._uuid_objects(pa.array([b"\x01" * 15], pa.binary()))
