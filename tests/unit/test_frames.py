"""The one NaN-to-NULL rule of inserted values (``schemas.frames``): a scalar as a frame's rows have it."""

import math

import numpy as np
import pandas as pd

from iblpipe.schemas.frames import null_records, null_value


def test_null_value_is_null_records_rule_for_one_value():
    values = [float("nan"), np.float64("nan"), None, pd.NaT, 1.5, np.float64(0.25), 0.0, 3]
    assert [null_value(v) for v in values] == [None, None, None, None, 1.5, 0.25, 0.0, 3]
    frame = pd.DataFrame({"x": [float("nan"), 1.5, 0.0]})
    assert [r["x"] for r in null_records(frame)] == [null_value(v) for v in frame["x"]]
    assert not math.isnan(null_value(np.float64(0.25)))
