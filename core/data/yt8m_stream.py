"""YouTube-8M frame-level records read as a stream: any number of shards, flat memory.

The in-memory path (``core/data/yt8m_layout.py``) reads a whole selection into memory, 0.7 MB per
300-second video: right for a few thousand videos, impossible for the 6.1 M of the real dataset.
A :class:`Yt8mStream` reads the shards again every epoch and never holds more than its shuffle
buffer (:data:`SHUFFLE_BUFFER` videos) and the batch being built, whatever the number of shards.

**Who reads what.** The readers of one epoch are the DataLoader workers of every process
(``ranks × workers``; reader ``rank · workers + worker``). With at least as many shards as readers,
the shards, in an order shuffled per epoch with the seed (the same order in every reader), are
dealt out round robin: each reader opens only its own. With fewer shards than readers, every
reader scans every shard and keeps every ``readers``-th record. Either way each record is read by
exactly one reader per epoch.

**Order.** Each reader passes its records through a seeded shuffle buffer (seed, epoch and reader
number). ``shuffle="once"`` (the ABDN preset's protocol) uses epoch 0's order for every epoch, as
the in-memory path keeps one permutation; the in-memory permutation of the whole training set and
a stream's shard order plus buffer are different orders of the same videos, so the two paths train
on the same data in a different order. Evaluation streams are not shuffled: files in name order,
records in file order, which is the in-memory order when one reader reads them.

**Records.** Frames are capped at ``max_frames`` (300), dequantised and padded to the batch's
sequence length ``frames`` exactly as the in-memory path does (:meth:`Yt8mVideo.features`, float16),
with a mask of the real frames. A damaged record is skipped and reported with the batch that
follows it (the trainer counts them as the in-memory layout does); a shard cut short is read up to
the damage.

**Batches.** Each reader builds whole batches of ``batch_size`` videos (DataLoader
``batch_size=None``), so each reader's last batch of an epoch is partial; a last batch of one
joins the one before it (batch norm cannot train on one example), as in the in-memory loop.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from core.data.youtube8m import AUDIO_DIM, MAX_FRAMES, RGB_DIM, read_videos
from core.data.yt8m_proto import choose_parser

SHUFFLE_BUFFER = 512  # videos per reader: about 350 MB at the 300-frame cap, in float16
_HEADER = struct.Struct("<Q")


def count_records(path: Path) -> int:
    """How many records ``path`` holds, from the record headers alone (no data is read): the
    records before the first damaged header."""
    count = offset = 0
    size = path.stat().st_size
    with open(path, "rb") as handle:
        while offset + 12 <= size:
            header = handle.read(12)
            if len(header) < 12:
                break
            (length,) = _HEADER.unpack_from(header)
            offset += 12 + length + 4
            if offset > size:
                break
            handle.seek(offset)
            count += 1
    return count


@dataclass(frozen=True)
class IdFraction:
    """Videos chosen by a seeded hash of their id: ``inside`` keeps the ``fraction`` it picks,
    otherwise the rest. The stream's validation hold-out: the same videos every epoch and in every
    reader, without a list of ids."""

    fraction: float
    seed: int
    inside: bool

    def __call__(self, video_id: str) -> bool:
        picked = zlib.crc32(f"{self.seed}:{video_id}".encode()) % 10_000 < self.fraction * 10_000
        return picked == self.inside


@dataclass
class StreamBatch:
    """One batch: float16 (B, T, 1152) features, bool (B, T) mask, float32 (B, C) multi-hot
    labels, and the damaged records the reader skipped since its previous batch."""

    features: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    damaged: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def pin_memory(self) -> StreamBatch:
        """The batch in page-locked memory (the DataLoader calls it for a CUDA device)."""
        return StreamBatch(self.features.pin_memory(), self.mask.pin_memory(),
                           self.labels.pin_memory(), self.damaged)


def reader_shards(files: Sequence[Path], readers: int, reader: int, order_seed: int | None
                  ) -> tuple[list[Path], int, int]:
    """What reader ``reader`` of ``readers`` reads: ``(files, stride, offset)``; it keeps the
    records whose running index ``i`` over its files has ``i % stride == offset``. ``order_seed``
    None keeps the files' order (evaluation)."""
    order = list(files)
    if order_seed is not None:
        permutation = np.random.default_rng(order_seed).permutation(len(order))
        order = [order[i] for i in permutation]
    if len(order) >= readers:
        return order[reader::readers], 1, 0
    return order, readers, reader


