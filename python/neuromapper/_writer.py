"""RunWriter: writes a run folder (manifest, labels, thumbnails, one atomic folder per epoch, metrics, finished marker)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _format as F
from . import _validate as V
from ._atomic import save_npy_atomic, write_atomic, write_json_atomic

PathLike = Union[str, "os.PathLike[str]"]


def _epoch_number(name: str) -> Optional[int]:
    """The epoch an entry of `epochs/` stands for ("5", "005", "5.safetensors"), or None."""
    stem = name[: -len(".safetensors")] if name.endswith(".safetensors") else name
    return int(stem) if stem.isdigit() and stem.isascii() else None


class RunWriter:
    """Writes a neuromapper run: the activations of some layers for a fixed set of N samples, epoch by epoch.

    ::

        w = RunWriter("runs/exp1", layers=["layer1", "layer2"], labels=y, classes=["cat", "dog"])
        w.write_epoch(0, {"layer1": a1, "layer2": a2}, predictions=logits, metrics={"train_loss": 2.3})
        w.finish()

    Args:
        run: the run folder; created when missing. A folder that already holds a run with epochs is
            refused unless `overwrite=True` (its epochs, metrics and finished marker are removed,
            nothing else) or `resume=True` (the same layers, classes, name and labels: epochs are
            added to it). A non-empty folder that is not a run is always refused.
        layers: the layer names, in the order the viewer shows them; each becomes a file name
            (`<layer>.npy`), so letters, digits, `_ - . +` only (dotted PyTorch module paths fit).
        labels: [N] integer class id of every sample; N is fixed for the whole run.
        classes: the class names, index = class id; None: the ids as strings (0..max(labels)).
        inputs: optional thumbnails shown on hover, uint8 [N, H, W] or [N, H, W, C] with C in {1, 3}.
        name: the run's display name; None: the folder's name.
        twins: optional adversarial twins, [N] integers: -1 for a clean sample, else the row of the
            clean sample this row is a perturbed copy of (a clean row with the same label).
        attack: optional, how the twins were made, e.g. {"attack": "fgsm", "eps": 8/255, "steps": 1}
            (written into the manifest as "adversarial"; informational).

    Every argument is checked before anything is written: a wrong type raises `TypeError`, a wrong
    shape, dtype or value raises `ValueError`; messages name the argument and what was expected.
    Every file is written to a temporary name and renamed into place; each epoch is built in a
    hidden folder `epochs/.tmp-<epoch>-<pid>` and renamed to `epochs/<epoch>`, so a viewer
    following the run never sees half an epoch. `RUN/.neuromapper/` (the viewer's cache) is never touched.
    """

    def __init__(
        self,
        run: PathLike,
        layers: Sequence[str],
        labels: Any,
        classes: Optional[Sequence[str]] = None,
        inputs: Any = None,
        name: Optional[str] = None,
        *,
        twins: Any = None,
        attack: Optional[Mapping[str, Any]] = None,
        overwrite: bool = False,
        resume: bool = False,
    ) -> None:
        if not isinstance(run, (str, os.PathLike)):
            raise TypeError(f"run must be a folder path (str or os.PathLike); got {V.type_name(run)}")
        if overwrite and resume:
            raise ValueError("overwrite=True and resume=True contradict each other; pass one of them")
        self._path = os.path.abspath(os.fspath(run))
        self._layers: List[str] = V.check_layers(layers)
        self._classes = V.check_classes(classes)
        self._labels = V.check_labels(labels, len(self._classes) if self._classes is not None else None)
        self._n = int(self._labels.shape[0])
        # The reader's class count: the listed classes, else the ids 0..max(labels).
        self._n_classes = len(self._classes) if self._classes is not None else int(self._labels.max()) + 1
        self._inputs = V.check_inputs(inputs, self._n)
        self._name = V.check_run_name(name)
        self._twins = V.check_twins(twins, self._labels)
        attack_info = V.check_attack(attack)
        self._manifest: Dict[str, Any] = {"format": F.FORMAT}
        if self._name is not None:
            self._manifest["name"] = self._name
        if self._classes is not None:
            self._manifest["classes"] = self._classes
        self._manifest["layers"] = self._layers
        if attack_info is not None:
            self._manifest["adversarial"] = attack_info

        self._dims: Dict[str, int] = {}
        self._metrics: Dict[int, Dict[str, Any]] = {}
        self._finished = False
        resuming = self._prepare_folder(overwrite=overwrite, resume=resume)
        if resuming:
            self._learn_existing()
        self._write_header(skip_unchanged=resuming)

    # ---- properties -------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The run folder (absolute)."""
        return self._path

    @property
    def layers(self) -> List[str]:
        """The layer names, in view order."""
        return list(self._layers)

    @property
    def classes(self) -> Optional[List[str]]:
        """The class names, or None when not given."""
        return None if self._classes is None else list(self._classes)

    @property
    def n_samples(self) -> int:
        """N, the number of samples (rows of every array)."""
        return self._n

    @property
    def labels(self) -> np.ndarray:
        """[N] int64 class ids (a copy)."""
        return self._labels.copy()

    @property
    def finished(self) -> bool:
        """Whether `finish()` was called."""
        return self._finished

    @property
    def epochs(self) -> List[int]:
        """The epochs present in the run folder, sorted."""
        return sorted({e for e in (_epoch_number(n) for n in self._epoch_entries()) if e is not None})

    def __repr__(self) -> str:
        return f"RunWriter({self._path!r}, layers={self._layers!r}, samples={self._n}, epochs={self.epochs!r})"

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Marks the run finished when the block ends without an exception."""
        if exc_type is None and not self._finished:
            self.finish()

    # ---- writing ----------------------------------------------------------------------------

    def write_epoch(
        self,
        epoch: int,
        activations: Mapping[str, Any],
        predictions: Any = None,
        metrics: Optional[Mapping[str, Any]] = None,
        values: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Writes (or replaces) one epoch, atomically.

        Args:
            epoch: the epoch number, a non-negative int (0 is usually the untrained model).
            activations: {layer: array [N, ...]} for every layer of the run; each array is flattened
                to [N, D] float32 (D must match that layer's first epoch). numpy arrays, CPU or GPU
                torch tensors, and nested lists are accepted; values must be finite.
            predictions: optional [N] int class ids or [N, C] float logits/probabilities.
            metrics: optional {name: number} for this epoch, e.g. `train_accuracy`, `test_accuracy`,
                `loss` (or `train_loss`); other names are kept too. Replaces the epoch's earlier
                metrics; metrics.json holds one object per epoch, sorted by epoch.
            values: optional {name: [N] numbers}, per-sample values of this epoch (a sample's loss,
                an uncertainty score, ...), written as `<name>.values.npy`; the viewer colours by
                them. Names follow the layer-name rules and may not be a layer's; values must be finite.

        Everything is checked before anything is written. An existing epoch of the same number is
        replaced. Raises RuntimeError after `finish()`.
        """
        if self._finished:
            raise RuntimeError(
                f"the run {self._path} was marked finished by finish(); "
                "to add epochs, open it again with RunWriter(..., resume=True)"
            )
        e = V.check_epoch(epoch)
        arrays = self._check_activations(activations)
        preds = V.check_predictions(predictions, self._n, self._n_classes)
        m = V.check_metrics(metrics)
        vals = V.check_values(values, self._n, self.layers)

        self._write_epoch_folder(e, arrays, preds, vals)
        for layer, a in arrays.items():
            self._dims.setdefault(layer, a.shape[1])
        if m:
            self._metrics[e] = {"epoch": e, **m}
        else:
            self._metrics.pop(e, None)
        if m or os.path.exists(self._file(F.METRICS_FILE)):
            self._write_metrics()

    def write_samples(self, columns: Mapping[str, Any]) -> str:
        """Writes (replaces) `RUN/samples.csv`, the static per-sample table, atomically.

        Args:
            columns: {name: [N] values}, one cell per sample. A column whose cells are all numbers
                (NaN or None for unknown) is a value the viewer colours by; any other column is
                text, shown when hovering a sample (file names, captions, ...).

        Returns the file's path.
        """
        cols = V.check_samples(columns, self._n)

        def cell(v: Any) -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            return str(v)

        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(list(cols))
        for row in zip(*cols.values()):
            w.writerow([cell(v) for v in row])
        data = text.getvalue().encode("utf-8")
        path = self._file(F.SAMPLES_FILE)
        write_atomic(path, lambda f: f.write(data))
        return path

    def finish(self) -> str:
        """Marks the run finished: writes `RUN/finished.json` (`{"format", "epochs"}`), atomically.

        A viewer following the run then refines all epochs together and caches the result. Calling
        it again is harmless; `write_epoch` afterwards raises RuntimeError. Returns the marker's path.
        """
        path = self._file(F.FINISHED_FILE)
        write_json_atomic(path, {"format": F.FORMAT, "epochs": self.epochs})
        self._finished = True
        return path

    # ---- internals --------------------------------------------------------------------------

    def _file(self, name: str) -> str:
        return os.path.join(self._path, name)

    def _epochs_dir(self) -> str:
        return os.path.join(self._path, F.EPOCHS_DIR)

    def _epoch_entries(self) -> List[str]:
        """Names in `epochs/` that are epochs (not hidden, numeric, folder or .safetensors)."""
        try:
            names = os.listdir(self._epochs_dir())
        except FileNotFoundError:
            return []
        return [n for n in names if not n.startswith(".") and _epoch_number(n) is not None]

    def _check_activations(self, activations: Any) -> Dict[str, np.ndarray]:
        if not isinstance(activations, Mapping):
            raise TypeError(f"activations must be a mapping {{layer: array}}; got {V.type_name(activations)}")
        unknown = [k for k in activations if k not in self._layers]
        if unknown:
            raise ValueError(
                f"activations has unknown layer(s) {', '.join(map(repr, unknown))}; "
                f"this run's layers are {self._layers}"
            )
        missing = [k for k in self._layers if k not in activations]
        if missing:
            raise ValueError(
                f"activations is missing layer(s) {', '.join(map(repr, missing))}; every epoch needs all of {self._layers}"
            )
        return {
            layer: V.check_activation(layer, activations[layer], self._n, self._dims.get(layer))
            for layer in self._layers
        }

    def _prepare_folder(self, *, overwrite: bool, resume: bool) -> bool:
        """Makes the run folder ready; returns True when resuming an existing run with epochs."""
        p = self._path
        if os.path.lexists(p) and not os.path.isdir(p):
            raise FileExistsError(f"run {p} exists and is not a folder")
        if not os.path.isdir(p):
            os.makedirs(p)
            return False
        manifest_path = self._file(F.MANIFEST_FILE)
        if not os.path.exists(manifest_path):
            if os.listdir(p):
                raise FileExistsError(
                    f"run {p} is a non-empty folder with no {F.MANIFEST_FILE} (not a neuromapper run); "
                    "choose a new or empty folder"
                )
            return False
        existing = self.epochs
        if overwrite or not existing:
            self._clear_run(keep_inputs=self._inputs is not None)
            return False
        shown = f"{existing[0]}..{existing[-1]}" if len(existing) > 1 else str(existing[0])
        if not resume:
            raise FileExistsError(
                f"run {p} already holds a run with epochs {shown}; pass overwrite=True to replace its epochs "
                "and metrics, or resume=True to add epochs to it (same layers, classes, name and labels)"
            )
        difference = self._difference_from_existing()
        if difference:
            raise FileExistsError(
                f"cannot resume run {p} (epochs {shown}): {difference}; pass overwrite=True to replace it"
            )
        return True

    def _clear_run(self, *, keep_inputs: bool) -> None:
        """Removes an old run's epochs, metrics and finished marker (and a stale inputs.npy), nothing else."""
        shutil.rmtree(self._epochs_dir(), ignore_errors=True)
        names = [F.METRICS_FILE, F.FINISHED_FILE] + ([] if keep_inputs else [F.INPUTS_FILE])
        names += [] if self._twins is not None else [F.TWINS_FILE]
        for name in names:
            try:
                os.remove(self._file(name))
            except FileNotFoundError:
                pass

    def _difference_from_existing(self) -> Optional[str]:
        """What differs between this writer and the run on disk (None: the same run)."""
        try:
            with open(self._file(F.MANIFEST_FILE), encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            return f"its {F.MANIFEST_FILE} cannot be read ({e})"
        for key in ("format", "name", "classes", "layers", "adversarial"):
            if old.get(key) != self._manifest.get(key):
                return f"{key} differs ({old.get(key)!r} on disk, {self._manifest.get(key)!r} given)"
        try:
            old_labels = np.load(self._file(F.LABELS_FILE), allow_pickle=False)
        except (OSError, ValueError) as e:
            return f"its {F.LABELS_FILE} cannot be read ({e})"
        if old_labels.shape != self._labels.shape or not np.array_equal(old_labels, self._labels):
            return f"labels differ ({old_labels.shape} on disk, {self._labels.shape} given)"
        twins_path = self._file(F.TWINS_FILE)
        old_twins = np.load(twins_path, allow_pickle=False) if os.path.isfile(twins_path) else None
        if (old_twins is None) != (self._twins is None) or (
            old_twins is not None and not np.array_equal(old_twins, self._twins)
        ):
            return "twins differ"
        return None

    def _learn_existing(self) -> None:
        """On resume: each layer's D from the existing epochs' headers, metrics from metrics.json."""
        for epoch in self.epochs:
            folder = os.path.join(self._epochs_dir(), str(epoch))
            for layer in self._layers:
                f = os.path.join(folder, f"{layer}.npy")
                if layer not in self._dims and os.path.isfile(f):
                    a = np.load(f, mmap_mode="r", allow_pickle=False)
                    self._dims[layer] = int(np.prod(a.shape[1:], dtype=np.int64))
        try:
            with open(self._file(F.METRICS_FILE), encoding="utf-8") as f:
                for entry in json.load(f):
                    if isinstance(entry, dict) and isinstance(entry.get("epoch"), int):
                        self._metrics[entry["epoch"]] = entry
        except (OSError, ValueError):
            pass
        try:
            os.remove(self._file(F.FINISHED_FILE))  # resumed: no longer finished
        except FileNotFoundError:
            pass

    def _write_header(self, *, skip_unchanged: bool) -> None:
        """labels.npy, twins.npy, inputs.npy, then neuromapper.json (last: the manifest is what makes a folder a run).
        When resuming, unchanged files are left alone (their mtimes key the viewer's cache)."""
        os.makedirs(self._epochs_dir(), exist_ok=True)
        if not skip_unchanged:
            save_npy_atomic(self._file(F.LABELS_FILE), self._labels)
            if self._twins is not None:
                save_npy_atomic(self._file(F.TWINS_FILE), self._twins)
        if self._inputs is not None:
            old = None
            if skip_unchanged and os.path.exists(self._file(F.INPUTS_FILE)):
                try:
                    old = np.load(self._file(F.INPUTS_FILE), mmap_mode="r", allow_pickle=False)
                except (OSError, ValueError):
                    old = None
            if old is None or old.shape != self._inputs.shape or not np.array_equal(old, self._inputs):
                save_npy_atomic(self._file(F.INPUTS_FILE), self._inputs)
        if not skip_unchanged:
            write_json_atomic(self._file(F.MANIFEST_FILE), self._manifest)

    def _write_epoch_folder(
        self, epoch: int, arrays: Dict[str, np.ndarray], preds: Optional[np.ndarray], values: Dict[str, np.ndarray]
    ) -> None:
        """Builds `epochs/.tmp-<epoch>-<pid>`, then renames it to `epochs/<epoch>` (replacing an older one)."""
        root = self._epochs_dir()
        os.makedirs(root, exist_ok=True)
        pid = os.getpid()
        tmp = os.path.join(root, f".tmp-{epoch}-{pid}")
        shutil.rmtree(tmp, ignore_errors=True)
        moved: List[tuple] = []  # (name, hidden name) of the epoch's older entries, put aside
        try:
            os.mkdir(tmp)
            for layer, a in arrays.items():
                np.save(os.path.join(tmp, f"{layer}.npy"), a, allow_pickle=False)
            if preds is not None:
                np.save(os.path.join(tmp, F.PREDICTIONS_FILE), preds, allow_pickle=False)
            for name, v in values.items():
                np.save(os.path.join(tmp, f"{name}{F.VALUES_SUFFIX}.npy"), v, allow_pickle=False)
            # The same epoch under any spelling ("5", "005", "5.safetensors") is replaced; a folder
            # cannot be renamed over a non-empty one, so older entries are first moved aside.
            for i, name in enumerate(n for n in self._epoch_entries() if _epoch_number(n) == epoch):
                aside = os.path.join(root, f".old-{epoch}-{pid}-{i}")
                os.rename(os.path.join(root, name), aside)
                moved.append((name, aside))
            os.rename(tmp, os.path.join(root, str(epoch)))
        except BaseException:
            for name, aside in reversed(moved):
                try:
                    os.rename(aside, os.path.join(root, name))
                except OSError:
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for _, aside in moved:
            if os.path.isdir(aside):
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.remove(aside)

    def _write_metrics(self) -> None:
        write_json_atomic(self._file(F.METRICS_FILE), [self._metrics[e] for e in sorted(self._metrics)])
