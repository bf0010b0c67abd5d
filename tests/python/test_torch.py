"""neuromapper.torch.Recorder with real torch on a tiny CNN: files, shapes, modes, hooks, gradients, epoch-mean metrics."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import neuromapper as nm  # noqa: E402
from conftest import info_fields, run_info, snapshot  # noqa: E402

N, CLASSES = 40, ["zero", "one", "two"]


class TinyCNN(torch.nn.Module):
    """2 convolutions (the second with batch norm) and a linear head on 1×8×8 images."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.block = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8 * 8 * 8, 3)

    def forward(self, x):
        return self.head(self.block(torch.relu(self.conv1(x))).flatten(1))


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % 3
    x = torch.randn(N, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return x, y


def hooks_left(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_capture_writes_the_layers_and_predictions(tmp_path, nm_bin):
    torch.manual_seed(0)
    model = TinyCNN()
    x, y = data()
    run = str(tmp_path / "cnn")
    rec = nm.torch.Recorder(run, model, layers=["conv1", "block.1", "head"], probe=(x, y), classes=CLASSES, batch_size=16)
    m = rec.capture(0)
    for layer, dim in (("conv1", 4 * 64), ("block.1", 8 * 64), ("head", 3)):
        a = np.load(os.path.join(run, "epochs", "0", f"{layer}.npy"))
        assert a.dtype == np.float32 and a.shape == (N, dim), layer
    model.eval()
    with torch.no_grad():
        expected_conv1 = model.conv1(x).flatten(1).numpy()
        logits = model(x).numpy()
    np.testing.assert_allclose(np.load(os.path.join(run, "epochs", "0", "conv1.npy")), expected_conv1, rtol=1e-5, atol=1e-6)
    preds = np.load(os.path.join(run, "epochs", "0", "predictions.npy"))
    assert preds.dtype == np.float32 and preds.shape == (N, 3)
    np.testing.assert_allclose(preds, logits, rtol=1e-5, atol=1e-5)
    assert m["probe_accuracy"] == pytest.approx(float((logits.argmax(1) == y.numpy()).mean()))
    thumbs = np.load(os.path.join(run, "inputs.npy"))
    assert thumbs.dtype == np.uint8 and thumbs.shape == (N, 8, 8, 1)
    assert thumbs.reshape(N, -1).min(1).tolist() == [0] * N and thumbs.reshape(N, -1).max(1).tolist() == [255] * N
    assert np.load(os.path.join(run, "labels.npy")).tolist() == y.tolist()
    rec.finish()
    info = info_fields(run_info(nm_bin, run))
    assert "conv1 [256]" in info["layers"] and "block.1 [512]" in info["layers"] and "head [3]" in info["layers"]
    assert info["inputs"].startswith(f"{N} thumbnails 8×8×1")


def test_modes_hooks_gradients_and_weights_are_untouched(tmp_path):
    torch.manual_seed(0)
    model = TinyCNN()
    x, y = data()
    model.train()
    model.block[1].eval()  # a frozen batch norm inside a training model stays frozen
    torch.nn.functional.cross_entropy(model(x), y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}

    rec = nm.torch.Recorder(str(tmp_path / "r"), model, layers=["conv1", "block"], probe=(x, y), batch_size=7)
    rec.capture(0)
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert hooks_left(model) == 0
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, grads[n]), n
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # batch norm statistics included: eval mode during capture

    model.eval()
    rec.capture(1)
    assert not any(m.training for m in model.modules())
    assert hooks_left(model) == 0


def test_hooks_are_removed_when_a_capture_fails(tmp_path):
    model = TinyCNN()
    x, y = data()
    rec = nm.torch.Recorder(str(tmp_path / "r"), model, layers=["conv1"], probe=(x[:, :, :4], y))  # wrong image size
    model.train()
    with pytest.raises(RuntimeError):
        rec.capture(0)
    assert hooks_left(model) == 0 and model.training
    assert rec.writer.epochs == []


def test_metrics_are_epoch_means(tmp_path):
    model = TinyCNN()
    x, y = data()
    run = str(tmp_path / "r")
    rec = nm.torch.Recorder(run, model, layers=["head"], probe=(x, y), classes=CLASSES)
    rec.log(loss=torch.tensor(3.0), accuracy=0.0, n=10)
    rec.log(loss=1.0, accuracy=np.float32(1.0), n=np.int64(30))
    rec.track(lr=0.1)
    m1 = rec.capture(1, metrics={"test_accuracy": 0.5})
    assert m1["loss"] == pytest.approx((3.0 * 10 + 1.0 * 30) / 40)
    assert m1["accuracy"] == pytest.approx(0.75) and m1["lr"] == pytest.approx(0.1)
    rec.log(loss=2.0, n=5)
    m2 = rec.capture(2)
    assert m2["loss"] == 2.0 and "accuracy" not in m2  # the sums start over after each capture
    with open(os.path.join(run, "metrics.json")) as f:
        written = json.load(f)
    assert [e["epoch"] for e in written] == [1, 2]
    assert written[0]["test_accuracy"] == 0.5 and "probe_accuracy" in written[0]
    with pytest.raises(ValueError, match="n must be a positive"):
        rec.log(loss=1.0, n=0)
    with pytest.raises(ValueError, match="finite"):
        rec.log(loss=float("inf"))


def test_probe_from_a_dataloader_and_numpy(tmp_path):
    x, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=9, shuffle=False)
    model = TinyCNN()
    rec = nm.torch.Recorder(str(tmp_path / "a"), model, layers=["conv1"], probe=loader, inputs=False)
    rec.capture(0)
    assert np.load(os.path.join(rec.path, "labels.npy")).tolist() == y.tolist()
    assert not os.path.exists(os.path.join(rec.path, "inputs.npy"))
    rec2 = nm.torch.Recorder(str(tmp_path / "b"), model, layers=["conv1"], probe=(x.numpy().astype(np.float64), y.numpy()))
    rec2.capture(0)
    np.testing.assert_allclose(
        np.load(os.path.join(rec.path, "epochs", "0", "conv1.npy")),
        np.load(os.path.join(rec2.path, "epochs", "0", "conv1.npy")),
        rtol=1e-6,
    )


