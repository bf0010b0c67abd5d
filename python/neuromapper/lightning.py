"""neuromapper.lightning.NeuroMapperCallback: records a LightningModule into a run at the end of every training epoch."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import lightning.pytorch as pl

from . import _validate as V
from .torch import Recorder

PathLike = Union[str, "os.PathLike[str]"]


class NeuroMapperCallback(pl.Callback):
    """A Lightning callback that writes a neuromapper run while `Trainer.fit` trains.

    ::

        cb = NeuroMapperCallback("runs/exp1", layers=["encoder.layer1", "encoder.layer2"],
                                 probe=(x_probe, y_probe), classes=classes)
        trainer = lightning.Trainer(max_epochs=10, callbacks=[cb])
        trainer.fit(model, train_loader, val_loader)

    What it writes: epoch 0, the untrained model, when training starts (unless
    `capture_untrained=False` or training resumes from a checkpoint); then epoch e after the e-th
    training epoch, once that epoch's validation has run; and the finished marker when `fit` ends
    normally. Each capture is a `neuromapper.torch.Recorder.capture` (eval mode, no gradients, the
    model's modes restored), on global rank 0 only.

    Metrics: the trainer's `callback_metrics` at the end of the epoch. Values logged with
    `self.log(..., on_epoch=True)` are epoch means there; `*_step` values (last batch) are left out and
    a `*_epoch` suffix is dropped (and `loss` when `train_loss` is there too: the run format
    treats them as one). `metrics` chooses and renames: a list of names to keep, or a mapping
    {logged name: name in the run}, e.g. {"train_loss": "loss", "val_acc": "test_accuracy"} (the names
    the viewer plots are train_accuracy, test_accuracy and loss or train_loss). `probe_accuracy` (the
    predictions' accuracy on the probe set) is always added.

    Args:
        run, layers, probe, classes, inputs, batch_size, name, held_out, overwrite, resume: as for
            `neuromapper.torch.Recorder` (layers are names in the LightningModule's `named_modules()`).
        metrics: None (all epoch-level metrics), a list of names, or a {logged: run name} mapping.
        capture_untrained: write epoch 0 before the first training step.
        every_n_epochs: capture every n-th epoch only (the last epoch is always captured).
        finish: write the finished marker when training ends.
    """

    def __init__(
        self,
        run: PathLike,
        layers: Sequence[str],
        probe: Any,
        classes: Optional[Sequence[str]] = None,
        inputs: Any = None,
        batch_size: int = 256,
        name: Optional[str] = None,
        *,
        metrics: Union[None, Sequence[str], Mapping[str, str]] = None,
        held_out: bool = False,
        capture_untrained: bool = True,
        every_n_epochs: int = 1,
        finish: bool = True,
        overwrite: bool = False,
        resume: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be an int >= 1; got {every_n_epochs!r}")
        if metrics is not None and not isinstance(metrics, Mapping):
            if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence):
                raise TypeError(f"metrics must be None, a list of names or a mapping; got {V.type_name(metrics)}")
            metrics = {k: k for k in metrics}
        self._metric_names: Optional[Dict[str, str]] = dict(metrics) if metrics is not None else None
        self._recorder_args = dict(
            run=run, layers=list(layers), probe=probe, classes=classes, inputs=inputs, batch_size=batch_size,
            name=name, held_out=held_out, overwrite=overwrite, resume=resume,
        )
        self.capture_untrained = capture_untrained
        self.every_n_epochs = every_n_epochs
        self.finish_run = finish
        self.recorder: Optional[Recorder] = None

    def _ensure_recorder(self, pl_module: pl.LightningModule) -> Recorder:
        if self.recorder is None or self.recorder.model is not pl_module:
            self.recorder = Recorder(model=pl_module, **self._recorder_args)
        return self.recorder

    def _epoch_metrics(self, trainer: pl.Trainer) -> Dict[str, float]:
        """The trainer's epoch-level metrics, chosen and renamed as configured; non-scalars and non-finite values are skipped."""
        logged = dict(trainer.callback_metrics)
        out: Dict[str, float] = {}
        if self._metric_names is not None:
            chosen = {run_name: logged[k] for k, run_name in self._metric_names.items() if k in logged}
        else:
            chosen = {}
            for k, v in logged.items():
                if k.endswith("_step"):
                    continue
                if k.endswith("_epoch"):
                    bare = k[: -len("_epoch")]
                    if bare in logged:
                        continue
                    k = bare
                chosen[k] = v
        for k, v in chosen.items():
            try:
                out[k] = V.check_metric(k, v)
            except (TypeError, ValueError):
                continue
        if "loss" in out and "train_loss" in out:  # one value in the run format; keep the explicit one
            del out["loss"]
        return out

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        rec = self._ensure_recorder(pl_module)
        if self.capture_untrained and trainer.current_epoch == 0:
            rec.capture(0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1  # current_epoch counts completed epochs; it grows after this hook
        last = trainer.max_epochs is not None and trainer.max_epochs > 0 and epoch >= trainer.max_epochs
        if epoch % self.every_n_epochs and not last:
            return
        self._ensure_recorder(pl_module).capture(epoch, metrics=self._epoch_metrics(trainer))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and self.finish_run and self.recorder is not None:
            self.recorder.finish()
