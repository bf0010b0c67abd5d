"""`neuromapper quality --json` against independent implementations: scikit-learn's trustworthiness,
kNN sets from scikit-learn's NearestNeighbors, and linear CKA in numpy, on the run's own activations."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import neuromapper as nm

N = 240
D = 24  # below pca_dims (50): the embedding is fitted on the activations themselves
EPOCHS = 4
LAYERS = ["block1", "block2"]
TOL = 0.01


def make_run(path: str) -> np.ndarray:
    """Four classes whose clusters tighten over epochs, with a second layer that mixes the first."""
    rng = np.random.default_rng(7)
    labels = np.arange(N) % 4
    centres = rng.normal(size=(4, D)) * 3.0
    mix = rng.normal(size=(D, D)) / np.sqrt(D)
    noise = rng.normal(size=(N, D))
    w = nm.RunWriter(path, layers=LAYERS, labels=labels, classes=["a", "b", "c", "d"])
    for e in range(EPOCHS):
        drift = rng.normal(size=(N, D)) * 0.3
        x = centres[labels] * (0.3 + 0.25 * e) + noise + drift
        w.write_epoch(e, {"block1": x, "block2": np.tanh(x @ mix)})
    w.finish()
    return labels


def knn_sets(x: np.ndarray, k: int) -> list:
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
    return [set(row[row != i][:k]) for i, row in enumerate(idx)]


def cka(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean(0)
    y = y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def test_quality_numbers_match_independent_implementations(tmp_path, nm_bin):
    from sklearn.manifold import trustworthiness

    run = str(tmp_path / "run")
    make_run(run)
    p = subprocess.run([nm_bin, "quality", run, "--json"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["points"] == N
    assert list(report["layers"]) == sorted(LAYERS)

    high = {l: [np.load(f"{run}/epochs/{e}/{l}.npy").astype(np.float64) for e in range(EPOCHS)] for l in LAYERS}
    for li, layer in enumerate(LAYERS):
        out = tmp_path / f"{layer}.npy"
        q = subprocess.run([nm_bin, "export", run, "--layer", layer, "--out", str(out)], capture_output=True, text=True)
        assert q.returncode == 0, q.stderr
        low = np.load(out)  # [E, N, 2]: from the cache the quality run filled
        rows = report["layers"][layer]
        assert [r["epoch"] for r in rows] == list(range(EPOCHS))
        for e, r in enumerate(rows):
            x, y = high[layer][e], low[e].astype(np.float64)
            assert abs(r["trust15"] - trustworthiness(x, y, n_neighbors=15)) < TOL, (layer, e)
            hi10, lo10 = knn_sets(x, 10), knn_sets(y, 10)
            knn10 = np.mean([len(a & b) / 10 for a, b in zip(hi10, lo10)])
            assert abs(r["knn10"] - knn10) < TOL, (layer, e, r["knn10"], knn10)
            if e == 0:
                assert r["change15"] is None and r["cka_prev_epoch"] is None
            else:
                a, b = knn_sets(x, 15), knn_sets(high[layer][e - 1], 15)
                change = np.mean([1 - len(s & t) / len(s | t) for s, t in zip(a, b)])
                assert abs(r["change15"] - change) < TOL, (layer, e, r["change15"], change)
                assert abs(r["cka_prev_epoch"] - cka(x, high[layer][e - 1])) < TOL, (layer, e)
            if li + 1 < len(LAYERS):
                assert abs(r["cka_next_layer"] - cka(x, high[LAYERS[li + 1]][e])) < TOL, (layer, e)
            else:
                assert r["cka_next_layer"] is None
    # The numbers say something: clusters tighten, so the plots are trustworthy and the layer changes.
    assert min(r["trust15"] for r in report["layers"]["block1"]) > 0.8
    assert report["layers"]["block1"][1]["change15"] > 0.05


def test_quality_names_an_unknown_layer(tmp_path, nm_bin):
    run = str(tmp_path / "run")
    make_run(run)
    p = subprocess.run([nm_bin, "quality", run, "--layers", "nope"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "unknown layer `nope`" in p.stderr and "block1" in p.stderr
