#!/usr/bin/env bash
# Parametric views against ordinary ones: `embed` and `embed --parametric` timed from an empty cache,
# both views scored, and `transform` of the last epoch's own activations checked, one table row per layer.
#
#   bench/parametric.sh RUN [RUN ...]
#
# Each RUN's .neuromapper/ cache is deleted first (twice: before each timed embed), so point it at runs
# whose caches you can lose. Scores come from shared/bench/score.py (trust15, knn10, mean movement
# between epochs in RMS radii); shared/ is found as ../shared beside the repository root, or at
# $NM_SHARED. Python: $PYTHON, else .venv/bin/python, else python3 (needs numpy, scikit-learn).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${NM_SHARED:-$ROOT/../shared}"
[ -f "$SHARED/bench/score.py" ] || { echo "error: shared/bench/score.py not found under $SHARED; set NM_SHARED" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: bench/parametric.sh RUN [RUN ...]" >&2; exit 2; }
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -q -p neuromapper)
BIN="$CARGO_TARGET_DIR/release/neuromapper"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
seconds() { local t0; t0=$(date +%s.%N); "$@" >/dev/null; "$PY" -c "import sys;print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)"; }
echo "| run | layer | trust15 ordinary | trust15 parametric | Δ | move ordinary | move parametric | ratio | transform error (radii) |"
echo "|---|---|---|---|---|---|---|---|---|"
for run in "$@"; do
    tag="$(basename "$run")"
    rm -rf "$run/.neuromapper"
    plain=$(seconds "$BIN" embed "$run")
    rm -rf "$run/.neuromapper"
    param=$(seconds "$BIN" embed "$run" --parametric)
    layers=$("$PY" -c "import json,sys;print(' '.join(json.load(open(sys.argv[1]))['layers']))" "$run/neuromapper.json")
    last=$(ls "$run/epochs" | sort -n | tail -1)
    for l in $layers; do
        "$BIN" export "$run" --layer "$l" --out "$OUT/$l.npy" >/dev/null
        "$BIN" export "$run" --layer "$l" --parametric --out "$OUT/${l}_p.npy" >/dev/null
        "$BIN" transform "$run" --layer "$l" --epoch "$last" --in "$run/epochs/$last/$l.npy" --out "$OUT/${l}_t.npy" >/dev/null
        "$PY" - "$SHARED/bench/score.py" "$run" "$l" "$OUT" "$tag" <<'PYEOF'
import json, subprocess, sys
import numpy as np
score_py, run, layer, out, tag = sys.argv[1:]
def score(path):
    d = json.loads(subprocess.check_output([sys.executable, score_py, run, layer, path, "--json"]))
    return d["trust15_mean"], d["move_mean"]
a, b = score(f"{out}/{layer}.npy"), score(f"{out}/{layer}_p.npy")
p, t = np.load(f"{out}/{layer}_p.npy")[-1], np.load(f"{out}/{layer}_t.npy")
radius = np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean())
err = np.sqrt(((p - t) ** 2).sum(1).mean()) / radius
print(f"| {tag} | {layer} | {a[0]:.4f} | {b[0]:.4f} | {b[0]-a[0]:+.4f} | {a[1]:.4f} | {b[1]:.4f} | {b[1]/a[1]:.2f}x | {err:.4f} |")
PYEOF
    done
    echo "| $tag | embed: ${plain} s, embed --parametric: ${param} s ($("$PY" -c "import sys;print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$param" "$plain")x) | | | | | | | |"
done
