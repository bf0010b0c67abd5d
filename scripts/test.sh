#!/usr/bin/env bash
# The one test command. Installs what the tests need when it is missing (Debian's chromium for the
# browser tests, driven by playwright-core; numpy for the run-format interop test, playwright-core for the browser tests),
# then runs the Rust tests of every crate, the browser tests against the built binary, and the
# viewer's type check (typescript from tests/browser's package.json).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "== installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]}: run 'sudo apt-get install ${need_apt[*]}' and try again" >&2
    exit 1
  fi
fi

PY=${NM_PYTHON:-python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "== installing numpy for $PY"
  "$PY" -m pip install -q numpy
fi
export NM_PYTHON=$PY

echo "== cargo fmt --check (rustfmt.toml)"
cargo fmt --all --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo doc (no broken links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

echo "== cargo test"
cargo test --workspace

echo "== browser tests"
cargo build -p neuromapper
(cd tests/browser && { [[ -d node_modules/playwright-core && -d node_modules/typescript ]] || npm ci --no-audit --no-fund; } && node --test)

# The viewer's JavaScript is type-checked from its JSDoc (`// @ts-check` in every file).
echo "== viewer types (tsc --noEmit)"
unchecked=$(grep -L '^// @ts-check' crates/nm_server/ui/js/*.js crates/nm_server/ui/js/widgets/*.js || true)
if [[ -n $unchecked ]]; then echo "these viewer files lack // @ts-check: $unchecked" >&2; exit 1; fi
(cd tests/browser && npx tsc -p tsconfig.ui.json)

# ---- Python: the package in python/ and its tests in tests/python (self-contained block) ----
# A venv at .venv with numpy, pytest, torch, lightning and scikit-learn; torch from PyPI brings its
# CUDA libraries (about 2.5 GB; the CPU-only wheel is not on PyPI, and torch does not import without them).
echo "== python tests"
cargo build -q -p neuromapper
if ! .venv/bin/python -c 'import numpy, pytest, torch, lightning, sklearn' 2>/dev/null; then
  echo "== installing numpy, pytest, torch, lightning, scikit-learn into .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --no-cache-dir numpy pytest torch lightning scikit-learn
fi
NEUROMAPPER_BIN=target/debug/neuromapper PYTHONPATH=python .venv/bin/python -m pytest -q tests/python
