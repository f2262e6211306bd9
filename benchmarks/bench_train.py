"""Benchmark of the training loop: ``train_head`` against a minimal loop over the same tensors.

Usage: ``python benchmarks/bench_train.py [--dim 25088] [--videos 512] [--frames 8]
[--classes 101] [--epochs 4] [--batch 16] [--head cnn-lstm-attention] [--precision fp32]
[--checkpoint-every 1,4]``

The minimal loop runs twice: with glibc's default malloc, then after avc's
``keep_freed_memory`` (which train_head calls on the CPU; it cannot be undone in a process);
the ratio is given against each. Both loops train the same head from the same initial weights on the same random features
(float16, as the feature cache holds them) in the same batch order, with the preset's optimizer,
and evaluate the validation set after every epoch. The minimal loop does nothing else; avc's
loop also emits its events, keeps its history, writes ``metrics.jsonl`` and its checkpoints
(every ``--checkpoint-every`` epochs, plus the last). Reported per setting: seconds per epoch
(the median over the epochs after the first), the ratio minimal / avc (1.0 = no overhead),
page faults per epoch, and whether the two loops' training losses agree.

The defaults are VGG16's flatten features at 224 px (25,088 values a frame) with batch 16:
the shape where a checkpoint (the head plus its RMSprop state) weighs most.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core.evaluate import evaluate  # noqa: E402
from core.memory import keep_freed_memory  # noqa: E402
from core.models import build_head  # noqa: E402
from core.precision import autocast, resolve_precision  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.sequences import SequenceSet  # noqa: E402
from core.tasks import task_for  # noqa: E402
from core.train import TrainSettings, batches, train_head  # noqa: E402


def make_sets(videos: int, frames: int, dim: int, classes: int) -> tuple[SequenceSet, SequenceSet]:
    generator = torch.Generator().manual_seed(0)

    def one(n: int) -> SequenceSet:
        features = torch.randn(n, frames, dim, generator=generator).to(torch.float16)
        labels = torch.randint(0, classes, (n,), generator=generator)
        return SequenceSet(features, torch.ones(n, frames, dtype=torch.bool), labels,
                           torch.full((n,), frames))

    return one(videos), one(max(1, videos // 4))


def new_head(name: str, dim: int, classes: int, frames: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_head(name, in_dim=dim, num_classes=classes, frames=frames)


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def minimal_loop(model, train_set, val_set, settings: TrainSettings, classes: int
                 ) -> tuple[list[float], list[float], int]:
    """(seconds of each epoch, mean training loss of each epoch, page faults)."""
    optimizer = settings.preset.make_optimizer(model.parameters(), settings.lr)
    task = task_for(train_set.labels)
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(len(train_set), generator=generator)
    seconds, losses = [], []
    before = faults()
    for _ in range(settings.epochs):
        began = time.perf_counter()
        model.train()
        total = torch.zeros(())
        for idx in batches(order, settings.batch_size):
            x = train_set.features[idx].float()
            with autocast(settings.device, settings.precision):
                out = model(x, None)
                loss = model.loss(out, train_set.labels[idx], task)
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            optimizer.step()
            total += loss.detach().float() * len(idx)
        evaluate(model, val_set, classes, device=settings.device, precision=settings.precision)
        seconds.append(time.perf_counter() - began)
        losses.append(total.item() / len(train_set))
    return seconds, losses, faults() - before


def avc_loop(model, train_set, val_set, settings: TrainSettings, classes: int,
             checkpoint_every: int) -> tuple[list[float], list[float], int]:
    with tempfile.TemporaryDirectory() as run_dir:
        before = faults()
        size = sum(p.numel() * 4 for p in model.parameters()) * 2  # weights + RMSprop's state
        outcome = train_head(model, train_set, val_set, classes,
                             replace(settings, checkpoint_every=checkpoint_every),
                             run_dir=Path(run_dir), checkpoint_extra={"config": "{}"})
        used = faults() - before
    print(f"  (checkpoints of {size / 1e6:.0f} MB)")
    return ([r["seconds"] for r in outcome.history], [r["train_loss"] for r in outcome.history],
            used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=25088)
    parser.add_argument("--videos", type=int, default=512)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--head", default="cnn-lstm-attention")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--checkpoint-every", default="1,4")
    args = parser.parse_args()

    device = torch.device("cpu")
    train_set, val_set = make_sets(args.videos, args.frames, args.dim, args.classes)
    settings = TrainSettings(PRESETS["abdn"], epochs=args.epochs, batch_size=args.batch, lr=1e-3,
                             seed=0, device=device,
                             precision=resolve_precision(args.precision, device), use_mask=False)
    print(f"{args.head}: {args.videos} videos × {args.frames} frames × {args.dim}, batch "
          f"{args.batch}, {args.classes} classes, {args.epochs} epochs, {settings.precision}, "
          f"{torch.get_num_threads()} threads")
    results = {}
    for malloc in ("default malloc", "malloc keeping freed memory"):
        if malloc != "default malloc" and not keep_freed_memory():
            print("  (this C library cannot keep freed memory: skipped)")
            break
        seconds, losses, minimal_faults = minimal_loop(
            new_head(args.head, args.dim, args.classes, args.frames), train_set, val_set,
            settings, args.classes)
        results[malloc] = statistics.median(seconds[1:] or seconds)
        print(f"  minimal loop, {malloc + ':':28} {results[malloc]:6.2f} s/epoch  "
              f"{minimal_faults / args.epochs:9.0f} page faults/epoch")
    for every in (int(n) for n in args.checkpoint_every.split(",")):
        avc_seconds, avc_losses, avc_faults = avc_loop(
            new_head(args.head, args.dim, args.classes, args.frames), train_set, val_set,
            settings, args.classes, every)
        ours = statistics.median(avc_seconds[1:] or avc_seconds)
        same = all(abs(a - b) <= 1e-5 * max(1.0, abs(a)) for a, b in zip(losses, avc_losses))
        ratios = " / ".join(f"{value / ours:.2f}" for value in results.values())
        print(f"  train_head, checkpoint every {every}: {' ' * 15}{ours:6.2f} s/epoch  "
              f"{avc_faults / args.epochs:9.0f} page faults/epoch  ratio {ratios}  "
              f"losses {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
