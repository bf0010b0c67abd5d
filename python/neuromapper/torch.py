"""neuromapper.torch.Recorder: captures a PyTorch model's layers on a fixed probe set after each epoch, into a run."""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _validate as V
from ._writer import RunWriter

PathLike = Union[str, "os.PathLike[str]"]

#: Probe inputs whose images are at most this many pixels on a side get thumbnails by default.
THUMBNAIL_MAX_SIDE = 64
#: Gradient steps of `attack="pgd"` (each of 2.5 * eps / PGD_STEPS, projected into the eps-ball).
PGD_STEPS = 10
#: The default L-infinity budget of the adversarial twins, in the units of the probe inputs.
DEFAULT_EPS = 8 / 255


def probe_indices(labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first `per_class` samples of each class of `labels` [N], in probe order: [<= per_class * classes] int64."""
    taken: Dict[int, int] = {}
    out = []
    for i, label in enumerate(labels.tolist()):
        if taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            out.append(i)
    return np.asarray(out, dtype=np.int64)


def success_rate(labels: np.ndarray, clean: np.ndarray, twins: np.ndarray) -> Optional[float]:
    """The attack success rate: among twins whose clean sample is predicted correctly, the share
    predicted wrongly. `labels`, `clean`, `twins`: [K] class ids. None when no clean one is correct."""
    attacked = clean == labels
    if not attacked.any():
        return None
    return float((twins[attacked] != labels[attacked]).mean())


def _to_tensor(x: Any, arg: str) -> torch.Tensor:
    """A probe batch's inputs as a CPU tensor; numpy float64 becomes float32 (what models expect)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray):
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{arg} must be a torch tensor or numpy array; got {V.type_name(x)}")


def _probe_tensors(probe: Any) -> Tuple[torch.Tensor, np.ndarray]:
    """The probe set as (x [N, ...] CPU tensor, y [N] labels). `probe` is (x, y), or an iterable of
    (x, y, ...) batches such as a DataLoader, read once (so its order is fixed for the whole run)."""
    if isinstance(probe, (tuple, list)) and len(probe) == 2 and hasattr(probe[0], "shape"):
        x, y = _to_tensor(probe[0], "probe[0] (x)"), probe[1]
        y_arr = V.as_array(y, "probe[1] (y)")
        if x.ndim == 0 or y_arr.ndim != 1 or x.shape[0] != y_arr.shape[0]:
            raise ValueError(
                f"probe must be (x [N, ...], y [N]) with the same N; got x {tuple(x.shape)} and y {y_arr.shape}"
            )
        return x, y_arr
    if isinstance(probe, (str, bytes, Mapping)) or not isinstance(probe, Iterable):
        raise TypeError(f"probe must be (x, y) or an iterable of (x, y) batches such as a DataLoader; got {V.type_name(probe)}")
    xs: List[torch.Tensor] = []
    ys: List[np.ndarray] = []
    for i, batch in enumerate(probe):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TypeError(f"probe batch {i} must be a tuple (x, y, ...); got {V.type_name(batch)}")
        xb = _to_tensor(batch[0], f"probe batch {i} x")
        yb = V.as_array(batch[1], f"probe batch {i} y").reshape(-1)
        if xb.ndim == 0 or xb.shape[0] != yb.shape[0]:
            raise ValueError(f"probe batch {i} has {xb.shape[0] if xb.ndim else 0} inputs but {yb.shape[0]} labels")
        xs.append(xb)
        ys.append(yb)
    if not xs:
        raise ValueError("probe is empty; it must yield at least one (x, y) batch")
    return torch.cat(xs), np.concatenate(ys)


def thumbnails(x: torch.Tensor) -> Optional[np.ndarray]:
    """uint8 [N, H, W, C] thumbnails of image-like inputs [N, C, H, W] (C in {1, 3}, H and W at most
    THUMBNAIL_MAX_SIDE), each image min–max scaled to 0..255 on its own; None for other inputs."""
    if x.ndim != 4 or x.shape[1] not in (1, 3) or max(x.shape[2], x.shape[3]) > THUMBNAIL_MAX_SIDE:
        return None
    if x.dtype == torch.uint8:
        return x.permute(0, 2, 3, 1).contiguous().numpy()
    if not (x.is_floating_point() or x.dtype in (torch.int16, torch.int32, torch.int64)):
        return None
    a = x.detach().float().cpu()
    lo = a.amin(dim=(1, 2, 3), keepdim=True)
    hi = a.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (a - lo) / (hi - lo).clamp_min(1e-12) * 255.0
    scaled = torch.nan_to_num(scaled, nan=0.0).clamp(0, 255).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _first_tensor(value: Any) -> Optional[torch.Tensor]:
    """The tensor in a module's output: itself, or the first tensor of a tuple/list."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    return None


class Recorder:
    """Records a PyTorch model into a neuromapper run: after each epoch, `capture(epoch)` runs a fixed
    probe set through the model and writes every chosen layer's output, the model's predictions and
    the epoch's metrics.

    ::

        rec = Recorder("runs/exp1", model, layers=["layer1", "layer2"], probe=(x_probe, y_probe),
                       classes=["cat", "dog"])
        rec.capture(0)                                   # the untrained model
        for epoch in range(1, epochs + 1):
            for x, y in train_loader:
                loss, out = train_step(x, y)
                rec.log(loss=loss, accuracy=(out.argmax(1) == y).float().mean(), n=len(y))
            rec.capture(epoch)                           # writes epoch means of what was logged
        rec.finish()

    Args:
        run: the run folder (see RunWriter for overwrite/resume).
        model: the torch.nn.Module.
        layers: names from `model.named_modules()` ("layer1", "layer2.0.conv1"); each layer's output
            (the first tensor of a tuple output) is flattened to [N, D] float32.
        probe: the fixed samples, (x [N, ...], y [N]) as tensors or arrays, or an iterable of
            (x, y, ...) batches such as a DataLoader, read once here and kept on the CPU.
        classes: class names (index = class id); None: the ids as strings.
        inputs: thumbnails for the viewer. None: derived from x when it looks like images
            ([N, C, H, W], C in {1, 3}, H, W <= 64: each image min–max scaled to uint8 [N, H, W, C]);
            False: none; an array: uint8 [N, H, W] or [N, H, W, C] as given.
        batch_size: probe samples per forward pass.
        name: the run's display name (default: the folder's name).
        device: where the probe runs; default the device of the model's first parameter or buffer.
        predictions: write the model's output as predictions when it is [N, C] logits or [N] ids.
        held_out: say True when the probe set is never trained on; its accuracy is then also written
            as `test_accuracy` (which the viewer plots). Otherwise it is only `probe_accuracy`.
        adversarial: K, to add adversarial twins: at every `capture`, the first K probe samples of
            each class are perturbed against the current model (in eval mode; the gradient of the
            cross-entropy of its [N, C] output with respect to the input) and captured as rows of
            their own after the probe set, linked to their clean samples (`twins.npy`), with their
            predictions; metrics gain `adv_success` (among twins whose clean sample is predicted
            correctly, the share predicted wrongly). None: no twins.
        attack: "fgsm" (one step of eps along the gradient's sign) or "pgd" (PGD_STEPS steps of
            2.5 * eps / PGD_STEPS, each projected into the eps-ball around the clean input).
        eps: the L-infinity budget in the units of the probe inputs (8/255 for images scaled to 0..1;
            for standardised inputs, divide by the standard deviation).
        clip: (low, high) the perturbed inputs are clipped to; None: the probe set's own min and max.
        overwrite, resume: see RunWriter.

    Hooks are registered only while `capture` runs and removed after it; the model's train/eval
    mode (of every submodule) is restored, and gradients are not touched (`torch.no_grad()`).
    """

    def __init__(
        self,
        run: PathLike,
        model: torch.nn.Module,
        layers: Sequence[str],
        probe: Any,
        classes: Optional[Sequence[str]] = None,
        inputs: Any = None,
        batch_size: int = 256,
        name: Optional[str] = None,
        *,
        device: Union[str, torch.device, None] = None,
        predictions: bool = True,
        held_out: bool = False,
        adversarial: Optional[int] = None,
        attack: str = "fgsm",
        eps: float = DEFAULT_EPS,
        clip: Optional[Tuple[float, float]] = None,
        overwrite: bool = False,
        resume: bool = False,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {V.type_name(model)}")
        names = V.check_layers(layers)
        modules = dict(model.named_modules())
        unknown = [n for n in names if n not in modules]
        if unknown:
            valid = [n for n in modules if n][:12]
            raise ValueError(
                f"layers: {', '.join(map(repr, unknown))} not found in the model; valid names include "
                f"{', '.join(valid)}{', ...' if len(modules) > 13 else ''} (see model.named_modules())"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int; got {V.type_name(batch_size)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        self._x, y = _probe_tensors(probe)
        if inputs is None:
            thumbs = thumbnails(self._x)
        elif inputs is False:
            thumbs = None
        else:
            thumbs = inputs
        self.adversarial = _check_adversarial(adversarial, attack, eps, clip)
        self.attack, self.eps = attack, float(eps)
        twins = None
        attack_info = None
        self._twin_rows = np.zeros(0, dtype=np.int64)
        if self.adversarial is not None:
            self._twin_rows = probe_indices(V.as_array(y, "probe labels").reshape(-1), self.adversarial)
            n = int(self._x.shape[0])
            twins = np.concatenate([np.full(n, -1, dtype=np.int64), self._twin_rows])
            y = np.concatenate([np.asarray(y), np.asarray(y)[self._twin_rows]])
            if thumbs is not None:
                thumbs = V.check_inputs(thumbs, n)
                thumbs = np.concatenate([thumbs, thumbs[self._twin_rows]])
            self._clip = clip if clip is not None else (float(self._x.min()), float(self._x.max()))
            steps = 1 if attack == "fgsm" else PGD_STEPS
            attack_info = {"attack": attack, "eps": float(eps), "steps": steps}
        self.model = model
        self.layers: List[str] = names
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else None
        self.predictions = predictions
        self.held_out = held_out
        self._modules = {n: modules[n] for n in names}
        self.writer = RunWriter(
            run,
            layers=names,
            labels=y,
            classes=classes,
            inputs=thumbs,
            name=name,
            twins=twins,
            attack=attack_info,
            overwrite=overwrite,
            resume=resume,
        )
        self._labels = self.writer.labels
        self._sums: Dict[str, float] = {}
        self._weights: Dict[str, float] = {}

    @property
    def path(self) -> str:
        """The run folder."""
        return self.writer.path

    # ---- metrics: epoch means -----------------------------------------------------------------

    def log(self, n: float = 1, **values: Any) -> None:
        """Adds one batch's metrics to the epoch's means, weighted by `n` (the batch size).

        Values are numbers, numpy scalars or one-element tensors (e.g. `loss=loss`). `capture` writes
        each name's weighted mean over the epoch, sum(value * n) / sum(n), then starts over.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Real) or not n > 0:
            raise ValueError(f"n must be a positive number (the batch size); got {n!r}")
        checked = {k: V.check_metric(k, v, "log") for k, v in values.items()}
        for k, v in checked.items():
            self._sums[k] = self._sums.get(k, 0.0) + v * n
            self._weights[k] = self._weights.get(k, 0.0) + n

    track = log

    def means(self) -> Dict[str, float]:
        """The weighted means of what was logged since the last capture."""
        return {k: self._sums[k] / self._weights[k] for k in self._sums}

    # ---- capture ------------------------------------------------------------------------------

    def capture(self, epoch: int, metrics: Optional[Mapping[str, Any]] = None) -> Dict[str, float]:
        """Runs the probe set through the model and writes epoch `epoch` of the run, atomically.

        Writes every layer's output ([N, D] float32), the model's output as predictions ([N, C]
        logits), and metrics: the means of `log`, `probe_accuracy` (accuracy of the predictions on the
        probe set; also as `test_accuracy` when the Recorder was told `held_out=True`) and `metrics`
        (values you computed; they win on equal names). Returns the metrics written.
        """
        e = V.check_epoch(epoch)
        extra = V.check_metrics(metrics)
        acts, out = self._forward(self._x)
        preds = out if self.predictions else None
        m = self.means()
        n = int(self._x.shape[0])
        clean_labels = self._labels[:n]
        if preds is not None and preds.ndim == 2:
            m["probe_accuracy"] = float((preds.argmax(1) == clean_labels).mean())
        elif preds is not None:
            m["probe_accuracy"] = float((preds == clean_labels).mean())
        if self.adversarial is not None:
            x_adv = self._craft()
            twin_acts, twin_out = self._forward(x_adv)
            acts = {k: np.concatenate([a, twin_acts[k]]) for k, a in acts.items()}
            if out is None or twin_out is None or out.ndim != 2:
                raise ValueError("adversarial twins need the model's output as [N, C] logits (to attack and to predict)")
            clean_ids = out.argmax(1)[self._twin_rows]
            twin_ids = twin_out.argmax(1)
            rate = success_rate(clean_labels[self._twin_rows], clean_ids, twin_ids)
            if rate is not None:
                m["adv_success"] = rate
            preds = np.concatenate([out, twin_out]) if self.predictions else None
        if self.held_out and "probe_accuracy" in m:
            m["test_accuracy"] = m["probe_accuracy"]
        m.update(extra)
        if "loss" in extra and "train_loss" in m and "train_loss" not in extra:
            del m["train_loss"]  # the value given now wins over the logged mean of its other name
        elif "train_loss" in extra and "loss" in m and "loss" not in extra:
            del m["loss"]
        self.writer.write_epoch(e, acts, predictions=preds, metrics=m)
        self._sums.clear()
        self._weights.clear()
        return m

    def finish(self) -> str:
        """Marks the run finished (`RUN/finished.json`): a viewer following it refines all epochs."""
        return self.writer.finish()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and not self.writer.finished:
            self.finish()

    def _model_device(self) -> torch.device:
        if self.device is not None:
            return self.device
        for t in self.model.parameters():
            return t.device
        for t in self.model.buffers():
            return t.device
        return torch.device("cpu")

    def _craft(self) -> torch.Tensor:
        """The twins' inputs [K, ...]: FGSM or PGD perturbations of the probe rows `_twin_rows`
        against the model in eval mode (modes restored; parameters' .grad untouched)."""
        model = self.model
        modes = [(m, m.training) for m in model.modules()]
        device = self._model_device()
        lo, hi = self._clip
        steps = 1 if self.attack == "fgsm" else PGD_STEPS
        step = self.eps if self.attack == "fgsm" else 2.5 * self.eps / PGD_STEPS
        labels = torch.from_numpy(self._labels[: self._x.shape[0]][self._twin_rows])
        out: List[torch.Tensor] = []
        try:
            model.eval()
            for start in range(0, len(self._twin_rows), self.batch_size):
                rows = torch.from_numpy(self._twin_rows[start : start + self.batch_size])
                x0 = self._x[rows].to(device).float()
                yb = labels[start : start + self.batch_size].to(device)
                x = x0.clone()
                for _ in range(steps):
                    x.requires_grad_(True)
                    with torch.enable_grad():
                        logits = _first_tensor(model(x))
                        if logits is None or logits.ndim != 2:
                            raise ValueError("adversarial twins need the model's output as [N, C] logits")
                        loss = torch.nn.functional.cross_entropy(logits, yb)
                        (grad,) = torch.autograd.grad(loss, x)
                    x = x.detach() + step * grad.sign()
                    x = torch.minimum(torch.maximum(x, x0 - self.eps), x0 + self.eps).clamp(lo, hi)
                out.append(x.detach().cpu().to(self._x.dtype))
        finally:
            for m, training in modes:
                m.training = training
        return torch.cat(out)

    def _forward(self, x: torch.Tensor) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
        """({layer: [N, D] float32}, predictions [N, C] float32 / [N] int64 or None) of inputs `x`
        [N, ...], in eval mode."""
        model = self.model
        modes = [(m, m.training) for m in model.modules()]
        device = self._model_device()
        current: Dict[str, Any] = {}
        chunks: Dict[str, List[torch.Tensor]] = {n: [] for n in self.layers}
        outs: List[torch.Tensor] = []
        handles = []

        def hook_for(name: str) -> Any:
            def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
                current[name] = output

            return hook

        try:
            for name, module in self._modules.items():
                handles.append(module.register_forward_hook(hook_for(name)))
            model.eval()
            with torch.no_grad():
                n = x.shape[0]
                for start in range(0, n, self.batch_size):
                    xb = x[start : start + self.batch_size].to(device)
                    b = xb.shape[0]
                    current.clear()
                    out = model(xb)
                    for name in self.layers:
                        if name not in current:
                            raise ValueError(f"layer {name!r} was not called in the model's forward pass; choose another layer")
                        t = _first_tensor(current[name])
                        if t is None:
                            raise ValueError(
                                f"layer {name!r} returned {V.type_name(current[name])}; expected a tensor or a tuple holding one"
                            )
                        if t.ndim == 0 or t.shape[0] != b:
                            raise ValueError(
                                f"layer {name!r} returned shape {tuple(t.shape)} for a batch of {b}; "
                                "expected the batch first ([batch, ...])"
                            )
                        chunks[name].append(t.detach().reshape(b, -1).float().cpu())
                    o = _first_tensor(out)
                    outs.append(o.detach().cpu() if o is not None and o.ndim >= 1 and o.shape[0] == b else None)
        finally:
            for h in handles:
                h.remove()
            for m, training in modes:
                m.training = training
        acts = {name: torch.cat(c).numpy() for name, c in chunks.items()}
        return acts, self._predictions(outs)

    @staticmethod
    def _predictions(outs: List[Optional[torch.Tensor]]) -> Optional[np.ndarray]:
        """The model's outputs as predictions: [N, C] float logits, or [N] integer ids; else None."""
        if not outs or any(o is None for o in outs):
            return None
        o = torch.cat(outs)  # type: ignore[arg-type]
        if o.ndim == 2 and o.is_floating_point():
            return o.float().numpy()
        if o.ndim == 1 and not o.is_floating_point() and o.dtype != torch.bool:
            return o.long().numpy()
        return None


def _check_adversarial(adversarial: Any, attack: Any, eps: Any, clip: Any) -> Optional[int]:
    """The Recorder's adversarial options, checked: K (twins per class) or None."""
    if adversarial is None:
        return None
    if isinstance(adversarial, bool) or not isinstance(adversarial, numbers.Integral):
        raise TypeError(f"adversarial must be an int (twins per class) or None; got {V.type_name(adversarial)}")
    if adversarial < 1:
        raise ValueError(f"adversarial must be at least 1 (twins per class); got {adversarial}")
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd'; got {attack!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (0 < float(eps) < float("inf")):
        raise ValueError(f"eps must be a positive number (8/255 for images in 0..1); got {eps!r}")
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2 or not float(clip[0]) < float(clip[1]):
            raise ValueError(f"clip must be (low, high) with low < high, or None; got {clip!r}")
    return int(adversarial)
