"""Argument checks for writing a run: each returns the normalised value or raises before anything is written.

Conventions: an argument of the wrong Python type (not an array, not a mapping, not a string)
raises `TypeError`; an array or value of the right type but the wrong shape, dtype or content
raises `ValueError`. Every message names the argument (and the layer) and says what was expected.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

#: The file name reserved for predictions inside an epoch folder; no layer may be called this.
PREDICTIONS = "predictions"

#: Layer names become file names (`<layer>.npy`): letters, digits, `_`, `-`, `.` and `+`, not
#: starting with `.` or `-` (hidden files are ignored by readers). PyTorch's dotted module paths
#: such as `layer1.0.conv1` fit.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]*")
_MAX_NAME_LEN = 200

#: Rows checked for NaN/inf per block, so a [N, 65536] layer needs no full-size boolean copy.
_FINITE_BLOCK_ELEMENTS = 1 << 24


def type_name(value: Any) -> str:
    """A short description of `value`'s type for error messages."""
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def as_array(value: Any, arg: str) -> np.ndarray:
    """`value` as a numpy array without copying when possible; torch tensors are detached and moved
    to the CPU (bfloat16, which numpy lacks, becomes float32)."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise TypeError(f"{arg} must be an array (numpy array, torch tensor or list); got {type_name(value)}")
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{arg} must be an array (numpy array, torch tensor or list); got {type_name(value)}: {e}") from e


def check_name(name: Any, arg: str) -> str:
    """A layer name that is safe as a file name."""
    if not isinstance(name, str):
        raise TypeError(f"{arg} must be a string; got {type_name(name)} {name!r}")
    if name == PREDICTIONS:
        raise ValueError(f"{arg} {name!r} is reserved for the predictions file; rename the layer")
    if len(name) > _MAX_NAME_LEN or not _SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"{arg} {name!r} is not a safe file name: use letters, digits, '_', '-', '.' and '+', "
            f"not starting with '.' or '-', at most {_MAX_NAME_LEN} characters"
        )
    return name


def check_layers(layers: Any) -> List[str]:
    """The list of layer names: non-empty, unique, file-name-safe."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a list of layer names; got {type_name(layers)}")
    out = [check_name(name, f"layers[{i}]") for i, name in enumerate(layers)]
    if not out:
        raise ValueError("layers is empty; name at least one layer")
    seen = set()
    for name in out:
        if name in seen:
            raise ValueError(f"layers names {name!r} twice; each layer once")
        seen.add(name)
    return out


def check_classes(classes: Any) -> Optional[List[str]]:
    """Class names (index = class id), or None."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"classes must be a list of class names (strings); got {type_name(classes)}")
    for i, c in enumerate(classes):
        if not isinstance(c, str):
            raise TypeError(f"classes[{i}] must be a string (the class name); got {type_name(c)} {c!r}")
    if not classes:
        raise ValueError("classes is empty; list the class names, or pass classes=None")
    return list(classes)


def check_labels(labels: Any, n_classes: Optional[int]) -> np.ndarray:
    """Labels as int64 [N]: integers in 0..n_classes-1 (non-negative when classes are not given)."""
    a = as_array(labels, "labels")
    if a.ndim != 1:
        raise ValueError(f"labels must be 1-D [N] (one class id per sample); got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers (class ids); got dtype {a.dtype}")
    if len(a) == 0:
        raise ValueError("labels is empty; a run needs at least one sample")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0:
        i = int(np.argmax(a < 0))
        raise ValueError(f"labels must be non-negative class ids; labels[{i}] = {int(a[i])}")
    if n_classes is not None and hi >= n_classes:
        i = int(np.argmax(a >= n_classes))
        raise ValueError(
            f"labels[{i}] = {int(a[i])} is outside the {n_classes} classes (expected 0..{n_classes - 1}); "
            "list every class in classes"
        )
    return a.astype(np.int64, copy=False)


def check_twins(twins: Any, labels: np.ndarray) -> Optional[np.ndarray]:
    """Twin links as int64 [N]: -1 for a clean sample, else the row of its clean twin (another row,
    itself clean, with the same label); or None."""
    if twins is None:
        return None
    a = as_array(twins, "twins")
    n = labels.shape[0]
    if a.ndim != 1 or a.shape[0] != n or a.dtype.kind not in "iu":
        raise ValueError(f"twins must be [N={n}] integers (-1 for a clean sample); got {a.dtype} of shape {a.shape}")
    a = a.astype(np.int64, copy=False)
    for i, j in enumerate(a.tolist()):
        if j == -1:
            continue
        if not 0 <= j < n:
            raise ValueError(f"twins[{i}] = {j} is not a sample (expected -1 or 0..{n - 1})")
        if j == i:
            raise ValueError(f"twins[{i}] links row {i} to itself; a clean sample holds -1")
        if a[j] != -1:
            raise ValueError(f"twins[{i}] = {j} links to a row that is itself a twin (of {int(a[j])})")
        if labels[i] != labels[j]:
            raise ValueError(f"twins[{i}] = {j}: labels differ ({int(labels[i])} and {int(labels[j])}); a twin has its clean sample's label")
    return a


def check_attack(attack: Any) -> Optional[Dict[str, Any]]:
    """The manifest's `adversarial` object: {"attack": str, "eps": float, "steps": int}, keys optional; or None."""
    if attack is None:
        return None
    if not isinstance(attack, Mapping):
        raise TypeError(f"attack must be a dict such as {{'attack': 'fgsm', 'eps': 8/255}}; got {type_name(attack)}")
    out: Dict[str, Any] = {}
    for key, value in attack.items():
        if key == "attack" and isinstance(value, str):
            out[key] = value
        elif key == "eps" and isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            out[key] = float(value)
        elif key == "steps" and isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
            out[key] = int(value)
        else:
            raise ValueError(f"attack[{key!r}] = {value!r}: expected 'attack' (str), 'eps' (positive number), 'steps' (int >= 1)")
    return out


