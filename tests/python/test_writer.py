"""RunWriter: the files it writes (read back by numpy and by `neuromapper info`), argument checks, atomic epochs, reruns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import neuromapper as nm
from conftest import ROOT, hidden_leftovers, info_fields, run_info, snapshot

N = 12
CLASSES = ["cat", "dog", "bird"]


def labels() -> np.ndarray:
    return np.arange(N) % 3


def acts(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"conv.0": rng.normal(size=(N, 2, 3)).astype(np.float64), "head": rng.normal(size=(N, 4)).astype(np.float32)}


def make_writer(path, **kw) -> nm.RunWriter:
    args = dict(layers=["conv.0", "head"], labels=labels(), classes=CLASSES)
    args.update(kw)
    return nm.RunWriter(path, **args)


def test_files_read_back_by_numpy_and_by_info(tmp_path, nm_bin):
    run = str(tmp_path / "exp1")
    thumbs = np.random.default_rng(1).integers(0, 256, size=(N, 5, 6, 3), dtype=np.uint8)
    w = make_writer(run, inputs=thumbs, name="exp one")
    logits = np.random.default_rng(2).normal(size=(N, 3))
    w.write_epoch(0, acts(0), predictions=logits, metrics={"train_loss": 2.5, "train_accuracy": 0.25})
    w.write_epoch(1, acts(1), predictions=np.array([0, 1, 2] * 4), metrics={"loss": np.float32(1.5), "lr": 0.1})
    w.write_epoch(2, acts(2))
    assert w.epochs == [0, 1, 2]
    marker = w.finish()

    with open(os.path.join(run, "neuromapper.json")) as f:
        assert json.load(f) == {"format": "neuromapper-run/1", "name": "exp one", "classes": CLASSES, "layers": ["conv.0", "head"]}
    lab = np.load(os.path.join(run, "labels.npy"))
    assert lab.dtype == np.int64 and lab.tolist() == labels().tolist()
    inp = np.load(os.path.join(run, "inputs.npy"))
    assert inp.dtype == np.uint8 and np.array_equal(inp, thumbs)
    for e in range(3):
        a = np.load(os.path.join(run, "epochs", str(e), "conv.0.npy"))
        assert a.dtype == np.float32 and a.shape == (N, 6)
        np.testing.assert_allclose(a, acts(e)["conv.0"].reshape(N, 6), rtol=1e-6)
        assert np.load(os.path.join(run, "epochs", str(e), "head.npy")).shape == (N, 4)
    p0 = np.load(os.path.join(run, "epochs", "0", "predictions.npy"))
    assert p0.dtype == np.float32 and p0.shape == (N, 3)
    p1 = np.load(os.path.join(run, "epochs", "1", "predictions.npy"))
    assert p1.dtype == np.int64 and p1.shape == (N,)
    assert not os.path.exists(os.path.join(run, "epochs", "2", "predictions.npy"))
    with open(os.path.join(run, "metrics.json")) as f:
        assert json.load(f) == [
            {"epoch": 0, "train_loss": 2.5, "train_accuracy": 0.25},
            {"epoch": 1, "loss": 1.5, "lr": 0.1},
        ]
    assert marker == os.path.join(os.path.abspath(run), "finished.json")
    with open(marker) as f:
        assert json.load(f) == {"format": "neuromapper-run/1", "epochs": [0, 1, 2]}
    assert hidden_leftovers(run) == []

    info = info_fields(run_info(nm_bin, run))
    assert info["run"].startswith("exp one")
    assert info["samples"] == str(N)
    assert info["classes"].startswith("3:") and all(c in info["classes"] for c in CLASSES)
    assert info["layers"].startswith("2:") and "conv.0 [6]" in info["layers"] and "head [4]" in info["layers"]
    assert info["epochs"].startswith("3: 0-2")
    assert info["inputs"].startswith(f"{N} thumbnails 5×6×3")


def test_defaults_without_classes_inputs_or_name(tmp_path, nm_bin):
    run = str(tmp_path / "plain")
    w = nm.RunWriter(run, layers=["x"], labels=[0, 1, 1, 0, 2])
    w.write_epoch(0, {"x": np.ones((5, 2))}, predictions=np.zeros((5, 3)))
    with open(os.path.join(run, "neuromapper.json")) as f:
        assert json.load(f) == {"format": "neuromapper-run/1", "layers": ["x"]}
    assert not os.path.exists(os.path.join(run, "inputs.npy"))
    assert not os.path.exists(os.path.join(run, "metrics.json"))
    assert not os.path.exists(os.path.join(run, "finished.json"))
    info = info_fields(run_info(nm_bin, run))
    assert info["run"].startswith("plain") and info["classes"].startswith("3:")


def test_import_needs_only_numpy():
    code = "import sys, neuromapper; assert 'torch' not in sys.modules and 'lightning' not in sys.modules"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ---- argument checks: the right exception, naming the argument, and nothing written ----------

BAD_CONSTRUCTOR = [
    ("labels 2-D", dict(labels=np.zeros((N, 1), int)), ValueError, ["labels", "1-D"]),
    ("labels float", dict(labels=np.zeros(N)), ValueError, ["labels", "integers"]),
    ("labels negative", dict(labels=[0, -1] + [0] * (N - 2)), ValueError, ["labels[1] = -1"]),
    ("labels beyond classes", dict(labels=[0, 3] + [0] * (N - 2)), ValueError, ["labels[1] = 3", "3 classes"]),
    ("labels empty", dict(labels=np.zeros(0, int)), ValueError, ["labels", "empty"]),
    ("labels a string", dict(labels="0,1,2"), TypeError, ["labels"]),
    ("classes not strings", dict(classes=[0, 1, 2]), TypeError, ["classes[0]", "string"]),
    ("classes a string", dict(classes="cat"), TypeError, ["classes"]),
    ("inputs float", dict(inputs=np.zeros((N, 4, 4))), ValueError, ["inputs", "uint8"]),
    ("inputs 2 channels", dict(inputs=np.zeros((N, 4, 4, 2), np.uint8)), ValueError, ["inputs", "C = 1 or 3"]),
    ("inputs channels first", dict(inputs=np.zeros((N, 3, 4, 4), np.uint8)), ValueError, ["inputs", "channels last"]),
    ("inputs other N", dict(inputs=np.zeros((N + 1, 4, 4), np.uint8)), ValueError, ["inputs", f"{N + 1} images"]),
    ("layer path", dict(layers=["../evil"]), ValueError, ["layers[0]", "'../evil'"]),
    ("layer hidden", dict(layers=[".tmp"]), ValueError, ["layers[0]"]),
    ("layer reserved", dict(layers=["predictions"]), ValueError, ["layers[0]", "reserved"]),
    ("layer twice", dict(layers=["a", "a"]), ValueError, ["'a' twice"]),
    ("layer not str", dict(layers=["a", 3]), TypeError, ["layers[1]"]),
    ("layers a string", dict(layers="layer1"), TypeError, ["layers"]),
    ("layers empty", dict(layers=[]), ValueError, ["layers", "empty"]),
    ("name not str", dict(name=5), TypeError, ["name"]),
    ("overwrite and resume", dict(overwrite=True, resume=True), ValueError, ["overwrite", "resume"]),
]


@pytest.mark.parametrize("case,kw,exc,words", BAD_CONSTRUCTOR, ids=[c[0] for c in BAD_CONSTRUCTOR])
def test_bad_constructor_argument(tmp_path, case, kw, exc, words):
    run = tmp_path / "run"
    with pytest.raises(exc) as e:
        make_writer(str(run), **kw)
    for w in words:
        assert w in str(e.value), f"{case}: {w!r} not in {e.value}"
    assert not run.exists(), "nothing may be written before the arguments are checked"


def _nan_at(rows, value=np.nan):
    a = acts()
    a["head"] = a["head"].copy()
    for r in rows:
        a["head"][r, 1] = value
    return a


def _with(layer, value):
    a = acts()
    a[layer] = value
    return a


BAD_EPOCH = [
    ("unknown layer", lambda: dict(activations={**acts(), "zzz": np.ones((N, 1))}), ValueError, ["unknown layer", "'zzz'"]),
    ("missing layer", lambda: dict(activations={"conv.0": acts()["conv.0"]}), ValueError, ["missing", "'head'"]),
    ("not a mapping", lambda: dict(activations=[np.ones((N, 1))]), TypeError, ["activations", "mapping"]),
    ("other N", lambda: dict(activations=_with("head", np.ones((N - 1, 4)))), ValueError, ["activations['head']", f"{N - 1} rows"]),
    ("object dtype", lambda: dict(activations=_with("head", np.empty((N, 4), object))), ValueError, ["activations['head']", "numeric"]),
    ("str dtype", lambda: dict(activations=_with("head", np.full((N, 4), "x"))), ValueError, ["activations['head']", "numeric"]),
    ("bool dtype", lambda: dict(activations=_with("head", np.ones((N, 4), bool))), ValueError, ["activations['head']", "numeric"]),
    ("scalar", lambda: dict(activations=_with("head", 3.0)), ValueError, ["activations['head']", "scalar"]),
    ("NaN", lambda: dict(activations=_nan_at([3, 7])), ValueError, ["activations['head']", "2 NaN", "row 3"]),
    ("inf", lambda: dict(activations=_nan_at([5], np.inf)), ValueError, ["activations['head']", "1 NaN or infinite", "row 5"]),
    ("float32 overflow", lambda: dict(activations=_with("head", np.full((N, 4), 1e300))), ValueError, ["activations['head']", "float32"]),
    ("other D", lambda: dict(activations=_with("conv.0", np.ones((N, 7)))), ValueError, ["activations['conv.0']", "D = 6", "7 values"]),
    ("epoch negative", lambda: dict(epoch=-1), ValueError, ["epoch", "-1"]),
    ("epoch float", lambda: dict(epoch=1.0), TypeError, ["epoch"]),
    ("epoch bool", lambda: dict(epoch=True), TypeError, ["epoch"]),
    ("epoch str", lambda: dict(epoch="1"), TypeError, ["epoch"]),
    ("predictions other N", lambda: dict(predictions=np.zeros(N + 2, int)), ValueError, ["predictions", f"{N + 2} rows"]),
    ("predictions 3-D", lambda: dict(predictions=np.zeros((N, 3, 1))), ValueError, ["predictions", "[N, C]"]),
    ("predictions float ids", lambda: dict(predictions=np.zeros(N)), ValueError, ["predictions", "integer"]),
    ("prediction beyond classes", lambda: dict(predictions=np.full(N, 3)), ValueError, ["predictions[0] = 3", "3 classes"]),
    ("too many logits", lambda: dict(predictions=np.zeros((N, 5))), ValueError, ["predictions", "5 columns"]),
    ("NaN logits", lambda: dict(predictions=np.full((N, 3), np.nan)), ValueError, ["predictions", "NaN"]),
    ("metrics not mapping", lambda: dict(metrics=[("loss", 1.0)]), TypeError, ["metrics"]),
    ("metric not number", lambda: dict(metrics={"loss": "low"}), TypeError, ["metrics['loss']"]),
    ("metric bool", lambda: dict(metrics={"ok": True}), TypeError, ["metrics['ok']"]),
    ("metric NaN", lambda: dict(metrics={"loss": float("nan")}), ValueError, ["metrics['loss']", "finite"]),
    ("metric epoch", lambda: dict(metrics={"epoch": 3}), ValueError, ["metrics", "'epoch'"]),
    ("metric key not str", lambda: dict(metrics={1: 0.5}), TypeError, ["metrics"]),
    ("loss twice", lambda: dict(metrics={"loss": 1.0, "train_loss": 1.0}), ValueError, ["'loss'", "'train_loss'"]),
]


@pytest.mark.parametrize("case,make,exc,words", BAD_EPOCH, ids=[c[0] for c in BAD_EPOCH])
def test_bad_write_epoch_argument(tmp_path, case, make, exc, words):
    run = str(tmp_path / "run")
    w = make_writer(run)
    w.write_epoch(0, acts(), metrics={"loss": 1.0})
    before = snapshot(run)
    kw = dict(epoch=1, activations=acts(1))
    kw.update(make())
    with pytest.raises(exc) as e:
        w.write_epoch(**kw)
    for word in words:
        assert word in str(e.value), f"{case}: {word!r} not in {e.value}"
    assert snapshot(run) == before, "nothing may be written when an argument is wrong"
    w.write_epoch(1, acts(1))  # the writer still works afterwards
    assert w.epochs == [0, 1]


def test_torch_like_and_list_values_are_accepted(tmp_path):
    w = make_writer(str(tmp_path / "run"))
    a = acts()
    w.write_epoch(0, {"conv.0": a["conv.0"].tolist(), "head": a["head"].astype(np.int32)}, predictions=[0, 1, 2] * 4)
    assert np.load(os.path.join(w.path, "epochs", "0", "head.npy")).dtype == np.float32


# ---- atomic epochs ---------------------------------------------------------------------------


def test_replacing_an_epoch_and_its_metrics(tmp_path, nm_bin):
    run = str(tmp_path / "run")
    w = make_writer(run)
    w.write_epoch(0, acts(0), metrics={"loss": 2.0})
    w.write_epoch(1, acts(1), metrics={"loss": 1.0})
    w.write_epoch(1, acts(5), metrics={"loss": 0.5})
    np.testing.assert_allclose(np.load(os.path.join(run, "epochs", "1", "head.npy")), acts(5)["head"])
    w.write_epoch(0, acts(0))  # no metrics: the epoch's old entry goes
    with open(os.path.join(run, "metrics.json")) as f:
        assert json.load(f) == [{"epoch": 1, "loss": 0.5}]
    # the same epoch under another spelling is replaced, not duplicated
    shutil.copytree(os.path.join(run, "epochs", "1"), os.path.join(run, "epochs", "002"))
    w.write_epoch(2, acts(2))
    assert sorted(os.listdir(os.path.join(run, "epochs"))) == ["0", "1", "2"]
    assert hidden_leftovers(run) == []
    assert info_fields(run_info(nm_bin, run))["epochs"].startswith("3: 0-2")


def test_failed_rename_keeps_the_old_epoch_and_leaves_nothing_hidden(tmp_path, monkeypatch):
    run = str(tmp_path / "run")
    w = make_writer(run)
    w.write_epoch(0, acts(0))
    real_rename = os.rename

    def failing_rename(src, dst):
        if os.path.basename(str(src)).startswith(".tmp-"):
            raise OSError("simulated failure while renaming the epoch into place")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="simulated"):
        w.write_epoch(0, acts(9))
    monkeypatch.setattr(os, "rename", real_rename)
    np.testing.assert_allclose(np.load(os.path.join(run, "epochs", "0", "head.npy")), acts(0)["head"])
    assert hidden_leftovers(run) == []
    assert sorted(os.listdir(os.path.join(run, "epochs"))) == ["0"]


def test_readers_ignore_a_half_written_epoch(tmp_path, nm_bin):
    run = str(tmp_path / "run")
    w = make_writer(run)
    w.write_epoch(0, acts(0))
    half = os.path.join(run, "epochs", ".tmp-1-99999")  # what a writer killed mid-epoch leaves
    os.makedirs(half)
    with open(os.path.join(half, "head.npy"), "wb") as f:
        f.write(b"\x93NUMPY garbage")
    assert w.epochs == [0]
    assert info_fields(run_info(nm_bin, run))["epochs"].startswith("1:")


# ---- reruns, finish ---------------------------------------------------------------------------


def test_existing_run_is_refused_overwritten_or_resumed(tmp_path, nm_bin):
    run = str(tmp_path / "run")
    w = make_writer(run, inputs=np.zeros((N, 4, 4), np.uint8))
    w.write_epoch(0, acts(0), metrics={"loss": 2.0})
    w.write_epoch(1, acts(1), metrics={"loss": 1.0})
    w.finish()
    os.makedirs(os.path.join(run, ".neuromapper"))
    with open(os.path.join(run, ".neuromapper", "cache.bin"), "wb") as f:
        f.write(b"viewer cache")
    with open(os.path.join(run, "notes.txt"), "w") as f:
        f.write("mine")

    before = snapshot(run)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_writer(run)
    with pytest.raises(FileExistsError, match="labels differ"):
        make_writer(run, labels=labels()[::-1], resume=True)
    with pytest.raises(FileExistsError, match="layers differ"):
        make_writer(run, layers=["head"], resume=True)
    assert snapshot(run) == before

    # resume: the same run; D is learned from disk, metrics kept, the finished marker removed
    r = make_writer(run, resume=True)
    assert not os.path.exists(os.path.join(run, "finished.json"))
    with pytest.raises(ValueError, match="D = 6"):
        r.write_epoch(2, _with("conv.0", np.ones((N, 5))))
    r.write_epoch(2, acts(2), metrics={"loss": 0.5})
    with open(os.path.join(run, "metrics.json")) as f:
        assert [m["epoch"] for m in json.load(f)] == [0, 1, 2]
    assert info_fields(run_info(nm_bin, run))["epochs"].startswith("3: 0-2")

    # overwrite: epochs, metrics, marker and the stale thumbnails go; the cache and other files stay
    r.finish()
    o = make_writer(run, overwrite=True, labels=np.zeros(N, int))
    assert o.epochs == []
    for gone in ("metrics.json", "finished.json", "inputs.npy"):
        assert not os.path.exists(os.path.join(run, gone)), gone
    assert os.listdir(os.path.join(run, "epochs")) == []
    with open(os.path.join(run, ".neuromapper", "cache.bin"), "rb") as f:
        assert f.read() == b"viewer cache"
    assert os.path.exists(os.path.join(run, "notes.txt"))
    o.write_epoch(0, acts(3))
    assert np.load(os.path.join(run, "labels.npy")).tolist() == [0] * N


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("not a run")
    with pytest.raises(FileExistsError, match="not a neuromapper run"):
        make_writer(str(tmp_path), overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        make_writer(str(tmp_path / "file"))


def test_a_run_without_epochs_is_rewritten_freely(tmp_path):
    run = str(tmp_path / "run")
    make_writer(run)
    w = make_writer(run, classes=["a", "b", "c"])
    with open(os.path.join(run, "neuromapper.json")) as f:
        assert json.load(f)["classes"] == ["a", "b", "c"]
    assert w.epochs == []


def test_finish_then_write_is_an_error_and_writes_nothing(tmp_path):
    run = str(tmp_path / "run")
    w = make_writer(run)
    w.write_epoch(0, acts(0))
    w.finish()
    w.finish()  # again: harmless
    before = snapshot(run)
    with pytest.raises(RuntimeError, match="resume=True"):
        w.write_epoch(1, acts(1))
    assert snapshot(run) == before


def test_context_manager_finishes_only_on_success(tmp_path):
    ok = str(tmp_path / "ok")
    with make_writer(ok) as w:
        w.write_epoch(0, acts(0))
    assert os.path.exists(os.path.join(ok, "finished.json"))
    failed = str(tmp_path / "failed")
    with pytest.raises(KeyError):
        with make_writer(failed) as w:
            w.write_epoch(0, acts(0))
            raise KeyError("training crashed")
    assert not os.path.exists(os.path.join(failed, "finished.json"))


def test_the_viewer_cache_is_never_touched(tmp_path):
    run = str(tmp_path / "run")
    w = make_writer(run)
    cache = os.path.join(run, ".neuromapper")
    os.makedirs(cache)
    with open(os.path.join(cache, "x.bin"), "wb") as f:
        f.write(b"1")
    before = snapshot(cache)
    w.write_epoch(0, acts(0), metrics={"loss": 1.0})
    w.write_epoch(0, acts(1), metrics={"loss": 1.0})
    w.finish()
    assert snapshot(cache) == before
