"""nm.serve: starts the real binary on a run, answers HTTP on its URL, stops; clear errors when it cannot."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import neuromapper as nm
from neuromapper import _serve


def small_run(path: str) -> str:
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    w = nm.RunWriter(path, layers=["enc", "dec"], labels=y, classes=["a", "b", "c"], name="served")
    for e in range(2):
        w.write_epoch(e, {"enc": rng.normal(size=(30, 5)) + y[:, None] * e, "dec": rng.normal(size=(30, 3))})
    w.finish()
    return path


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_serve_answers_and_stop_ends_the_process(tmp_path, nm_bin):
    run = small_run(str(tmp_path / "run"))
    viewer = nm.serve(run)
    try:
        assert viewer.url.startswith("http://127.0.0.1:") and viewer.url.endswith("/")
        assert viewer.running
        summary = json.loads(get(viewer.url + "api/run"))
        text = json.dumps(summary)
        assert "enc" in text and "dec" in text and "served" in text
        assert b"<" in get(viewer.url)  # the viewer's page
        html = viewer._repr_html_()
        assert f'<iframe src="{viewer.url}"' in html and 'width="100%"' in html
    finally:
        code = viewer.stop()
    assert code is not None and not viewer.running
    with pytest.raises((urllib.error.URLError, OSError)):
        get(viewer.url + "api/run")
    assert "stopped" in viewer._repr_html_()


def test_context_manager_and_two_viewers_on_free_ports(tmp_path, nm_bin):
    run = small_run(str(tmp_path / "run"))
    with nm.serve(run) as a, nm.serve(run) as b:
        assert a.url != b.url
        assert json.loads(get(b.url + "api/run"))
    assert not a.running and not b.running


def test_a_server_that_fails_reports_its_output(tmp_path, nm_bin):
    missing = tmp_path / "no-such-run"
    with pytest.raises(RuntimeError) as e:
        nm.serve(str(missing), timeout=30)
    assert "exited with code" in str(e.value) and "no-such-run" in str(e.value)


def test_serve_follows_a_run_being_written(tmp_path, nm_bin):
    run = str(tmp_path / "live")
    y = np.arange(24) % 4
    w = nm.RunWriter(run, layers=["l1", "l2"], labels=y, classes=["a", "b", "c", "d"])
    with nm.serve(run) as viewer:  # no epoch yet: the viewer waits for the first one
        assert json.loads(get(viewer.url + "api/run"))["epochs"] == []
        rng = np.random.default_rng(0)
        for e in range(2):
            w.write_epoch(e, {"l1": rng.normal(size=(24, 6)), "l2": rng.normal(size=(24, 2))})
        w.finish()
        deadline = time.monotonic() + 60
        while True:
            summary = json.loads(get(viewer.url + "api/run"))
            if summary["epochs"] == [0, 1] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert summary["epochs"] == [0, 1]
        assert [layer["name"] for layer in summary["layers"]] == ["l1", "l2"]


def test_no_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROMAPPER_BIN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="NEUROMAPPER_BIN"):
        nm.serve(str(tmp_path))
    monkeypatch.delenv("NEUROMAPPER_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_serve.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(_serve.sysconfig, "get_path", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(_serve, "_source_tree_binaries", lambda: [])
    with pytest.raises(FileNotFoundError, match="pip install"):
        nm.find_binary()


def test_bad_arguments(tmp_path, nm_bin):
    with pytest.raises(ValueError, match="port"):
        nm.serve(str(tmp_path), port=70000)
    with pytest.raises(TypeError, match="args"):
        nm.serve(str(tmp_path), args="--metric cosine")
