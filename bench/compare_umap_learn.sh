#!/usr/bin/env bash
# Engine benchmark: nm_umap against umap-learn on the same runs, one table out.
#
#   bench/compare_umap_learn.sh [--only aligned,single,pca] [--peer-timeout SECONDS]
#
# Writes the workloads as runs (bench/make_workloads.py: python + numpy) under $NM_BENCH_DIR
# (default ${TMPDIR:-/tmp}/nm_umap_bench; reused when present), builds and runs our engine
# (cargo run --release -p nm_pipeline --example bench_engine), runs the peers
# (shared/bench/reference_aligned_umap.py; bench/peer_single_umap.py), scores every output with
# shared/bench/score.py (or bench/score_subsample.py for the 70,000-point run) and prints
# seconds, trust15, knn10, move and the speed ratio. shared/ is found as ../shared beside the
# repository root, or at $NM_SHARED. Python: $PYTHON, else .venv/bin/python, else python3
# (needs numpy, scikit-learn, umap-learn). umap-learn is slow: expect several minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${NM_SHARED:-$ROOT/../shared}"
if [ ! -f "$SHARED/bench/score.py" ]; then
    echo "error: shared/bench/score.py not found under $SHARED; set NM_SHARED to the shared folder" >&2
    exit 1
fi
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
WORK="${NM_BENCH_DIR:-${TMPDIR:-/tmp}/nm_umap_bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
(cd "$ROOT" && cargo build --release -q -p nm_pipeline --example bench_engine)
BIN="$CARGO_TARGET_DIR/release/examples/bench_engine"
exec "$PY" "$ROOT/bench/compare_umap_learn.py" "$BIN" "$SHARED" "$WORK" "$@"
