#!/usr/bin/env python3
"""Score a single embedding of a large run on a random subsample, where score.py's N x N
matrices would not fit in memory.

  score_subsample.py RUN LAYER EMB.npy [--rows 10000] [--seed 0]

EMB.npy is float [1, N, 2] (the first epoch of LAYER). The same rows (numpy default_rng(seed),
without replacement) are used for every system, so scores are comparable with each other, though
not with full-data scores (neighbours are taken within the subsample). Prints JSON:
trust15 (scikit-learn's trustworthiness, k=15) and knn10 (10-NN label accuracy in 2-D, 5-fold)."""
import argparse, json, os
import numpy as np
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run"); p.add_argument("layer"); p.add_argument("emb")
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    first = sorted(os.listdir(os.path.join(a.run, "epochs")), key=int)[0]
    x = np.load(os.path.join(a.run, "epochs", first, a.layer + ".npy"), mmap_mode="r")
    y = np.load(a.emb)[0]
    labels = np.load(os.path.join(a.run, "labels.npy"))
    n = x.shape[0]
    rows = np.sort(np.random.default_rng(a.seed).choice(n, size=min(a.rows, n), replace=False))
    xs = np.asarray(x[rows]).reshape(len(rows), -1).astype(np.float32)
    ys = y[rows]
    t = trustworthiness(xs, ys, n_neighbors=15) if np.isfinite(ys).all() else float("nan")
    acc = cross_val_score(KNeighborsClassifier(10), ys, labels[rows], cv=5).mean()
    print(json.dumps({"rows": int(len(rows)), "trust15": round(float(t), 4), "knn10": round(float(acc), 4)}))


if __name__ == "__main__":
    main()
