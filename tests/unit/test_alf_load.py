"""ALF objects that cannot be read: the error names the file."""

import numpy as np
import pytest

from iblpipe.errors import DataError
from iblpipe.sources.alf import load_object


def _trials(folder, n=10):
    folder.mkdir(parents=True)
    for name in ("choice", "feedbackType"):
        np.save(folder / f"_ibl_trials.{name}.npy", np.ones(n))
    return sorted(folder.iterdir())


def test_a_whole_object_loads(tmp_path):
    got = load_object(_trials(tmp_path / "alf"), "trials")
    assert sorted(got) == ["choice", "feedbackType"] and got["choice"].shape == (10,)


def test_a_truncated_npy_is_named(tmp_path):
    files = _trials(tmp_path / "alf", n=1000)
    bad = tmp_path / "alf" / "_ibl_trials.choice.npy"
    bad.write_bytes(bad.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"_ibl_trials\.choice\.npy: unreadable \(.*\); the file is damaged"):
        load_object(files, "trials")