def check_inputs(inputs: Any, n: int) -> Optional[np.ndarray]:
    """Thumbnails as uint8 [N, H, W] or [N, H, W, C] with C in {1, 3}, or None."""
    if inputs is None:
        return None
    a = as_array(inputs, "inputs")
    if a.dtype != np.uint8:
        raise ValueError(
            f"inputs must be uint8 images (0..255); got dtype {a.dtype} "
            "(scale and convert first, e.g. (x * 255).clip(0, 255).astype(np.uint8))"
        )
    if not (a.ndim == 3 or (a.ndim == 4 and a.shape[3] in (1, 3))):
        raise ValueError(
            f"inputs must be [N, H, W] or [N, H, W, C] with C = 1 or 3 (channels last); got shape {a.shape}"
        )
    if a.shape[0] != n:
        raise ValueError(f"inputs has {a.shape[0]} images but labels has {n} samples; one image per sample")
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"inputs must have non-empty images; got shape {a.shape}")
    return np.ascontiguousarray(a)


def check_epoch(epoch: Any) -> int:
    """A non-negative integer epoch number."""
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise TypeError(f"epoch must be a non-negative int; got {type_name(epoch)} {epoch!r}")
    e = int(epoch)
    if e < 0 or e > 0xFFFFFFFF:
        raise ValueError(f"epoch must be a non-negative int below 2**32; got {e}")
    return e


