#!/usr/bin/env python3
"""Runs side by side, measured through the real binary and its HTTP API.

  align RUN_0 RUN_1   serves both (`neuromapper serve RUN_0 RUN_1 --no-follow`), waits for every
                      layer's default view, and prints per layer the RMS distance between run 1's
                      positions and run 0's over the epochs both have: as computed (`neuromapper
                      export`, the same cached view), as served (turned rigidly onto run 0's), and
                      after numpy's own orthogonal Procrustes fit (an independent check: the server's
                      turn should be as good).
  demo [ARGS...]      starts `neuromapper demo --compare --no-open --port 0` (ARGS are passed on,
                      e.g. tiny training sizes) and prints how long until the first run's row can be
                      drawn (every layer of run 0 has a view) and until every row can.

The binary is $NEUROMAPPER_BIN, else target/debug/neuromapper. Needs numpy.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

BIN = os.environ.get("NEUROMAPPER_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "debug", "neuromapper")


def start(args):
    """Starts the binary with `args`; returns (process, base URL) once it printed its URL."""
    proc = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the server ended before printing its URL:\n" + "".join(seen))
        seen.append(line)
        m = re.search(r"(http://[^\s/]+)/", line)
        if m:
            # Keep reading its output, so a full pipe never stops it.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1)


def get(base, path):
    """(status, body bytes) of GET base+path."""
    try:
        with urllib.request.urlopen(base + path, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def decode(body):
    """An NMEM embedding: (epochs, samples [n], positions [E, n, 2] float64)."""
    assert body[:4] == b"NMEM", body[:40]
    hl = struct.unpack("<I", body[8:12])[0]
    h = json.loads(body[12:12 + hl])
    n, e = h["n"], len(h["epochs"])
    rest = body[12 + hl:]
    samples = np.frombuffer(rest[:4 * n], dtype="<u4")
    q = np.frombuffer(rest[4 * n:4 * n + 4 * n * e], dtype="<u2").reshape(e, n, 2).astype(np.float64)
    b = np.array(h["bounds"], dtype=np.float64)  # [E, 4]
    pos = b[:, None, :2] + q / 65535.0 * (b[:, None, 2:] - b[:, None, :2])
    return h["epochs"], samples, pos


def rms(a, b):
    return float(np.sqrt(((a - b) ** 2).sum(axis=-1).mean()))


def procrustes(moving, base):
    """moving turned and shifted (rotation or reflection) onto base, fitted on all points at once."""
    x, y = moving.reshape(-1, 2), base.reshape(-1, 2)
    mx, my = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - mx).T @ (y - my))
    r = u @ vt
    return ((x - mx) @ r + my).reshape(moving.shape)


def wait_view(base, prefix, layer, key, timeout=1800):
    end = time.time() + timeout
    while time.time() < end:
        status, body = get(base, f"{prefix}/layers/{layer}/embedding?view={key}")
        if status == 200:
            return body
        time.sleep(0.2)
    raise SystemExit(f"no view of {layer} at {prefix} after {timeout} s")


def align(run0, run1):
    proc, base = start(["serve", run0, run1, "--no-follow", "--no-open", "--port", "0"])
    try:
        runs = json.loads(get(base, "/api/runs")[1])["runs"]
        key = json.loads(get(base, "/api/run")[1])["default_view"]
        print(f"{runs[0]['label']} (run 0) and {runs[1]['label']} (run 1), view {key}")
        print(f"{'layer':<10} {'epochs':>6} {'n':>6} {'as computed':>12} {'served':>8} {'numpy':>8} {'ratio':>6}")
        for layer in runs[0]["layers"]:
            e0, s0, p0 = decode(wait_view(base, "/api", layer, key))
            e1, s1, p1 = decode(wait_view(base, "/api/runs/1", layer, key))
            assert (s0 == s1).all(), "the runs' views hold different samples"
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "raw.npy")
                subprocess.run([BIN, "export", run1, "--layer", layer, "--out", out], check=True, capture_output=True)
                raw = np.load(out).astype(np.float64)
            common = [e for e in e1 if e in e0]
            i0 = [e0.index(e) for e in common]
            i1 = [e1.index(e) for e in common]
            before = rms(raw[i1], p0[i0])
            after = rms(p1[i1], p0[i0])
            ours = rms(procrustes(raw[i1], p0[i0]), p0[i0])
            print(f"{layer:<10} {len(common):>6} {len(s0):>6} {before:>12.3f} {after:>8.3f} {ours:>8.3f} {before / after:>6.2f}")
    finally:
        proc.terminate()
        proc.wait()


def demo(args):
    t0 = time.time()
    out = tempfile.mkdtemp(prefix="nm-compare-demo-")
    proc, base = start(["demo", "--compare", "--no-open", "--port", "0", "--out", out, *args])
    print(f"server up after {time.time() - t0:.1f} s at {base}; runs in {out}")
    first = None
    try:
        while True:
            runs = json.loads(get(base, "/api/runs")[1])["runs"]
            ready = []
            for i, r in enumerate(runs):
                layers = r["layers"]
                ok = bool(layers) and all(get(base, f"/api/runs/{i}/layers/{l}/embedding?view=live")[0] == 200 for l in layers)
                ready.append(ok)
            if ready[0] and first is None:
                first = time.time() - t0
                print(f"first row ({runs[0]['label']}) drawable after {first:.1f} s")
            if all(ready):
                print(f"all {len(runs)} rows drawable after {time.time() - t0:.1f} s")
                break
            if proc.poll() is not None:
                raise SystemExit(f"demo ended with {proc.returncode}")
            time.sleep(0.25)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "align":
        align(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "demo":
        demo(sys.argv[2:])
    else:
        raise SystemExit(__doc__)
