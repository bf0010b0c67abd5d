#!/usr/bin/env bash
# Speed and memory of `neuromapper embed` on generated runs (issue 3's targets):
#   1. 4 layers x 10 epochs x 10,000 samples x 512 dims           target: <= 60 s on 2 cores
#   2. one layer of 10,000 x 65,536 float32 per epoch (2 epochs)  target: peak RSS <= 2 GiB
#   3. the NeuroMapper paper's workload: 4 layers x 40 epochs x 10,000 samples, pre-embedded to
#      50 dims                                                    report the time (goal <= 10 min)
# Each is timed from a cold cache (RUN/.neuromapper removed), then once more to show the cache hit.
# CPU time (user + system) is printed beside the wall time, and the load average after each run:
# on a busy machine the wall time overstates what 2 free cores would take.
#
#   bench/embed_bench.sh [WORKDIR] [which...]     which: wide512 huge paper (default: all three)
#
# Needs python3 with numpy ($NM_PYTHON, else .venv/bin/python, else python3) to write the runs,
# /usr/bin/time (Debian package `time`), and ~12 GB of free disk in WORKDIR (default /tmp/nm_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/nm_bench}
shift || true
WHICH=${*:-wide512 huge paper}
PY=${NM_PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}
"$PY" -c 'import numpy' || { echo "needs numpy: pip install numpy (or set NM_PYTHON)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time: apt-get install time" >&2; exit 1; }

# NM_BENCH_PROFILE=test reuses the test build (opt-level 2, no LTO) instead of a release build.
PROFILE=${NM_BENCH_PROFILE:-release}
echo "== building neuromapper ($PROFILE profile)"
cargo build --profile "$PROFILE" -q -p neuromapper
case $PROFILE in dev | test) DIR=debug ;; *) DIR=$PROFILE ;; esac
BIN=${CARGO_TARGET_DIR:-target}/$DIR/neuromapper
mkdir -p "$WORK"

# make_run ROOT LAYERS EPOCHS N D: a run whose layers hold 10 classes drifting apart over epochs
# (class centres plus noise through a fixed random projection), written in chunks of rows.
make_run() {
  [[ -f "$1/.complete" ]] && return 0
  echo "== writing $1 ($2 layers x $3 epochs x $4 x $5)"
  rm -rf "$1"
  "$PY" - "$@" <<'EOF'
import json, os, sys
import numpy as np
root, n_layers, n_epochs, n, d = sys.argv[1], *map(int, sys.argv[2:6])
classes, latent, chunk = 10, 32, 1000
rng = np.random.default_rng(0)
labels = np.arange(n) % classes
layers = [f"layer{k + 1}" for k in range(n_layers)]
os.makedirs(f"{root}/epochs", exist_ok=True)
json.dump({"format": "neuromapper-run/1", "classes": [f"c{c}" for c in range(classes)], "layers": layers},
          open(f"{root}/neuromapper.json", "w"))
np.save(f"{root}/labels.npy", labels.astype(np.int64))
centres = rng.normal(size=(classes, latent)).astype(np.float32)
z = rng.normal(size=(n, latent)).astype(np.float32)
for li, layer in enumerate(layers):
    w = (rng.normal(size=(latent, d)) / np.sqrt(latent)).astype(np.float32)
    for e in range(n_epochs):
        sep = np.float32(0.5 + 2.0 * (e + 1) / n_epochs * (li + 1) / n_layers)
        path = f"{root}/epochs/{e}/{layer}.npy"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        for s in range(0, n, chunk):
            h = (centres[labels[s:s + chunk]] * sep + z[s:s + chunk]) @ w
            out[s:s + chunk] = np.maximum(h, 0) + 0.05 * rng.standard_normal(size=h.shape, dtype=np.float32)
        out.flush()
        del out
open(f"{root}/.complete", "w").close()
EOF
}

# measure NAME RUN [embed flags...]: cold then cached, wall time and peak RSS of each.
measure() {
  local name=$1 run=$2
  shift 2
  rm -rf "$run/.neuromapper"
  for pass in cold cached; do
    /usr/bin/time -v -o "$WORK/$name.$pass.time" "$BIN" embed "$run" "$@" > "$WORK/$name.$pass.out" 2> "$WORK/$name.$pass.err"
    local wall rss cpu
    wall=$(grep 'Elapsed (wall clock)' "$WORK/$name.$pass.time" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$WORK/$name.$pass.time" | awk '{printf "%.0f", $NF / 1024}')
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$WORK/$name.$pass.time")
    printf '%-8s %-7s wall %-9s cpu %7s s  peak RSS %6s MiB  load %s  (%s)\n' "$name" "$pass" "$wall" "$cpu" "$rss" \
      "$(cut -d' ' -f1 /proc/loadavg)" "$(tail -1 "$WORK/$name.$pass.out")"
  done
}

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
for w in $WHICH; do
  case $w in
    wide512) make_run "$WORK/wide512" 4 10 10000 512; measure wide512 "$WORK/wide512" ;;
    huge)    make_run "$WORK/huge" 1 2 10000 65536;   measure huge "$WORK/huge" ;;
    paper)   make_run "$WORK/paper" 4 40 10000 50;    measure paper "$WORK/paper" ;;
    *) echo "unknown workload $w (wide512, huge, paper)" >&2; exit 2 ;;
  esac
done
