"""neuromapper for Python: write runs from a training loop and view them (`RunWriter`, `torch.Recorder`, `serve`).

::

    import neuromapper as nm
    w = nm.RunWriter("runs/exp1", layers=["layer1", "layer2"], labels=y, classes=["cat", "dog"])
    w.write_epoch(0, {"layer1": a1, "layer2": a2}, predictions=logits, metrics={"train_loss": 2.3})
    w.finish()
    viewer = nm.serve("runs/exp1")

numpy is the only dependency; `neuromapper.torch` (needs torch) and `neuromapper.lightning` (needs
lightning) are imported on first use, e.g. `nm.torch.Recorder(...)`.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._format import FINISHED_FILE, FORMAT
from ._serve import Viewer, find_binary, serve
from ._writer import RunWriter

__all__ = ["FORMAT", "FINISHED_FILE", "RunWriter", "Viewer", "find_binary", "serve"]
__version__ = "0.1.0"

_LAZY = ("torch", "lightning")


def __getattr__(name: str) -> Any:
    """`nm.torch` and `nm.lightning`: imported on first access, so numpy alone suffices otherwise."""
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'neuromapper' has no attribute {name!r}")
