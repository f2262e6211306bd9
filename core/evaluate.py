"""The evaluation pass: a model's logits over a set of sequences, scored by the data's task
(``core/tasks.py``) into :class:`core.metrics.Metrics`."""

from __future__ import annotations

import torch
from torch import nn

from core.data.yt8m_stream import StreamSet
from core.metrics import Metrics
from core.precision import autocast
from core.sequences import SequenceSet
from core.tasks import MultiLabel, task_for


@torch.no_grad()
def predict_logits(model: nn.Module, data: SequenceSet, *, device: torch.device,
                   batch_size: int = 256, use_mask: bool = False,
                   precision: str = "fp32") -> torch.Tensor:
    """Logits (N, C) of ``model`` on every sequence of ``data``, in order, on the CPU, under the
    autocast of ``precision`` (a resolved one: the precision the model trains in)."""
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(data), batch_size):
        x = data.features[start:start + batch_size].to(device).float()
        mask = data.mask[start:start + batch_size].to(device) if use_mask else None
        with autocast(device, precision):
            outputs.append(model(x, mask).logits.float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0, 0)


def evaluate(model: nn.Module, data: SequenceSet | StreamSet, num_classes: int, *,
             device: torch.device, batch_size: int = 256, use_mask: bool = False,
             precision: str = "fp32") -> Metrics:
    """Run ``model`` over ``data`` and return its :class:`Metrics`; a streamed set in its
    batches, its metrics accumulated batch after batch (:meth:`MultiLabel.accumulator`)."""
    if isinstance(data, StreamSet):
        return _evaluate_stream(model, data, num_classes, device=device, use_mask=use_mask,
                                precision=precision)
    logits = predict_logits(model, data, device=device, batch_size=batch_size, use_mask=use_mask,
                            precision=precision)
    if len(data) == 0:
        logits = torch.zeros(0, num_classes)
    return task_for(data.labels).metrics(logits, data.labels, num_classes)


@torch.no_grad()
def _evaluate_stream(model: nn.Module, data: StreamSet, num_classes: int, *,
                     device: torch.device, use_mask: bool, precision: str) -> Metrics:
    was_training = model.training
    model.eval()
    metrics = MultiLabel.accumulator(num_classes)
    for batch in data.batches(0):
        mask = batch.mask.to(device) if use_mask else None
        with autocast(device, precision):
            logits = model(batch.features.to(device).float(), mask).logits
        metrics.add(logits.float(), batch.labels)
    model.train(was_training)
    return metrics.metrics()
