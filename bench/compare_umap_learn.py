#!/usr/bin/env python3
"""Engine benchmark driver (run it through compare_umap_learn.sh, which builds the engine first).

For each workload (bench/make_workloads.py), runs our engine (the bench_engine example) and the
peer (umap-learn) on the same run, scores both the same way and prints one table:
seconds, trust15, knn10, move (mean movement between consecutive epochs / RMS radius) and the
speed ratio peer / ours.

  compare_umap_learn.py BIN SHARED WORKDIR [--only aligned,single,pca] [--peer-timeout 900]
"""
import argparse, json, os, re, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, timeout=None):
    """Run a command, echo its last line, return (stdout, seconds reported by it or wall time)."""
    t0 = time.time()
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return None, None
    wall = time.time() - t0
    m = re.search(r": ([0-9.]+) s", out)
    print("   ", out.strip().splitlines()[-1], flush=True)
    return out, float(m.group(1)) if m else wall


def score_full(shared, run_dir, layer, emb):
    out = subprocess.run([sys.executable, os.path.join(shared, "bench", "score.py"), run_dir, layer, emb, "--json"],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["trust15_mean"], j["knn10_mean"], j["move_mean"]


def score_sub(run_dir, layer, emb):
    out = subprocess.run([sys.executable, os.path.join(HERE, "score_subsample.py"), run_dir, layer, emb],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["trust15"], j["knn10"], None


def fmt(v, spec):
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 0
    return "-".rjust(width) if v is None else format(v, spec)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bin"); p.add_argument("shared"); p.add_argument("work")
    p.add_argument("--only", default="aligned,single,pca")
    p.add_argument("--peer-timeout", type=float, default=900.0)
    a = p.parse_args()
    only = a.only.split(",")
    os.makedirs(a.work, exist_ok=True)
    need = [w for w in only if not os.path.exists(os.path.join(a.work, "pca.npy" if w == "pca" else w))]
    if need:
        print(f"writing workloads {need} under {a.work}", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_workloads.py"), a.work, *need], check=True)
    rows = []
    if "aligned" in only:
        run_dir = os.path.join(a.work, "aligned")
        print("aligned: 5 epochs x 5,000 points x 128 dims", flush=True)
        _, ours_s = run([a.bin, "aligned", run_dir, "hidden", os.path.join(a.work, "ours_aligned.npy")])
        ours = score_full(a.shared, run_dir, "hidden", os.path.join(a.work, "ours_aligned.npy"))
        _, peer_s = run([sys.executable, os.path.join(a.shared, "bench", "reference_aligned_umap.py"), run_dir, "hidden",
                         os.path.join(a.work, "peer_aligned.npy")], timeout=a.peer_timeout)
        peer = score_full(a.shared, run_dir, "hidden", os.path.join(a.work, "peer_aligned.npy")) if peer_s else (None,) * 3
        rows.append(("aligned 5x5000x128", "nm_umap", ours_s, *ours, peer_s / ours_s if peer_s else None))
        rows.append(("aligned 5x5000x128", "umap-learn", peer_s, *peer, None))
    if "single" in only:
        run_dir = os.path.join(a.work, "single")
        print("single: 70,000 points x 784 dims (scored on 10,000 sampled rows)", flush=True)
        _, ours_s = run([a.bin, "single", run_dir, "pixels", os.path.join(a.work, "ours_single.npy")])
        ours = score_sub(run_dir, "pixels", os.path.join(a.work, "ours_single.npy"))
        _, peer_s = run([sys.executable, os.path.join(HERE, "peer_single_umap.py"), run_dir, "pixels",
                         os.path.join(a.work, "peer_single.npy")], timeout=a.peer_timeout)
        if peer_s is None:
            print(f"    umap-learn UMAP skipped: over {a.peer_timeout:.0f} s", flush=True)
        peer = score_sub(run_dir, "pixels", os.path.join(a.work, "peer_single.npy")) if peer_s else (None,) * 3
        rows.append(("single 70000x784", "nm_umap", ours_s, *ours, peer_s / ours_s if peer_s else None))
        rows.append(("single 70000x784", "umap-learn", peer_s, *peer, None))
    if "pca" in only:
        print("pca: 10,000 x 65,536 float32 .npy -> 50 dims, streamed", flush=True)
        out, ours_s = run([a.bin, "pca", os.path.join(a.work, "pca.npy"), "50"])
        rss = re.search(r"peak RSS ([0-9]+) MiB", out)
        rows.append((f"pca 10000x65536->50 (peak RSS {rss.group(1) if rss else '?'} MiB)", "nm_umap", ours_s, None, None, None, None))
    print()
    print(f"| {'workload':<40} | {'system':<10} | {'seconds':>8} | {'trust15':>7} | {'knn10':>6} | {'move':>6} | {'speed-up':>8} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 10}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 10}|")
    for w, s, secs, t, k, mv, ratio in rows:
        print(f"| {w:<40} | {s:<10} | {fmt(secs, '8.2f')} | {fmt(t, '7.4f')} | {fmt(k, '6.4f')} | {fmt(mv, '6.4f')} | {fmt(ratio, '7.1f') + ('x' if ratio else ''):>8} |")


if __name__ == "__main__":
    main()
