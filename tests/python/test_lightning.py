"""neuromapper.lightning.NeuroMapperCallback with a real lightning.Trainer on a tiny model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
import lightning  # noqa: E402

import neuromapper as nm  # noqa: E402
from conftest import info_fields, run_info  # noqa: E402

N = 30


class Tiny(lightning.LightningModule):
    """A 2-layer MLP on 4×4 inputs; remembers every training batch's (loss, size) per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)
        self.batches = {}

    def forward(self, x):
        return self.head(self.body(x))

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.batches.setdefault(self.current_epoch, []).append((loss.item(), len(y)))
        self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean(), batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loaders():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N) % 3
    x = torch.randn(N, 1, 4, 4, generator=g) + y.view(-1, 1, 1, 1).float()
    ds = torch.utils.data.TensorDataset(x, y)
    return x, y, torch.utils.data.DataLoader(ds, batch_size=8), torch.utils.data.DataLoader(ds, batch_size=16)


def trainer(cb, epochs=2):
    return lightning.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[cb], num_sanity_val_steps=0,
    )


def test_callback_writes_epochs_metrics_and_the_finished_marker(tmp_path, nm_bin):
    torch.manual_seed(0)
    x, y, train, val = loaders()
    run = str(tmp_path / "lit")
    cb = nm.lightning.NeuroMapperCallback(run, layers=["body.1", "head"], probe=(x, y), classes=["a", "b", "c"])
    model = Tiny()
    trainer(cb).fit(model, train, val)

    assert sorted(os.listdir(os.path.join(run, "epochs"))) == ["0", "1", "2"]
    assert np.load(os.path.join(run, "epochs", "2", "body.1.npy")).shape == (N, 8)
    assert np.load(os.path.join(run, "epochs", "2", "predictions.npy")).shape == (N, 3)
    assert np.load(os.path.join(run, "inputs.npy")).shape == (N, 4, 4, 1)
    with open(os.path.join(run, "finished.json")) as f:
        assert json.load(f)["epochs"] == [0, 1, 2]
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = {m["epoch"]: m for m in json.load(f)}
    assert sorted(metrics) == [0, 1, 2]
    assert set(metrics[0]) == {"epoch", "probe_accuracy"}  # the untrained model: nothing logged yet
    for epoch in (1, 2):
        batches = model.batches[epoch - 1]
        mean = sum(l * n for l, n in batches) / sum(n for _, n in batches)
        assert metrics[epoch]["train_loss"] == pytest.approx(mean, rel=1e-5), "the epoch mean, not the last batch"
        assert "val_acc" in metrics[epoch] and "probe_accuracy" in metrics[epoch]
        assert not any(k.endswith(("_step", "_epoch")) for k in metrics[epoch])
    info = info_fields(run_info(nm_bin, run))
    assert info["epochs"].startswith("3: 0-2") and "body.1 [8]" in info["layers"]


def test_callback_renames_chosen_metrics_and_skips_epochs(tmp_path):
    x, y, train, val = loaders()
    run = str(tmp_path / "lit")
    cb = nm.lightning.NeuroMapperCallback(
        run, layers=["head"], probe=(x, y), metrics={"train_loss": "loss", "val_acc": "test_accuracy"},
        every_n_epochs=2, capture_untrained=False, inputs=False,
    )
    trainer(cb, epochs=3).fit(Tiny(), train, val)
    assert sorted(os.listdir(os.path.join(run, "epochs"))) == ["2", "3"]  # every 2nd, and the last
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    assert [sorted(m) for m in metrics] == [["epoch", "loss", "probe_accuracy", "test_accuracy"]] * 2
