#!/usr/bin/env python3
"""The peer for single (non-aligned) UMAP: umap-learn's UMAP on the first epoch of one layer of a run.

  peer_single_umap.py RUN LAYER OUT.npy [--n-neighbors 15] [--min-dist 0.1]

Saves float32 [1, N, 2] and prints the wall time of the fit (neighbours included). A warm-up fit
on 2,000 rows runs first, so numba's compile time is not counted. Needs umap-learn."""
import argparse, os, time
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run"); p.add_argument("layer"); p.add_argument("out")
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--min-dist", type=float, default=0.1)
    a = p.parse_args()
    import umap
    first = sorted(os.listdir(os.path.join(a.run, "epochs")), key=int)[0]
    x = np.load(os.path.join(a.run, "epochs", first, a.layer + ".npy"))
    x = x.reshape(x.shape[0], -1).astype(np.float32)
    umap.UMAP(n_neighbors=a.n_neighbors).fit(x[:2000])
    t0 = time.time()
    y = umap.UMAP(n_neighbors=a.n_neighbors, min_dist=a.min_dist).fit_transform(x)
    secs = time.time() - t0
    np.save(a.out, y[None].astype(np.float32))
    print(f"umap-learn UMAP: 1 epochs x {x.shape[0]} points x {x.shape[1]} dims: {secs:.2f} s")


if __name__ == "__main__":
    main()
