"""A run the size of the NeuroMapper paper's workload (10,000 probe samples × 4 layers × 40 epochs)
from real training, for measuring what `neuromapper site` weighs (bench/README.md, "Site sizes").

scikit-learn's 8×8 digits has 1,797 images, so the probe set is 80 held-out digits per class, each
shown in 12–13 randomly shifted (±1 pixel) and noised (σ = 0.08) versions: 1,000 per class. The CNN
of examples/capture_pytorch.py trains 40 epochs on the other digits, augmented the same way (4 copies
per epoch), and reaches about 96% on the probe set. Writes about 2.5 GB; takes about a minute on 2 cores.

    python bench/make_digits10k.py OUT_RUN

Needs torch and scikit-learn, and the neuromapper package (python/ in this repository).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "examples"), os.path.join(ROOT, "python")]

import neuromapper as nm  # noqa: E402
from capture_pytorch import DigitsCNN, split_probe  # noqa: E402


def augment(x: torch.Tensor, copies: int, rng: np.random.Generator) -> torch.Tensor:
    """`copies` versions of images x [m, 1, 8, 8] (values 0..1), each rolled by up to one pixel on
    each axis and noised: [copies * m, 1, 8, 8]."""
    out = []
    for _ in range(copies):
        s = torch.roll(x, shifts=(int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), dims=(2, 3))
        out.append((s + 0.08 * torch.randn_like(s)).clamp(0, 1))
    return torch.cat(out)


def main(out: str, epochs: int = 40, per_class: int = 1000) -> None:
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    train, probe = split_probe(d.target, 80, 0)
    xs, ys = [], []
    for c in range(10):
        held = probe[d.target[probe] == c]
        a = augment(x[held], -(-per_class // len(held)), rng)[:per_class]
        xs.append(a)
        ys.append(torch.full((len(a),), c))
    x_probe, y_probe = torch.cat(xs), torch.cat(ys)
    model = DigitsCNN(10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rec = nm.torch.Recorder(
        out, model, layers=["conv1", "conv2", "fc", "head"], probe=(x_probe, y_probe),
        classes=[str(c) for c in range(10)], name="digits10k", held_out=True, overwrite=True,
    )
    rec.capture(0)
    for epoch in range(1, epochs + 1):
        xt, yt = augment(x[train], 4, rng), y[train].repeat(4)
        order = torch.randperm(len(xt))
        model.train()
        for b in range(0, len(xt), 64):
            i = order[b : b + 64]
            loss = nn.functional.cross_entropy(model(xt[i]), yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.log(loss=loss, n=len(i))
        m = rec.capture(epoch)
        print(f"epoch {epoch}: probe accuracy {m['probe_accuracy']:.3f}", flush=True)
    rec.finish()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/make_digits10k.py OUT_RUN")
    main(sys.argv[1])
