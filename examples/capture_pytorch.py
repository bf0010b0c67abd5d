"""Record a PyTorch training run for neuromapper with `neuromapper.torch.Recorder`.

A small CNN learns scikit-learn's bundled 8×8 handwritten digits (offline, seconds on a CPU); after
every epoch (and once before training: epoch 0) the Recorder puts a fixed, held-out probe set
through the model in eval mode and writes each chosen layer's output, the predictions and the
epoch's mean metrics into the run, one atomic epoch folder at a time. Then:

    neuromapper info runs/digits-cnn
    neuromapper serve runs/digits-cnn

Needs torch and scikit-learn (`pip install torch scikit-learn`, plus `pip install .` in a clone of
neuromapper for the package and the binary):

    python examples/capture_pytorch.py                           # digits, 8 epochs, runs/digits-cnn
    python examples/capture_pytorch.py --epochs 20 --serve       # and watch it in the browser
    python examples/capture_pytorch.py --model mlp               # an MLP instead, runs/digits-mlp
    python examples/capture_pytorch.py --dataset cifar10 --data-dir DIR   # ResNet-18; needs torchvision
                                                                 # and DIR/cifar-10-batches-py

The run format is described in docs/run-format.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Tuple

import numpy as np
import torch
import torch.nn as nn

import neuromapper as nm


class DigitsCNN(nn.Module):
    """Two convolutions, a hidden layer and the classifier, for 1×8×8 inputs."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc(self.conv2(self.conv1(x))))


class DigitsMLP(nn.Module):
    """Three hidden layers on the flattened 8×8 image (64 → 256 → 128 → 64), and the classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(256, 128), nn.ReLU())
        self.fc3 = nn.Sequential(nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc3(self.fc2(self.fc1(x))))


def split_probe(y: np.ndarray, per_class: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """(train indices, probe indices): `per_class` random samples of each class are held out as the probe set."""
    rng = np.random.default_rng(seed)
    probe = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])
    probe.sort()
    train = np.setdiff1d(np.arange(len(y)), probe)
    return train, probe


def load_digits(per_class: int, seed: int, mlp: bool = False):
    """scikit-learn's digits: (train set, probe x, probe y, classes, model, layer names); the CNN, or
    with `mlp` the MLP."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        sys.exit("--dataset digits needs scikit-learn: pip install scikit-learn")
    d = sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [1797, 1, 8, 8] in 0..1
    y = torch.tensor(d.target, dtype=torch.long)
    train, probe = split_probe(d.target, per_class, seed)
    train_set = torch.utils.data.TensorDataset(x[train], y[train])
    classes = [str(c) for c in d.target_names]
    if mlp:
        return train_set, x[probe], y[probe], classes, DigitsMLP(len(classes)), ["fc1", "fc2", "fc3", "head"]
    return train_set, x[probe], y[probe], classes, DigitsCNN(len(classes)), ["conv1", "conv2", "fc", "head"]


def load_cifar10(data_dir: str, per_class: int):
    """CIFAR-10 from DIR/cifar-10-batches-py (never downloaded here): ResNet-18, probe = the first
    `per_class` test images of each class."""
    try:
        import torchvision
        import torchvision.transforms as T
    except ImportError:
        sys.exit("--dataset cifar10 needs torchvision: pip install torchvision")
    if not os.path.isdir(os.path.join(data_dir, "cifar-10-batches-py")):
        sys.exit(f"--dataset cifar10: {data_dir}/cifar-10-batches-py not found; unpack CIFAR-10 (python version) there")
    norm = T.Compose([T.ToTensor(), T.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
    train_set = torchvision.datasets.CIFAR10(data_dir, train=True, download=False, transform=norm)
    test = torchvision.datasets.CIFAR10(data_dir, train=False, download=False, transform=norm)
    targets = np.asarray(test.targets)
    idx = np.sort(np.concatenate([np.flatnonzero(targets == c)[:per_class] for c in range(10)]))
    x = torch.stack([test[i][0] for i in idx])
    y = torch.tensor(targets[idx])
    model = torchvision.models.resnet18(num_classes=10)
    return train_set, x, y, list(test.classes), model, ["layer1", "layer2", "layer3", "layer4"], test.data[idx]


def main(argv: List[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["digits", "cifar10"], default="digits")
    ap.add_argument("--model", choices=["cnn", "mlp"], default="cnn", help="digits only: the CNN or an MLP")
    ap.add_argument("--data-dir", default="data", help="cifar10 only: the folder holding cifar-10-batches-py")
    ap.add_argument("--out", help="the run folder (default runs/<dataset>-<model>)")
    ap.add_argument("--epochs", type=int, default=8, help="training epochs (epoch 0, the untrained model, is captured too)")
    ap.add_argument("--probe-per-class", type=int, default=30, help="held-out samples per class captured every epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true", help="replace the epochs of a run already in --out")
    ap.add_argument("--serve", action="store_true", help="open the viewer on the run while it trains")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    thumbs = None  # digits: the Recorder derives thumbnails from the 8×8 probe images
    if args.dataset == "digits":
        train_set, x_probe, y_probe, classes, model, layers = load_digits(
            args.probe_per_class, args.seed, mlp=args.model == "mlp"
        )
        run_name = f"digits-{args.model}"
    else:
        train_set, x_probe, y_probe, classes, model, layers, thumbs = load_cifar10(args.data_dir, args.probe_per_class)
        run_name = "cifar10-resnet18"
    out = args.out or os.path.join("runs", run_name)
    model = model.to(device)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    try:
        rec = nm.torch.Recorder(
            out, model, layers=layers, probe=(x_probe, y_probe), classes=classes, inputs=thumbs, name=run_name,
            held_out=True, overwrite=args.overwrite,  # held out: never trained on, so probe accuracy = test accuracy
        )
    except FileExistsError as e:
        sys.exit(f"{e}\n(here: pass --overwrite, or choose another --out)")
    m = rec.capture(0)
    print(f"epoch 0: probe accuracy {m['probe_accuracy']:.3f}  (untrained)")
    viewer = nm.serve(out) if args.serve else None
    if viewer:
        print(f"viewer: {viewer.url}")

    for epoch in range(1, args.epochs + 1):
        started = time.time()
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.log(loss=loss, train_accuracy=(logits.argmax(1) == y).float().mean(), n=len(y))
        means = rec.means()
        m = rec.capture(epoch)  # eval mode for the capture; the model is back in train mode after it
        print(
            f"epoch {epoch}: loss {means['loss']:.3f}  train accuracy {means['train_accuracy']:.3f}  "
            f"probe accuracy {m['probe_accuracy']:.3f}  ({time.time() - started:.1f} s)"
        )
    rec.finish()
    print(f"wrote {out}: neuromapper info {out}; neuromapper serve {out}")
    if viewer:
        try:
            input("the viewer stays open; press Enter to stop it ")
        except (EOFError, KeyboardInterrupt):
            pass
        viewer.stop()


if __name__ == "__main__":
    main()
