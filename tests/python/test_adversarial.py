"""neuromapper.torch.Recorder(adversarial=K) with real torch: twins as linked rows of their own, their
activations and predictions, `adv_success` growing with eps, the model left untouched; RunWriter's twins checks."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import neuromapper as nm  # noqa: E402
from conftest import run_info  # noqa: E402

N, CLASSES = 60, ["zero", "one", "two"]


class TinyCNN(torch.nn.Module):
    """A convolution with batch norm and a linear head on 1×6×6 images."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        self.head = torch.nn.Linear(4 * 36, 3)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def trained_model():
    """A fresh copy of the model after 60 full-batch Adam steps on classes whose images differ in
    brightness: accurate on clean inputs (x [N, 1, 6, 6] in 0..1, y [N])."""
    state, x, y = _trained()
    model = TinyCNN()
    model.load_state_dict(state)
    return model, x, y


@functools.lru_cache(maxsize=1)
def _trained():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    y = torch.arange(N) % 3
    x = (0.25 + 0.25 * y.view(-1, 1, 1, 1).float() + 0.05 * torch.randn(N, 1, 6, 6, generator=g)).clamp(0, 1)
    model = TinyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, x, y


def test_twins_are_linked_rows_with_their_own_activations(tmp_path, nm_bin):
    model, x, y = trained_model()
    run = str(tmp_path / "adv")
    rec = nm.torch.Recorder(run, model, layers=["conv.1", "head"], probe=(x, y), classes=CLASSES, adversarial=4, eps=0.2)
    model.train()
    m = rec.capture(0)
    # Rows: the 60 probe samples, then 4 twins per class, linked to the first 4 samples of each class.
    twins = np.load(os.path.join(run, "twins.npy"))
    assert twins.shape == (N + 12,) and (twins[:N] == -1).all()
    assert twins[N:].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    labels = np.load(os.path.join(run, "labels.npy"))
    assert (labels[N:] == labels[twins[N:]]).all()
    assert np.load(os.path.join(run, "inputs.npy")).shape[0] == N + 12
    manifest = json.load(open(os.path.join(run, "neuromapper.json")))
    assert manifest["adversarial"] == {"attack": "fgsm", "eps": 0.2, "steps": 1}
    head = np.load(os.path.join(run, "epochs", "0", "head.npy"))
    preds = np.load(os.path.join(run, "epochs", "0", "predictions.npy"))
    assert head.shape == (N + 12, 3) and preds.shape == (N + 12, 3)
    np.testing.assert_allclose(head, preds, rtol=1e-5, atol=1e-5)
    # The twins' rows hold the model's output on the perturbed inputs, not the clean ones.
    assert np.abs(head[N:] - head[twins[N:]]).max() > 1e-3
    # The clean accuracy is the probe set's; the success rate follows from the predictions.
    clean_ok = preds[:N].argmax(1) == labels[:N]
    assert m["probe_accuracy"] == pytest.approx(clean_ok.mean()) and clean_ok.mean() > 0.9
    attacked = clean_ok[twins[N:]]
    flipped = preds[N:].argmax(1) != labels[N:]
    assert m["adv_success"] == pytest.approx(flipped[attacked].mean())
    assert json.load(open(os.path.join(run, "metrics.json")))[0]["adv_success"] == pytest.approx(m["adv_success"])
    # The model is left as it was: its mode, no parameter gradients, no hooks.
    assert model.training and all(p.grad is None for p in model.parameters())
    assert "samples" in run_info(nm_bin, run)  # the Rust reader accepts the links


def test_a_larger_eps_succeeds_more_often_and_pgd_at_least_as_often(tmp_path):
    model, x, y = trained_model()
    rates = {}
    for name, attack, eps in (("weak", "fgsm", 1 / 255), ("strong", "fgsm", 0.3), ("pgd", "pgd", 0.3)):
        rec = nm.torch.Recorder(
            str(tmp_path / name), model, layers=["head"], probe=(x, y), adversarial=10, attack=attack, eps=eps
        )
        rates[name] = rec.capture(0)["adv_success"]
    assert rates["weak"] < 0.1 and rates["strong"] > rates["weak"] + 0.3, rates
    assert rates["pgd"] >= rates["strong"] - 1e-9, rates


@pytest.mark.parametrize(
    "kwargs, error, needle",
    [
        ({"adversarial": 0}, ValueError, "adversarial must be at least 1"),
        ({"adversarial": 2.5}, TypeError, "adversarial must be an int"),
        ({"adversarial": 2, "attack": "cw"}, ValueError, "attack must be 'fgsm' or 'pgd'"),
        ({"adversarial": 2, "eps": -1}, ValueError, "eps must be a positive number"),
        ({"adversarial": 2, "clip": (1, 0)}, ValueError, "clip must be (low, high)"),
    ],
)
def test_bad_adversarial_options_name_the_argument(tmp_path, kwargs, error, needle):
    model, (_, x, y) = TinyCNN(), _trained()
    with pytest.raises(error, match=needle.replace("(", r"\(").replace(")", r"\)")):
        nm.torch.Recorder(str(tmp_path / "bad"), model, layers=["head"], probe=(x, y), **kwargs)
    assert not os.path.exists(tmp_path / "bad" / "neuromapper.json")


@pytest.mark.parametrize(
    "twins, needle",
    [
        ([-1, -1, 5, -1], "twins\\[2\\] = 5 is not a sample"),
        ([-1, 1, -1, -1], "links row 1 to itself"),
        ([-1, 0, 1, -1], "itself a twin"),
        ([-1, -1, 0, -1], "labels differ"),
        ([-1, -1, -1], "twins must be \\[N=4\\] integers"),
    ],
)
def test_run_writer_refuses_bad_twin_links(tmp_path, twins, needle):
    with pytest.raises(ValueError, match=needle):
        nm.RunWriter(str(tmp_path / "w"), layers=["fc"], labels=[0, 0, 1, 1], twins=twins)