def test_tuple_outputs_use_the_first_tensor(tmp_path):
    class Seq(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(4, 5, batch_first=True)
            self.head = torch.nn.Linear(5, 2)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    x, y = torch.randn(10, 6, 4), torch.arange(10) % 2
    rec = nm.torch.Recorder(str(tmp_path / "r"), Seq(), layers=["rnn"], probe=(x, y), classes=["a", "b"])
    rec.capture(0)
    assert np.load(os.path.join(rec.path, "epochs", "0", "rnn.npy")).shape == (10, 6 * 5)
    assert not os.path.exists(os.path.join(rec.path, "inputs.npy"))  # not image-like: no thumbnails


def test_bad_recorder_arguments_write_nothing(tmp_path):
    model = TinyCNN()
    x, y = data()
    run = tmp_path / "r"
    with pytest.raises(ValueError) as e:
        nm.torch.Recorder(str(run), model, layers=["conv1", "layer9"], probe=(x, y))
    assert "'layer9'" in str(e.value) and "conv1" in str(e.value) and "block.0" in str(e.value)
    with pytest.raises(TypeError, match="model"):
        nm.torch.Recorder(str(run), "not a model", layers=["conv1"], probe=(x, y))
    with pytest.raises(ValueError, match="same N"):
        nm.torch.Recorder(str(run), model, layers=["conv1"], probe=(x, y[:-1]))
    with pytest.raises(ValueError, match="batch_size"):
        nm.torch.Recorder(str(run), model, layers=["conv1"], probe=(x, y), batch_size=0)
    with pytest.raises(ValueError, match="labels"):
        nm.torch.Recorder(str(run), model, layers=["conv1"], probe=(x, y), classes=["a", "b"])
    assert not run.exists()
    rec = nm.torch.Recorder(str(run), model, layers=["conv1"], probe=(x, y))
    before = snapshot(str(run))
    with pytest.raises(ValueError, match="epoch"):
        rec.capture(-1)
    with pytest.raises(TypeError, match="metrics"):
        rec.capture(0, metrics={"loss": "high"})
    assert snapshot(str(run)) == before


def test_a_short_training_run_reads_back(tmp_path, nm_bin):
    torch.manual_seed(1)
    model = TinyCNN()
    x, y = data()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    run = str(tmp_path / "trained")
    with nm.torch.Recorder(run, model, layers=["conv1", "block", "head"], probe=(x, y), classes=CLASSES) as rec:
        rec.capture(0)
        for epoch in (1, 2):
            model.train()
            for i in range(0, N, 10):
                out = model(x[i : i + 10])
                loss = torch.nn.functional.cross_entropy(out, y[i : i + 10])
                opt.zero_grad()
                loss.backward()
                opt.step()
                rec.log(loss=loss, train_accuracy=(out.argmax(1) == y[i : i + 10]).float().mean(), n=10)
            rec.capture(epoch)
            assert model.training
    assert os.path.isfile(os.path.join(run, "finished.json"))
    info = info_fields(run_info(nm_bin, run))
    assert info["epochs"].startswith("3: 0-2") and info["layers"].startswith("3:")
