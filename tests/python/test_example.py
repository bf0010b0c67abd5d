"""examples/capture_pytorch.py runs offline on scikit-learn's digits and writes a run that `neuromapper info` reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
from conftest import ROOT, info_fields, run_info  # noqa: E402


def test_digits_example(tmp_path, nm_bin):
    out = str(tmp_path / "digits")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    args = [sys.executable, os.path.join(ROOT, "examples", "capture_pytorch.py"), "--out", out, "--epochs", "1",
            "--probe-per-class", "10"]
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(os.path.join(out, "neuromapper.json")) as f:
        assert json.load(f)["name"] == "digits-cnn"
    assert os.path.isfile(os.path.join(out, "finished.json"))
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert [e["epoch"] for e in m] == [0, 1]
    assert {"loss", "train_accuracy", "test_accuracy", "probe_accuracy"} <= set(m[1])
    assert np.load(os.path.join(out, "inputs.npy")).shape == (100, 8, 8, 1)
    info = info_fields(run_info(nm_bin, out))
    assert info["samples"] == "100" and info["epochs"].startswith("2:")
    assert all(layer in info["layers"] for layer in ("conv1", "conv2", "fc", "head"))
    # again without --overwrite: refused with a message that says how
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode != 0 and "overwrite" in p.stderr
