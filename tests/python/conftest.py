"""Shared fixtures for the Python tests: the package on sys.path, the neuromapper binary, run helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))


@pytest.fixture(scope="session")
def nm_bin() -> str:
    """The neuromapper binary: $NEUROMAPPER_BIN, default target/debug/neuromapper of this checkout."""
    path = os.environ.get("NEUROMAPPER_BIN") or os.path.join(ROOT, "target", "debug", "neuromapper")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"no neuromapper binary at {path}: build it with `cargo build -p neuromapper` or set NEUROMAPPER_BIN")
    os.environ["NEUROMAPPER_BIN"] = path  # for nm.serve in the same process
    return path


def run_info(nm_bin: str, run: str) -> str:
    """`neuromapper info RUN`'s stdout; fails the test (with stderr) on a non-zero exit."""
    p = subprocess.run([nm_bin, "info", run], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"neuromapper info {run} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def info_fields(text: str) -> Dict[str, str]:
    """`info`'s output as {first word: rest of the line}."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key:
            out[key] = rest.strip()
    return out


def snapshot(folder: str) -> Dict[str, Tuple[int, int]]:
    """Every path under `folder` with (size, mtime_ns): equal snapshots mean nothing was written."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            out[os.path.relpath(p, folder)] = (st.st_size if name in files else 0, st.st_mtime_ns)
    return out


def hidden_leftovers(run: str) -> list:
    """Hidden temporary names (.tmp-*, .old-*, *.tmp-*) anywhere in the run, outside .neuromapper/."""
    found = []
    for root, dirs, files in os.walk(run):
        dirs[:] = [d for d in dirs if d != ".neuromapper"]
        for name in dirs + files:
            if name.startswith(".") and (".tmp-" in name or name.startswith(".old-")):
                found.append(os.path.relpath(os.path.join(root, name), run))
    return found