class Yt8mStream(IterableDataset):
    """Batches of YouTube-8M frame-level videos streamed from TFRecord shards (see the module
    docstring). ``rank``/``world_size`` are the process's place among data-parallel processes;
    DataLoader workers split each process's share further."""

    def __init__(self, files: Sequence[Path], *, num_classes: int, batch_size: int, frames: int,
                 max_frames: int = MAX_FRAMES, shuffle: str | None = None, seed: int = 0,
                 buffer: int = SHUFFLE_BUFFER, rank: int = 0, world_size: int = 1,
                 select: Callable[[str], bool] | None = None, records: int | None = None
                 ) -> None:
        if shuffle not in (None, "once", "epoch"):
            raise ValueError(f"shuffle must be None, 'once' or 'epoch', not {shuffle!r}")
        self.files = [Path(path) for path in files]
        self.num_classes, self.batch_size, self.frames = num_classes, batch_size, frames
        self.max_frames, self.shuffle, self.seed, self.buffer = max_frames, shuffle, seed, buffer
        self.rank, self.world_size, self.select = rank, world_size, select
        self.epoch = 0
        self._records = records  # counted once, by whoever opened the files

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next iteration follows (workers see it when they start)."""
        self.epoch = epoch

    def _reader(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.world_size * workers, self.rank * workers + worker

    def _order_seed(self) -> int | None:
        if self.shuffle is None:
            return None
        return self.seed * 1_000_003 + (0 if self.shuffle == "once" else self.epoch)

    def _videos(self, files: list[Path], stride: int, offset: int, damaged: list[str]
                ) -> Iterator[tuple[np.ndarray, tuple[int, ...]]]:
        """Each kept video's float16 (frames, 1152) features and labels; damaged records are
        appended to ``damaged``."""
        counter = itertools.count()
        parse = choose_parser()  # protobuf's C parser where installed (core.data.yt8m_proto)
        for path in files:
            for video in read_videos(path, report=lambda error: damaged.append(error.message),
                                     parse=parse, max_frames=self.max_frames,
                                     num_classes=self.num_classes,
                                     keep=lambda: next(counter) % stride == offset):
                if self.select is None or self.select(video.id):
                    yield video.features(), video.labels

    def _shuffled(self, videos: Iterator, reader: int) -> Iterator:
        if self.shuffle is None or self.buffer <= 1:
            yield from videos
            return
        epoch = 0 if self.shuffle == "once" else self.epoch
        rng = np.random.default_rng([self.seed, epoch, reader])
        held: list = []
        for video in videos:
            if len(held) < self.buffer:
                held.append(video)
                continue
            slot = int(rng.integers(len(held)))
            yield held[slot]
            held[slot] = video
        for slot in rng.permutation(len(held)):
            yield held[slot]

    def _batch(self, videos: list, damaged: list[str]) -> StreamBatch:
        features = torch.zeros((len(videos), self.frames, RGB_DIM + AUDIO_DIM),
                               dtype=torch.float16)
        mask = torch.zeros((len(videos), self.frames), dtype=torch.bool)
        labels = torch.zeros((len(videos), self.num_classes), dtype=torch.float32)
        for row, (frames, classes) in enumerate(videos):
            n = min(len(frames), self.frames)
            features[row, :n] = torch.from_numpy(frames[:n])
            mask[row, :n] = True
            labels[row, list(classes)] = 1.0
        return StreamBatch(features, mask, labels, damaged)

    def __iter__(self) -> Iterator[StreamBatch]:
        readers, reader = self._reader()
        files, stride, offset = reader_shards(self.files, readers, reader, self._order_seed())
        damaged: list[str] = []
        videos = self._shuffled(self._videos(files, stride, offset, damaged), reader)
        pending: list | None = None  # one full batch held back: a last batch of one joins it
        current: list = []
        for video in videos:
            current.append(video)
            if len(current) == self.batch_size:
                if pending is not None:
                    yield self._batch(pending, damaged[:])
                    damaged.clear()
                pending, current = current, []
        if pending is not None and len(current) == 1:
            pending, current = pending + current, []
        for part in (pending, current):
            if part:
                yield self._batch(part, damaged[:])
                damaged.clear()
        if damaged:  # damage after the last video: an empty batch carries the report
            yield self._batch([], damaged[:])

    def records(self) -> int:
        """The records of the stream's shards, counted from their headers (before ``select``)
        once, unless the stream was given the count."""
        if self._records is None:
            self._records = sum(count_records(path) for path in self.files)
        return self._records

    def steps(self, readers: int = 1) -> int:
        """About how many batches one epoch of this process gives with ``readers`` workers: each
        reader's partial last batch counts."""
        share = self.records() / max(self.world_size, 1)
        if self.select is not None and isinstance(self.select, IdFraction):
            share *= self.select.fraction if self.select.inside else 1 - self.select.fraction
        return max(1, math.ceil(share / self.batch_size) + max(readers, 1) - 1)


def stream_loader(stream: Yt8mStream, *, workers: int, pin_memory: bool = False
                  ) -> torch.utils.data.DataLoader:
    """A DataLoader over ``stream``'s whole batches, with ``workers`` reading processes (0: in
    this process)."""
    return torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=workers, pin_memory=pin_memory,
        prefetch_factor=2 if workers else None, persistent_workers=False)


class StreamSet:
    """A streamed set as the training loop and the evaluation pass use it: its batches epoch
    after epoch (read by ``workers`` DataLoader processes), the damaged records met on the way,
    and how many videos a whole pass gave (an estimate from the record headers until one did)."""

    multilabel = True

    def __init__(self, stream: Yt8mStream, *, workers: int, pin_memory: bool = False) -> None:
        self.stream, self.workers, self.pin_memory = stream, workers, pin_memory
        self.damaged: dict[str, None] = {}  # in the order met, each once over all epochs
        self.videos: int | None = None

    def __len__(self) -> int:
        if self.videos is not None:
            return self.videos
        return min(self.stream.records(), self.steps() * self.stream.batch_size)

    @property
    def num_classes(self) -> int:
        return self.stream.num_classes

    def steps(self) -> int:
        return self.stream.steps(max(self.workers, 1))

    def batches(self, epoch: int) -> Iterator[StreamBatch]:
        """The batches of ``epoch`` (an evaluation stream gives the same ones every time)."""
        self.stream.set_epoch(epoch)
        seen = 0
        for batch in stream_loader(self.stream, workers=self.workers,
                                   pin_memory=self.pin_memory):
            self.damaged.update(dict.fromkeys(batch.damaged))
            if len(batch):
                seen += len(batch)
                yield batch
        self.videos = seen
