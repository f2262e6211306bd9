"""Training protocols (presets) and the training loop of a temporal head on cached features.

Presets:

- ``abdn``: the paper's protocol as the released code ran it: RMSprop (lr 1e-3, alpha 0.9,
  eps 1e-7, Keras 2.2.4's defaults), batch 128 (16 for ResNet50 and Xception), 60 epochs, the training
  order shuffled once and then kept, the test split evaluated every epoch, and the last epoch's
  accuracy reported. Unlike the original, a last partial batch is kept rather than dropped.
- ``modern``: AdamW with a cosine schedule, per-epoch shuffling, gradient clipping, a seeded 15 %
  validation hold-out from the training split, the best validation checkpoint kept, early stopping;
  the test split is evaluated once, on the selected checkpoint.

The loop saves a checkpoint every ``checkpoint_every`` epochs (and after the last) on a writer
thread of its own, can resume from one with its history intact, stops cleanly when
``should_stop()`` turns true, and reports through event callbacks. It reads its running loss and
accuracy from the device every ``log_every`` steps only, and keeps the gradient buffers on the CPU
between steps.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.atomic import atomic_write
from core.checkpoint import CheckpointWriter, load_checkpoint, load_model_state
from core.data.yt8m_stream import StreamSet
from core.distributed import Distributed
from core.errors import CheckpointError
from core.evaluate import evaluate
from core.events import (
    CheckpointSaved,
    EpochFinished,
    EventCallback,
    StepFinished,
    TrainingFinished,
    TrainingStarted,
    emit,
)
from core.memory import keep_freed_memory
from core.metrics import Metrics
from core.precision import autocast
from core.presets import Preset
from core.run_folder import RunFolder
from core.sequences import SequenceSet
from core.tasks import MultiLabel, task_for

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    """The resolved knobs of one training run (preset values with the config's overrides)."""

    preset: Preset
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: torch.device
    precision: str  # resolved: fp32, bf16 or fp16 autocast (see core.precision)
    use_mask: bool
    # A checkpoint.pt every this many epochs, and always after the last epoch, before a cancel
    # between epochs takes effect and with a best.pt (whenever the preset selects the best epoch
    # and it improved). A cancel within an epoch ends the run at its last checkpoint.
    checkpoint_every: int = 1
    # Steps between the loss and accuracy being read from the device (one host sync each).
    log_every: int = 10


@dataclass
class TrainOutcome:
    """What the loop did: per-epoch history, which checkpoint is selected, how it ended."""

    history: list[dict[str, float]]
    epochs_run: int
    selected_epoch: int
    selected_path: Path
    stopped_early: bool = False
    cancelled: bool = False


def holdout_split(labels: torch.Tensor, fraction: float, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded stratified split of indices into (train, validation); every class with at least two
    videos gives at least one to validation. Multi-label videos (``labels`` (N, C)) are stratified
    by their first class (videos without one form a stratum of their own)."""
    if labels.dim() == 2:
        labels = torch.where(labels.sum(dim=1) > 0, labels.argmax(dim=1), -1)
    generator = torch.Generator().manual_seed(seed)
    train_idx, val_idx = [], []
    for cls in labels.unique(sorted=True).tolist():
        idx = (labels == cls).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_val = min(len(idx) - 1, max(1, round(len(idx) * fraction))) if len(idx) > 1 else 0
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return torch.cat(train_idx).sort().values, torch.cat(val_idx).sort().values


def train_head(model: nn.Module, train_set: TrainingSet, val_set: TrainingSet, num_classes: int,
               settings: TrainSettings, *, run_dir: Path, checkpoint_extra: dict[str, Any],
               callbacks: Sequence[EventCallback] = (),
               should_stop: Callable[[], bool] | None = None,
               resume: bool = False, parallel: Distributed | None = None) -> TrainOutcome:
    """Train ``model`` on ``train_set``, validating on ``val_set`` every epoch.

    Writes ``checkpoint.pt`` (the latest epoch, for resuming), ``best.pt`` when the preset selects
    the best epoch, and ``metrics.jsonl`` (one line per epoch) into ``run_dir``. With ``resume`` the
    loop continues from ``checkpoint.pt``. Raises ``CheckpointError`` when resuming from a missing or
    mismatched checkpoint.

    The sets are in memory (:class:`SequenceSet`: batches are drawn from a permutation kept in the
    checkpoint) or streamed (:class:`core.data.yt8m_stream.StreamSet`: the stream orders its own
    batches by seed and epoch; a resumed run restarts the interrupted epoch from its beginning).

    ``parallel`` makes this one rank of a data-parallel run (:mod:`core.distributed`): the model
    trains under DDP on this rank's share of a streamed set, and only rank 0 evaluates, writes
    the run folder and emits events (the other ranks are given no callbacks).
    """
    preset = settings.preset
    device = settings.device
    model.to(device)
    main = parallel is None or parallel.is_main
    net = parallel.wrap(model, device) if parallel is not None else model
    optimizer = preset.make_optimizer(model.parameters(), settings.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
                 if preset.cosine else None)
    # float16 needs its loss scaled against underflowing gradients; bfloat16 has float32's range.
    scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16")
    task = MultiLabel if isinstance(train_set, StreamSet) else task_for(train_set.labels)
    generator = torch.Generator().manual_seed(settings.seed)
    streamed = isinstance(train_set, StreamSet)
    fixed_order = torch.randperm(0 if streamed else len(train_set), generator=generator)
    history: list[dict[str, float]] = []
    start_epoch = 0
    best = {"epoch": 0, "acc": -math.inf, "loss": math.inf}
    folder = RunFolder(run_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    latest, best_path, metrics_log = folder.checkpoint, folder.best, folder.metrics
    bad_epochs = 0

    if resume:
        state = load_checkpoint(latest)
        load_model_state(model, state["model"], latest)
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"{latest} does not match this experiment's optimizer: {first}",
                                  hint="start the experiment again (`avc run`), or restore the "
                                       "checkpoint.pt avc wrote") from exc
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if parallel is not None and not parallel.is_main:  # each rank its own dropout draws
            torch.manual_seed(settings.seed + 1000 * parallel.rank + int(state["epoch"]))
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        best = dict(state["best"])
        bad_epochs = int(state.get("bad_epochs", 0))
        fixed_order = state["fixed_order"]
        # The log on disk may hold epochs newer than the checkpoint (a crash between the two
        # writes); rewrite it from the checkpoint's history so the two agree.
        if main:
            _write_history(metrics_log, history)
    elif main:
        metrics_log.unlink(missing_ok=True)

    steps_per_epoch = (train_set.steps() if streamed
                       else len(batches(torch.arange(len(train_set)), settings.batch_size)))
    emit(callbacks, TrainingStarted(settings.epochs, start_epoch, steps_per_epoch, len(train_set),
                                    len(val_set), sum(p.numel() for p in model.parameters()
                                                      if p.requires_grad)))
    train_set, val_set = place_sets(train_set, val_set, device)
    writer = CheckpointWriter()
    # On the CPU the gradient buffers are kept and zeroed: freeing them every step hands
    # hundreds of MB back to the kernel and faults them in again (a CUDA allocator caches them).
    set_to_none = device.type != "cpu"
    if device.type == "cpu":
        keep_freed_memory()
    stopped_early = cancelled = False
    epoch = saved_epoch = start_epoch
    seen = 0
    last_step = 0  # the global step of the last StepFinished
    for epoch in range(start_epoch + 1, settings.epochs + 1):
        began = time.perf_counter()
        model.train()
        order = (fixed_order if preset.shuffle == "once" or streamed
                 else torch.randperm(len(train_set), generator=generator))
        # Running sums stay on the device; they are read every log_every steps, not every step.
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        logged_loss, logged_correct, logged_seen, seen = 0.0, 0, 0, 0

        def log_interval(step: int) -> None:
            nonlocal logged_loss, logged_correct, logged_seen, last_step
            total_loss, total_correct = loss_sum.item(), int(correct.item())
            count = seen - logged_seen
            # A stream's epoch may run past its estimated steps: the global step still grows.
            last_step = max((epoch - 1) * steps_per_epoch + step, last_step + 1)
            emit(callbacks, StepFinished(epoch, step, last_step, steps_per_epoch,
                                         (total_loss - logged_loss) / count,
                                         (total_correct - logged_correct) / count, count))
            logged_loss, logged_correct, logged_seen = total_loss, total_correct, seen

        step = 0
        steps = _Lockstep(epoch_batches(train_set, order, epoch, settings.batch_size),
                          parallel, device, should_stop)
        for step, (x, y, mask) in enumerate(steps, start=1):
            x = x.to(device, non_blocking=True).float()
            y = y.to(device, non_blocking=True)
            mask = mask.to(device) if settings.use_mask else None
            with autocast(device, settings.precision):
                out = net(x, mask)
                # The task's loss, unless the head has an objective of its own (per-step
                # loss, regularisers): TemporalHead.loss.
                loss = model.loss(out, y, task)
            optimizer.zero_grad(set_to_none=set_to_none)
            scaler.scale(loss).backward()
            if preset.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            seen += len(y)
            loss_sum += loss.detach().float() * len(y)
            correct += task.hit_count(out.logits.detach(), y)
            if step % settings.log_every == 0 or step == steps_per_epoch:
                log_interval(step)
            if parallel is None and should_stop is not None and should_stop():
                cancelled = True
                break
        cancelled = cancelled or steps.cancelled  # data-parallel: all ranks at the same step
        if not cancelled and seen > logged_seen:  # a stream's epoch can outrun its estimate
            log_interval(step)
        if parallel is not None and not cancelled:  # the epoch's figures over every rank
            total_loss, total_correct, total_seen = parallel.sum(
                device, loss_sum.item(), float(correct.item()), float(seen))
            loss_sum.fill_(total_loss)
            correct.fill_(round(total_correct))
            seen = int(total_seen)
        if cancelled:
            # The partial epoch is discarded, and so are finished epochs after the last
            # checkpoint (their state is gone): the run ends where a resume will start.
            if main and epoch - 1 > saved_epoch:
                history = [record for record in history if record["epoch"] <= saved_epoch]
                _write_history(metrics_log, history)
            epoch = saved_epoch
            break
        if scheduler is not None:
            scheduler.step()
        # Rank 0's own work: a rank that fails meanwhile is reported when it ends (see
        # core.distributed), not taken for a collective that will never return.
        local = contextlib.ExitStack()
        if main and parallel is not None:
            local.enter_context(parallel.local_work())
        if main:  # evaluation, the run folder and events are rank 0's
            val = evaluate(model, val_set, num_classes, device=device, use_mask=settings.use_mask,
                           precision=settings.precision)
            record = {"epoch": epoch, "train_loss": loss_sum.item() / max(seen, 1),
                      "train_acc": int(correct.item()) / max(seen, 1), **val.summary("val_"),
                      "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - began}
            history.append(record)
            improved = (val.score > best["acc"]
                        or (val.score == best["acc"] and val.loss < best["loss"]))
            if improved:
                best = {"epoch": epoch, "acc": val.score, "loss": val.loss}
                bad_epochs = 0
            else:
                bad_epochs += 1
            # The epoch's numbers go out before its checkpoint: a crash in between repeats the epoch
            # on resume (its stale points are dropped then) instead of losing its points for good.
            emit(callbacks, EpochFinished(epoch, settings.epochs, record, record["seconds"],
                                          is_best=improved))
            log.info("epoch %d/%d: %s", epoch, settings.epochs,
                     ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                               if isinstance(v, float) and k != "epoch"))
            _append_history(metrics_log, record)
            if preset.patience is not None and bad_epochs >= preset.patience:
                stopped_early = True
            if not stopped_early and should_stop is not None and should_stop():
                cancelled = True
            last = stopped_early or cancelled or epoch == settings.epochs
            write_best = improved and preset.selection == "best"
            # best.pt never gets ahead of checkpoint.pt (a resume would select an epoch it
            # retrains); written together they are one file.
            write_latest = (last or write_best
                            or (epoch - start_epoch) % settings.checkpoint_every == 0)
            if write_latest:
                payload = {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                    "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                    "fixed_order": fixed_order, "epoch": epoch, "history": history, "best": best,
                    "bad_epochs": bad_epochs, **checkpoint_extra,
                }
                saved = functools.partial(emit, callbacks, CheckpointSaved(epoch, str(latest)))
                writer.submit(payload, latest=latest, best=best_path if write_best else None,
                              done=saved)
                saved_epoch = epoch
        local.close()
        if parallel is not None:
            stopped_early, cancelled = parallel.decide(device, stopped_early, cancelled)
        if stopped_early or cancelled:
            break
    if parallel is not None and streamed:  # what every rank's share of the stream met
        shares = parallel.gather(list(train_set.damaged))
        if main:
            for damaged in shares:
                train_set.damaged.update(dict.fromkeys(damaged))
            if not cancelled and epoch > start_epoch:
                train_set.videos = seen  # the last epoch's videos, summed over the ranks
    writer.wait()

    if preset.selection == "best" and best_path.exists():
        selected_epoch, selected_path = int(best["epoch"]), best_path
    else:
        selected_epoch, selected_path = epoch, latest
    outcome = TrainOutcome(history, epoch, selected_epoch, selected_path, stopped_early, cancelled)
    emit(callbacks, TrainingFinished(epoch, stopped_early, cancelled,
                                     dict(history[-1]) if history else {}))
    return outcome


TrainingSet = SequenceSet | StreamSet


class _Lockstep:
    """An epoch's batches; in a data-parallel run, only as long as every rank has one and rank
    0 was not asked to stop (one small all-reduce before each step, see core.distributed):
    every rank takes the same optimiser steps, and a cancel ends them all at the next step."""

    def __init__(self, batches: Iterator, parallel: Distributed | None, device: torch.device,
                 should_stop: Callable[[], bool] | None) -> None:
        self.batches, self.parallel, self.device = batches, parallel, device
        self.should_stop = should_stop
        self.cancelled = False

    def __iter__(self) -> Iterator:
        if self.parallel is None:
            yield from self.batches
            return
        iterator = iter(self.batches)
        try:
            while True:
                item = next(iterator, None)
                asked = self.should_stop is not None and self.should_stop()
                out_of_data, stop = self.parallel.step_flags(self.device, item is None, asked)
                if stop:
                    self.cancelled = True
                    return
                if out_of_data:
                    return
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:  # a stream's reading workers end now, not when collected
                close()


def epoch_batches(data: TrainingSet, order: torch.Tensor, epoch: int, batch_size: int
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The ``(features, labels, mask)`` batches of one epoch: ``order`` in batches of
    ``batch_size`` for a set in memory, the stream's own batches for a streamed one."""
    if isinstance(data, StreamSet):
        for batch in data.batches(epoch):
            yield batch.features, batch.labels, batch.mask
        return
    for index in batches(order, batch_size):
        yield data.features[index], data.labels[index], data.mask[index]


def batches(order: torch.Tensor, size: int) -> list[torch.Tensor]:
    """``order`` in batches of ``size``; a last batch of one joins the one before it (batch norm
    cannot train on a single example)."""
    batches = list(order.split(size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def place_sets(train_set: SequenceSet, val_set: SequenceSet, device: torch.device
               ) -> tuple[SequenceSet, SequenceSet]:
    """The two sets, on ``device`` when it is a GPU with room for them (half its free memory):
    then each batch is indexed where it is used instead of being copied over every step."""
    if device.type != "cuda" or not isinstance(train_set, SequenceSet):
        return train_set, val_set
    free, _ = torch.cuda.mem_get_info(device)
    size = sum(t.numel() * t.element_size() for data in (train_set, val_set)
               for t in (data.features, data.mask, data.labels))
    if size > free // 2:
        log.info("features (%.1f GB) stay on the CPU: %.1f GB free on %s", size / 1e9,
                 free / 1e9, device)
        return train_set, val_set
    return train_set.to(device), val_set.to(device)


def _append_history(path: Path, record: dict[str, float]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in history))


def final_metrics(model: nn.Module, checkpoint: Path, test_set: TrainingSet, num_classes: int,
                  settings: TrainSettings) -> Metrics:
    """Load the selected checkpoint into ``model`` and evaluate it on ``test_set``."""
    state = load_checkpoint(checkpoint)
    load_model_state(model, state["model"], checkpoint)
    model.to(settings.device)
    return evaluate(model, test_set, num_classes, device=settings.device,
                    use_mask=settings.use_mask, precision=settings.precision)
