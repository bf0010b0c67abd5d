#!/usr/bin/env python3
"""Write the engine benchmark's workloads as neuromapper runs (docs/run-format.md).

  make_workloads.py OUTDIR [aligned] [single] [pca]

aligned : OUTDIR/aligned  5 epochs x 5,000 samples x 128 dims, layer "hidden": 10 classes whose
          latent clusters separate as "training" goes on, seen through a slowly drifting ReLU layer.
single  : OUTDIR/single   1 epoch x 70,000 samples x 784 dims, layer "pixels": 10 classes, each a
          curved 8-D manifold in 784-D plus noise (MNIST-sized).
pca     : OUTDIR/pca.npy  10,000 x 65,536 float32: rank-100 signal plus noise (written in chunks).
Deterministic (seeded). Needs numpy."""
import json, os, sys
import numpy as np


def write_run(root, name, layer, labels, epochs):
    os.makedirs(root, exist_ok=True)
    np.save(os.path.join(root, "labels.npy"), labels.astype(np.int64))
    with open(os.path.join(root, "neuromapper.json"), "w") as f:
        json.dump({"format": "neuromapper-run/1", "name": name, "classes": [str(c) for c in range(int(labels.max()) + 1)],
                   "layers": [layer]}, f)
    for e, x in epochs:
        d = os.path.join(root, "epochs", str(e))
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, layer + ".npy"), x.astype(np.float32))


def aligned(out):
    rng = np.random.default_rng(0)
    n, latent, dim, classes = 5000, 16, 128, 10
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, latent))
    z = rng.normal(size=(n, latent))
    w = rng.normal(size=(latent, dim)) / np.sqrt(latent)
    b = rng.normal(size=dim) * 0.1
    epochs = []
    for e in range(5):
        sep = 1.0 + 0.6 * e
        w_e = w + 0.05 * e * rng.normal(size=w.shape) / np.sqrt(latent)
        h = (centres[labels] * sep + z) @ w_e + b
        x = np.maximum(h, 0) + 0.05 * rng.normal(size=h.shape)
        epochs.append((e + 1, x))
    write_run(os.path.join(out, "aligned"), "bench-aligned", "hidden", labels, epochs)


def single(out):
    rng = np.random.default_rng(1)
    n, dim, classes, intrinsic = 70000, 784, 10, 8
    labels = np.arange(n) % classes
    x = np.empty((n, dim), dtype=np.float32)
    centres = rng.normal(size=(classes, dim)) * 0.6
    bases = rng.normal(size=(classes, intrinsic, dim)) / np.sqrt(intrinsic)
    curls = rng.normal(size=(classes, intrinsic, dim)) / np.sqrt(intrinsic) * 0.3
    for c in range(classes):
        idx = np.where(labels == c)[0]
        z = rng.normal(size=(len(idx), intrinsic))
        x[idx] = centres[c] + z @ bases[c] + np.sin(z) @ curls[c] + 0.2 * rng.normal(size=(len(idx), dim))
    write_run(os.path.join(out, "single"), "bench-single", "pixels", labels, [(1, x)])


def pca(out):
    rng = np.random.default_rng(2)
    n, dim, rank, chunk = 10000, 65536, 100, 500
    basis = (rng.normal(size=(rank, dim)) / np.sqrt(dim)).astype(np.float32)
    scales = (np.linspace(20, 1, rank) * 10).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "pca.npy")
    m = np.lib.format.open_memmap(path + ".tmp.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    for s in range(0, n, chunk):
        z = rng.normal(size=(chunk, rank)).astype(np.float32) * scales
        m[s:s + chunk] = z @ basis + 0.1 * rng.standard_normal(size=(chunk, dim), dtype=np.float32)
    m.flush()
    del m
    os.replace(path + ".tmp.npy", path)


if __name__ == "__main__":
    out = sys.argv[1]
    which = sys.argv[2:] or ["aligned", "single", "pca"]
    for w in which:
        {"aligned": aligned, "single": single, "pca": pca}[w](out)
        print(f"wrote {w} under {out}", flush=True)
