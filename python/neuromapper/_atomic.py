"""Atomic writes: every file goes to a hidden temporary name beside its target, then os.replace."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, IO

import numpy as np


def _tmp_name(path: str) -> str:
    """A hidden name beside `path`, unique per process (readers ignore names starting with '.')."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}")


def write_atomic(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Calls `write(f)` on a temporary file beside `path`, flushes it, then renames it over `path`.

    A reader sees either the old file or the complete new one, never a half-written file; on an
    error the temporary file is removed and `path` is left as it was.
    """
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def save_npy_atomic(path: str, array: np.ndarray) -> None:
    """`np.save` of `array` to `path`, atomically (no pickled objects)."""
    write_atomic(path, lambda f: np.save(f, array, allow_pickle=False))


def write_json_atomic(path: str, value: Any) -> None:
    """`value` as indented UTF-8 JSON to `path`, atomically."""
    data = (json.dumps(value, indent=2, allow_nan=False) + "\n").encode("utf-8")
    write_atomic(path, lambda f: f.write(data))
