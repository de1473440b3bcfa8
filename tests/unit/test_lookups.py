"""The key coding of parent lookups (``schemas.lookups``), which needs no database."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from iblpipe.schemas import lookups


def test_rows_coded_by_their_composite_key():
    rng = np.random.default_rng(4)
    probes = [rng.bytes(16) for _ in range(5)]
    rows = [(probes[int(p)], int(c)) for p, c in zip(rng.integers(0, 5, 3000), rng.integers(0, 400, 3000), strict=True)]
    columns = [
        pa.chunked_array(
            [
                pa.array([r[0] for r in rows[:1000]], pa.large_binary()),
                pa.array([r[0] for r in rows[1000:]], pa.large_binary()),
            ]
        ),
        pa.chunked_array([pa.array([r[1] for r in rows], pa.int32())]),
    ]
    codes, keys = lookups._key_codes(columns)
    assert len(keys) == len(set(rows)) and sorted(keys) == sorted(set(rows))
    assert [keys[c] for c in codes] == rows


def test_a_null_key_is_not_coded():
    assert lookups._key_codes([pa.chunked_array([pa.array([1, None, 2], pa.int64())])]) is None
