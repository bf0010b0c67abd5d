"""Write a neuromapper run from a PyTorch training loop, with forward hooks.

After every epoch the same fixed set of samples goes through the model in eval mode; a forward
hook on each layer of interest captures its output, which is saved as
`RUN/epochs/<epoch>/<layer>.npy` ([N, D] float32, D = the output flattened). Each epoch is first
written to a hidden temporary folder and renamed into place, so a viewer watching the run never
sees half an epoch. Then:

    neuromapper info runs/cifar10-resnet18
    neuromapper embed runs/cifar10-resnet18 --samples-per-class 100
    neuromapper serve runs/cifar10-resnet18

Needs torch and torchvision (not needed by neuromapper itself):

    pip install torch torchvision numpy
    python examples/capture_pytorch.py --out runs/cifar10-resnet18 --epochs 10

The run format is described in the README ("The run format").
"""

import argparse
import json
import os
import shutil

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T

FORMAT = "neuromapper-run/1"


def save_npy_atomic(path, array):
    """np.save to a temp file beside `path`, then rename over it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


class RunWriter:
    """Writes the run folder: manifest, labels, thumbnails, then one folder per epoch."""

    def __init__(self, root, classes, layers, labels, thumbnails=None, name=None):
        self.root = root
        os.makedirs(os.path.join(root, "epochs"), exist_ok=True)
        manifest = {"format": FORMAT, "classes": list(classes), "layers": list(layers)}
        if name:
            manifest["name"] = name
        tmp = os.path.join(root, ".neuromapper.json.tmp")
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=2)
        os.replace(tmp, os.path.join(root, "neuromapper.json"))
        save_npy_atomic(os.path.join(root, "labels.npy"), np.asarray(labels, dtype=np.int64))
        if thumbnails is not None:  # [N, H, W, C] uint8, C = 1 or 3
            save_npy_atomic(os.path.join(root, "inputs.npy"), np.asarray(thumbnails, dtype=np.uint8))
        self.metrics = []

    def write_epoch(self, epoch, activations, predictions=None):
        """activations: {layer: [N, ...] array}; predictions: [N] int or [N, C] logits."""
        final = os.path.join(self.root, "epochs", str(epoch))
        tmp = os.path.join(self.root, "epochs", f".tmp-{epoch}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for layer, x in activations.items():
            np.save(os.path.join(tmp, f"{layer}.npy"), x.reshape(len(x), -1).astype(np.float32))
        if predictions is not None:
            np.save(os.path.join(tmp, "predictions.npy"), predictions)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)

    def write_metrics(self, epoch, train_accuracy=None, test_accuracy=None, loss=None):
        """metrics.json: a list of {epoch, train_accuracy, test_accuracy, loss} (shown by the viewer)."""
        self.metrics.append(
            {"epoch": epoch, "train_accuracy": train_accuracy, "test_accuracy": test_accuracy, "loss": loss}
        )
        tmp = os.path.join(self.root, ".metrics.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.metrics, f)
        os.replace(tmp, os.path.join(self.root, "metrics.json"))


class Capture:
    """Forward hooks that keep the latest output of each named module."""

    def __init__(self, model, layer_names):
        modules = dict(model.named_modules())
        self.outputs = {}
        self.handles = [
            modules[name].register_forward_hook(self._hook(name)) for name in layer_names
        ]

    def _hook(self, name):
        def hook(module, inputs, output):
            self.outputs[name] = output.detach().flatten(1).float().cpu()

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def capture_epoch(model, capture, probe_loader, device):
    """Runs the fixed probe set through the model; returns ({layer: [N, D]}, logits [N, C])."""
    model.eval()
    chunks, logits = {}, []
    for x, _ in probe_loader:
        logits.append(model(x.to(device)).float().cpu())
        for name, out in capture.outputs.items():
            chunks.setdefault(name, []).append(out)
    model.train()
    acts = {name: torch.cat(c).numpy() for name, c in chunks.items()}
    return acts, torch.cat(logits).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/cifar10-resnet18")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--probe-per-class", type=int, default=100, help="fixed samples per class captured each epoch")
    ap.add_argument("--data", default="data")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"

    norm = T.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    train = torchvision.datasets.CIFAR10(args.data, train=True, download=True, transform=T.Compose([T.ToTensor(), norm]))
    test = torchvision.datasets.CIFAR10(args.data, train=False, download=True, transform=T.Compose([T.ToTensor(), norm]))

    # The probe set: the first `probe_per_class` test images of each class, the same every epoch.
    targets = np.asarray(test.targets)
    probe_idx = np.concatenate([np.flatnonzero(targets == c)[: args.probe_per_class] for c in range(10)])
    probe_idx.sort()
    probe = torch.utils.data.Subset(test, probe_idx)
    probe_loader = torch.utils.data.DataLoader(probe, batch_size=500, shuffle=False)
    train_loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=2)

    model = torchvision.models.resnet18(num_classes=10).to(device)
    layers = ["layer1", "layer2", "layer3", "layer4"]
    capture = Capture(model, layers)
    writer = RunWriter(
        args.out,
        classes=test.classes,
        layers=layers,
        labels=targets[probe_idx],
        thumbnails=test.data[probe_idx],  # [N, 32, 32, 3] uint8
        name="cifar10-resnet18",
    )

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs + 1):
        if epoch > 0:  # epoch 0: the untrained network
            correct = total = 0
            for x, y in train_loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                loss = loss_fn(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                correct += (out.argmax(1) == y).sum().item()
                total += len(y)
        acts, logits = capture_epoch(model, capture, probe_loader, device)
        writer.write_epoch(epoch, acts, predictions=logits.argmax(1).astype(np.int64))
        probe_acc = float((logits.argmax(1) == targets[probe_idx]).mean())
        writer.write_metrics(
            epoch,
            train_accuracy=correct / total if epoch > 0 else None,
            test_accuracy=probe_acc,
            loss=float(loss.item()) if epoch > 0 else None,
        )
        print(f"epoch {epoch}: probe accuracy {probe_acc:.3f}")
    capture.remove()


if __name__ == "__main__":
    main()
