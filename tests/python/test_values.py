"""Per-sample values from Python: `write_epoch(values=...)` writes `<name>.values.npy`, `write_samples`
writes samples.csv; numpy and `neuromapper info` read them back; bad values are refused before writing."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

import neuromapper as nm
from conftest import info_fields, run_info

N = 6


def make_writer(path) -> nm.RunWriter:
    return nm.RunWriter(path, layers=["fc"], labels=np.arange(N) % 2, classes=["cat", "dog"])


def test_values_and_samples_csv_are_written_and_read_back(tmp_path, nm_bin):
    run = str(tmp_path / "run")
    w = make_writer(run)
    fc = np.arange(N * 3, dtype=np.float32).reshape(N, 3)
    loss = np.linspace(0.1, 2.0, N)
    w.write_epoch(0, {"fc": fc}, values={"loss": loss})
    w.write_epoch(1, {"fc": fc}, values={"loss": loss / 2, "margin": np.arange(N)})
    w.write_samples({"difficulty": [0.5, 1, None, 2.5, float("nan"), 3], "file": [f"img {i}, a.png" for i in range(N)]})

    got = np.load(os.path.join(run, "epochs", "1", "loss.values.npy"))
    assert got.dtype == np.float32 and got.shape == (N,)
    np.testing.assert_allclose(got, loss / 2, rtol=1e-6)
    with open(os.path.join(run, "samples.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["difficulty", "file"]
    assert rows[1] == ["0.5", "img 0, a.png"] and rows[3][0] == "" and rows[5][0] == ""
    assert len(rows) == N + 1

    info = info_fields(run_info(nm_bin, run))
    assert info["layers"] == "1: fc [3]", info
    assert info["values"] == "loss (epochs 0, 1), margin (epochs 1)", info
    assert info["samples.csv"] == "difficulty (number), file (text)", info


@pytest.mark.parametrize(
    "values, exc, words",
    [
        ({"loss": np.ones(N - 1)}, ValueError, ["values['loss']", f"shape [{N}]"]),
        ({"loss": np.array([1.0, np.nan, 0, 0, 0, 0])}, ValueError, ["NaN or infinite", "sample 1"]),
        ({"fc": np.ones(N)}, ValueError, ["'fc'", "layer"]),
        ({"a.values": np.ones(N)}, ValueError, ["'.values'"]),
        ({"../x": np.ones(N)}, ValueError, ["safe file name"]),
        ({"loss": np.array(["a"] * N)}, ValueError, ["numeric"]),
        ([1, 2], TypeError, ["dict"]),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(tmp_path, values, exc, words):
    run = str(tmp_path / "run")
    w = make_writer(run)
    with pytest.raises(exc) as e:
        w.write_epoch(0, {"fc": np.zeros((N, 2))}, values=values)
    for word in words:
        assert word in str(e.value), str(e.value)
    assert not os.path.exists(os.path.join(run, "epochs", "0"))


def test_bad_samples_columns_are_refused(tmp_path):
    w = make_writer(str(tmp_path / "run"))
    with pytest.raises(ValueError, match=f"3 cells but the run has {N} samples"):
        w.write_samples({"a": [1, 2, 3]})
    with pytest.raises(ValueError, match="non-empty strings"):
        w.write_samples({"": list(range(N))})
    with pytest.raises(TypeError):
        w.write_samples([1, 2])
    assert not os.path.exists(str(tmp_path / "run" / "samples.csv"))