def _first_nonfinite(a: np.ndarray) -> Optional[tuple]:
    """(count, first row) of NaN/inf values in the 2-D float array `a`, or None when all are finite."""
    rows = max(1, _FINITE_BLOCK_ELEMENTS // max(1, a.shape[1]))
    count, first = 0, None
    for start in range(0, a.shape[0], rows):
        bad = ~np.isfinite(a[start : start + rows])
        c = int(bad.sum())
        if c:
            if first is None:
                first = start + int(np.flatnonzero(bad.any(axis=1))[0])
            count += c
    return None if first is None else (count, first)


def check_activation(layer: str, value: Any, n: int, expected_dim: Optional[int]) -> np.ndarray:
    """One layer's activations as float32 [N, D] (C order): each row flattened, all values finite,
    D equal to `expected_dim` (this layer's D in its first epoch) when given."""
    arg = f"activations[{layer!r}]"
    a = as_array(value, arg)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{arg} must be numeric (float or int); got dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{arg} must be [N, ...] with one row per sample; got a scalar")
    if a.shape[0] != n:
        raise ValueError(f"{arg} has {a.shape[0]} rows but the run has {n} samples (labels); expected shape [{n}, ...]")
    dim = int(np.prod(a.shape[1:], dtype=np.int64))
    if dim == 0:
        raise ValueError(f"{arg} is empty per sample; got shape {a.shape}")
    if expected_dim is not None and dim != expected_dim:
        raise ValueError(
            f"{arg} has {dim} values per sample (shape {a.shape}) but layer {layer!r} had D = {expected_dim} "
            "in its first epoch; D must stay the same across epochs"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(a.reshape(n, dim), dtype=np.float32)
    bad = _first_nonfinite(out)
    if bad is not None:
        count, row = bad
        if a.dtype.kind == "f" and a.dtype.itemsize <= 4:
            what = "NaN or infinite values"
        else:
            what = "NaN or infinite values or values beyond float32's range"
        raise ValueError(f"{arg} has {count} {what}, the first in row {row}; every value must be finite")
    return out


def check_predictions(value: Any, n: int, n_classes: Optional[int]) -> Optional[np.ndarray]:
    """Predictions as int64 [N] class ids or float32 [N, C] logits/probabilities, or None."""
    if value is None:
        return None
    a = as_array(value, "predictions")
    if a.ndim == 1:
        if a.dtype.kind not in "iu":
            raise ValueError(
                f"predictions of shape [N] must be integer class ids; got dtype {a.dtype} "
                "(pass [N, C] logits, or ids as integers)"
            )
        if a.shape[0] != n:
            raise ValueError(f"predictions has {a.shape[0]} rows but the run has {n} samples")
        if len(a) and int(a.min()) < 0:
            i = int(np.argmax(a < 0))
            raise ValueError(f"predictions must be non-negative class ids; predictions[{i}] = {int(a[i])}")
        if n_classes is not None and len(a) and int(a.max()) >= n_classes:
            i = int(np.argmax(a >= n_classes))
            raise ValueError(
                f"predictions[{i}] = {int(a[i])} is outside the {n_classes} classes (expected 0..{n_classes - 1})"
            )
        return a.astype(np.int64, copy=False)
    if a.ndim == 2:
        if a.dtype.kind not in "iuf":
            raise ValueError(f"predictions of shape [N, C] must be numeric logits or probabilities; got dtype {a.dtype}")
        if a.shape[0] != n:
            raise ValueError(f"predictions has {a.shape[0]} rows but the run has {n} samples")
        if a.shape[1] == 0:
            raise ValueError(f"predictions of shape [N, C] needs C >= 1 columns; got shape {a.shape}")
        if n_classes is not None and a.shape[1] > n_classes:
            raise ValueError(
                f"predictions has {a.shape[1]} columns (classes) but the run has {n_classes} classes; "
                f"list all {a.shape[1]} in classes"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.ascontiguousarray(a, dtype=np.float32)
        bad = _first_nonfinite(out)
        if bad is not None:
            raise ValueError(f"predictions has {bad[0]} NaN or infinite values, the first in row {bad[1]}")
        return out
    raise ValueError(f"predictions must be [N] class ids or [N, C] logits; got shape {a.shape}")


def check_values(values: Any, n: int, layers: Sequence[str]) -> dict:
    """Per-sample values {name: [N] numbers} as {name: float32 [N]}: names file-name-safe, not a
    layer's, not ending in ".values"; values finite."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a dict of {{name: [N] array}}; got {type_name(values)}")
    out = {}
    for name, value in values.items():
        check_name(name, "values name")
        if name in layers or name.endswith(".values"):
            raise ValueError(f"values name {name!r} is a layer's name or ends in '.values'; pick another name")
        arg = f"values[{name!r}]"
        a = as_array(value, arg)
        if a.dtype.kind not in "iuf" or a.dtype.kind == "b":
            raise ValueError(f"{arg} must be numeric (float or int); got dtype {a.dtype}")
        if a.shape != (n,) and a.shape != (n, 1):
            raise ValueError(f"{arg} must have one value per sample, shape [{n}]; got shape {a.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            v = np.ascontiguousarray(a.reshape(n), dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            raise ValueError(f"{arg} has {len(bad)} NaN or infinite values, the first at sample {int(bad[0])}; every value must be finite")
        out[name] = v
    return out


def check_samples(columns: Any, n: int) -> dict:
    """samples.csv's columns {name: [N] values}: names non-empty strings, N cells each; numbers
    (finite, or NaN for unknown) stay numbers, anything else becomes text."""
    if not isinstance(columns, Mapping) or not columns:
        raise TypeError(f"columns must be a non-empty dict of {{name: [N] values}}; got {type_name(columns)}")
    out = {}
    for name, value in columns.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"column names must be non-empty strings; got {name!r}")
        cells = list(value.tolist() if hasattr(value, "tolist") else value)
        if len(cells) != n:
            raise ValueError(f"column {name!r} has {len(cells)} cells but the run has {n} samples")
        out[name] = cells
    return out


def _scalar(value: Any) -> Any:
    """Unwraps numpy scalars, 0-d arrays and one-element torch tensors to Python numbers."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    numel = getattr(value, "numel", None)
    if callable(numel) and hasattr(value, "item") and numel() == 1:
        return value.detach().item() if hasattr(value, "detach") else value.item()
    return value


def check_metric(key: Any, value: Any, arg: str = "metrics") -> float:
    """One metric value: a finite real number (int, float, numpy scalar or 0-d tensor; not bool)."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"{arg} keys must be non-empty strings; got {type_name(key)} {key!r}")
    if key == "epoch":
        raise ValueError(f"{arg} must not contain 'epoch'; it is set from the epoch argument")
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{arg}[{key!r}] must be a number; got {type_name(value)} {value!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{arg}[{key!r}] must be finite; got {f}")
    return f


def check_metrics(metrics: Any) -> dict:
    """A mapping of metric name to finite number, as {str: float}."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping of name to number; got {type_name(metrics)}")
    if "loss" in metrics and "train_loss" in metrics:
        raise ValueError("metrics has both 'loss' and 'train_loss'; they name the same value in the run format, give one")
    return {k: check_metric(k, v) for k, v in metrics.items()}


def check_run_name(name: Any) -> Optional[str]:
    """The run's display name, or None (the folder's name)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type_name(name)}")
    if not name.strip():
        raise ValueError("name is empty; give a name or leave it out (the folder's name is used)")
    return name
