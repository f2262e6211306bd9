"""YouTube-8M as a stream: every record read once per epoch whatever the readers, seeded order,
damaged records counted, the same metrics as the in-memory path, flat memory, data-parallel
training on gloo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from core.data import load_dataset
from core.data.tfrecord import scan_records
from core.data.youtube8m import Yt8mVideo, synthesize, write_frame_level
from core.data.yt8m_layout import wants_stream
from core.data.yt8m_stream import (
    IdFraction,
    StreamSet,
    Yt8mStream,
    count_records,
    reader_shards,
    stream_loader,
)
from core.errors import ConfigError, DatasetLayoutError
from core.evaluate import evaluate
from core.experiment import open_dataset, run_experiment
from core.models import build_head
from core.sequences import build_sequences
from core.tasks import MultiLabel, multilabel_metrics


def _shards(root: Path, shards: int, per_shard: int, *, frames: int = 3) -> list[Path]:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        videos = [Yt8mVideo(id=f"v{shard:02d}-{i:03d}", labels=(int(rng.integers(4)),),
                            rgb=rng.normal(size=(frames, 1024)).astype(np.float32),
                            audio=rng.normal(size=(frames, 128)).astype(np.float32))
                  for i in range(per_shard)]
        paths.append(write_frame_level(root / f"train{shard:04d}.tfrecord", videos))
    return paths


def _tagged(root: Path, shards: int, per_shard: int) -> list[Path]:
    """Shards whose videos carry their number in their first rgb value (quantised exactly)."""
    root.mkdir(parents=True, exist_ok=True)
    paths, number = [], 0
    for shard in range(shards):
        videos = []
        for _ in range(per_shard):
            rgb = np.zeros((2, 1024), dtype=np.float32)
            rgb[:, 0] = number * 4 / 255 - 2  # the quantised byte is the number
            videos.append(Yt8mVideo(id=f"v{number}", labels=(0,), rgb=rgb,
                                    audio=np.zeros((2, 128), dtype=np.float32)))
            number += 1
        paths.append(write_frame_level(root / f"train{shard:04d}.tfrecord", videos))
    return paths


def _number(value: float) -> int:
    return round((value + 2 - 4 / 512) * 255 / 4)  # the quantised byte, from a float16


def _numbers(batches) -> list[int]:
    return [_number(float(v)) for batch in batches for v in batch.features[:, 0, 0]]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("shards", [2, 7])
def test_every_record_is_read_once_per_epoch_for_any_workers_and_ranks(tmp_path: Path,
                                                                       shards: int) -> None:
    files = _tagged(tmp_path, shards, 12 if shards == 2 else 5)
    total = count_records_all(files)
    for workers in (0, 1, 2, 3):
        for world in (1, 2):
            seen: Counter[int] = Counter()
            for rank in range(world):
                stream = Yt8mStream(files, num_classes=4, batch_size=4, frames=2,
                                    shuffle="epoch", seed=1, buffer=3, rank=rank,
                                    world_size=world)
                stream.set_epoch(2)
                seen.update(_numbers(stream_loader(stream, workers=workers)))
            assert sorted(seen) == list(range(total)), (workers, world)
            assert set(seen.values()) == {1}, (workers, world)


def count_records_all(files: list[Path]) -> int:
    return sum(count_records(path) for path in files)


def test_readers_take_whole_shards_when_there_are_enough(tmp_path: Path) -> None:
    files = [tmp_path / f"s{i}" for i in range(5)]
    taken = [reader_shards(files, 2, reader, order_seed=3) for reader in range(2)]
    assert sorted(p for part, _, _ in taken for p in part) == sorted(files)
    assert all(stride == 1 for _, stride, _ in taken)
    assert reader_shards(files, 8, 5, order_seed=None) == (files, 8, 5)


def test_the_shuffle_is_seeded_per_epoch_and_once_keeps_one_order(tmp_path: Path) -> None:
    files = _tagged(tmp_path, 3, 10)

    def order(shuffle: str | None, epoch: int, seed: int = 0) -> list[int]:
        stream = Yt8mStream(files, num_classes=4, batch_size=5, frames=2, shuffle=shuffle,
                            seed=seed, buffer=8)
        stream.set_epoch(epoch)
        return _numbers(iter(stream))

    assert order(None, 0) == list(range(30))  # evaluation: file order, record order
    first = order("epoch", 1)
    assert sorted(first) == list(range(30)) and first != list(range(30))
    assert order("epoch", 1) == first  # the same seed and epoch: the same order
    assert order("epoch", 2) != first
    assert order("epoch", 1, seed=5) != first
    assert order("once", 1) == order("once", 4)


def test_batches_are_whole_and_a_last_batch_of_one_joins_the_one_before(tmp_path: Path) -> None:
    files = _tagged(tmp_path, 1, 9)
    sizes = [len(batch) for batch in Yt8mStream(files, num_classes=4, batch_size=4, frames=5)]
    assert sizes == [4, 5]
    batch = next(iter(Yt8mStream(files, num_classes=4, batch_size=4, frames=5)))
    assert batch.features.shape == (4, 5, 1152) and batch.features.dtype == torch.float16
    assert batch.mask[:, :2].all() and not batch.mask[:, 2:].any()  # 2 real frames, padded
    assert batch.labels.shape == (4, 4) and batch.labels[:, 0].eq(1).all()


def test_damaged_records_are_skipped_and_reported(tmp_path: Path) -> None:
    files = _tagged(tmp_path, 2, 6)
    data = bytearray(files[0].read_bytes())
    offsets = [offset for _, offset, _ in scan_records(files[0])]
    data[offsets[2] + 20] ^= 0xFF  # a data byte of record 2: its CRC fails
    files[0].write_bytes(bytes(data))
    cut = files[1].read_bytes()
    files[1].write_bytes(cut[: offsets[4] + 30])  # record 4 cut short: 4 records readable
    streamed = StreamSet(Yt8mStream(files, num_classes=4, batch_size=4, frames=2), workers=0)
    numbers = _numbers(streamed.batches(0))
    assert sorted(numbers) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert len(streamed.damaged) == 2 and streamed.videos == 9
    messages = " | ".join(streamed.damaged)
    assert "record 2" in messages and "bad data CRC" in messages and "truncated" in messages


def test_the_hold_out_splits_ids_the_same_way_everywhere() -> None:
    inside, outside = IdFraction(0.15, 3, True), IdFraction(0.15, 3, False)
    ids = [f"video{i}" for i in range(2000)]
    held = [i for i in ids if inside(i)]
    assert all(not outside(i) for i in held) and 200 < len(held) < 400
    assert held != [i for i in ids if IdFraction(0.15, 4, True)(i)]


def test_streamed_metrics_equal_the_in_memory_ones(tmp_path: Path) -> None:
    """The same model on the same records: GAP and per-class APs bit for bit, the rest up to the
    order of additions."""
    root = tmp_path / "yt8m"
    synthesize(root, videos_per_split=60, num_classes=6, frames=(4, 20), seed=2)
    torch.manual_seed(0)
    model = build_head("nextvlad", in_dim=1152, num_classes=6, frames=20,
                       options={"hidden": 64, "clusters": 8}, multilabel=True)
    memory = load_dataset(root, layout="youtube8m", split="1")
    test = memory.test
    labels = torch.zeros(len(test), 6)
    for row, item in enumerate(test):
        labels[row, list(item.labels)] = 1
    maps = [v.reshape(*v.shape, 1, 1) for v in memory.load_features(test)]
    in_memory = evaluate(model, build_sequences(maps, labels, frames=20, reduction="avg"), 6,
                         device=torch.device("cpu"), use_mask=True)
    streamed_files = sorted(root.glob("validate*.tfrecord"))
    streamed = evaluate(model, StreamSet(Yt8mStream(streamed_files, num_classes=6, batch_size=7,
                                                    frames=20), workers=0), 6,
                        device=torch.device("cpu"), use_mask=True)
    assert streamed.count == in_memory.count == 60
    assert streamed.extra["gap"] == in_memory.extra["gap"]
    assert streamed.per_class == in_memory.per_class
    assert streamed.extra["map"] == in_memory.extra["map"]
    for key in ("loss", "top1", "top5"):
        assert getattr(streamed, key) == pytest.approx(getattr(in_memory, key), abs=1e-6)
    assert streamed.extra["perr"] == pytest.approx(in_memory.extra["perr"], abs=1e-12)


def test_the_accumulator_equals_the_whole_set_metrics() -> None:
    rng = np.random.default_rng(1)
    logits = torch.tensor(rng.normal(size=(300, 30)).astype(np.float32))
    logits[::5, 2] = logits[::5, 7]  # tied scores
    labels = torch.tensor((rng.random((300, 30)) < 0.1).astype(np.float32))
    whole = multilabel_metrics(logits, labels, 30)
    parts = MultiLabel.accumulator(30)
    for start in range(0, 300, 41):
        parts.add(logits[start:start + 41], labels[start:start + 41])
    fed = parts.metrics()
    assert fed.extra["gap"] == whole.extra["gap"] and fed.per_class == whole.per_class
    assert fed.top1 == pytest.approx(whole.top1) and fed.top5 == pytest.approx(whole.top5)
    assert fed.extra["perr"] == pytest.approx(whole.extra["perr"], abs=1e-12)
    assert fed.loss == pytest.approx(whole.loss, rel=1e-6)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("yt8m-stream")
    synthesize(root, videos_per_split=80, num_classes=8, frames=(8, 30), seed=5)
    return root


def _config(root: Path, **train) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(str(root), layout="youtube8m", split="1",
                        loading=train.pop("loading", "stream")),
        features=FeatureConfig("yt8m"),
        head=HeadConfig("nextvlad", mask=True, frames=30,
                        options={"hidden": 128, "clusters": 16}),
        train=TrainConfig("abdn", epochs=train.pop("epochs", 5), batch_size=16, lr=1e-3,
                          device="cpu", **train),
    )


def test_a_streamed_run_learns_as_the_in_memory_one(synthetic: Path, tmp_path: Path) -> None:
    """Same data, same seed: the two paths differ in the order of the training videos only (a
    permutation of the whole set against shard order plus a shuffle buffer)."""
    results = {}
    for loading in ("memory", "stream"):
        results[loading] = run_experiment(_config(synthetic, loading=loading),
                                          run_dir=tmp_path / loading,
                                          cache_dir=tmp_path / "cache", num_workers=0)
    memory, stream = results["memory"].test, results["stream"].test
    assert stream.count == memory.count == 80
    assert stream.extra["gap"] >= 0.85 and memory.extra["gap"] >= 0.85
    assert abs(stream.extra["gap"] - memory.extra["gap"]) < 0.05
    body = json.loads((tmp_path / "stream" / "result.json").read_text())
    assert body["dataset"]["train"] == 80 and body["dataset"]["split"]["stream"] is True


def test_a_cancelled_streamed_run_resumes_at_its_last_epoch(synthetic: Path,
                                                           tmp_path: Path) -> None:
    epochs_done = []

    def stop() -> bool:
        return bool(epochs_done)

    from core.events import EpochFinished

    def on_event(event) -> None:
        if isinstance(event, EpochFinished):
            epochs_done.append(event.epoch)

    config = _config(synthetic, epochs=3)
    first = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                           callbacks=[on_event], should_stop=stop, num_workers=0)
    assert first.cancelled and first.epochs_run == 1
    resumed = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                             resume=True, num_workers=0)
    assert resumed.epochs_run == 3 and [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_data_parallel_training_on_two_gloo_processes(synthetic: Path, tmp_path: Path) -> None:
    """Two ranks, each reading one of the two training shards, the global batch split between
    them: the result matches one process's up to the order of videos in the steps and per-rank
    batch norm statistics."""
    one = run_experiment(_config(synthetic), run_dir=tmp_path / "one",
                         cache_dir=tmp_path / "cache", num_workers=0)
    # One reading worker per rank: ranks start DataLoader workers of their own.
    two = run_experiment(_config(synthetic, processes=2), run_dir=tmp_path / "two",
                         cache_dir=tmp_path / "cache", num_workers=1)
    assert two.epochs_run == 5 and len(two.history) == 5
    assert two.test.extra["gap"] >= 0.85, two.test.extra
    assert abs(two.test.extra["gap"] - one.test.extra["gap"]) < 0.05
    assert (tmp_path / "two" / "checkpoint.pt").exists()
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5  # rank 0 alone writes the run folder
    assert _config(synthetic, processes=2).hash() == _config(synthetic).hash()
    body = json.loads((tmp_path / "two" / "result.json").read_text())
    assert body["dataset"]["train"] == 80  # every rank's videos of the last epoch


def _barrier_then_return(parallel, device) -> str:
    import torch.distributed as dist

    dist.barrier()
    return "done"


def _fail(parallel, device) -> None:
    raise SystemExit(3)


def _bad_config(parallel, device) -> None:
    raise ConfigError("rank 0's own problem", hint="its own hint")


def _wait_forever(parallel, device) -> None:
    import time

    time.sleep(600)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failing_rank_fails_the_run_with_its_status() -> None:
    from core.distributed import run_data_parallel

    assert run_data_parallel(2, torch.device("cpu"), _barrier_then_return,
                             _barrier_then_return) == "done"
    with pytest.raises(RuntimeError, match="rank 1 exited with status 3"):
        run_data_parallel(2, torch.device("cpu"), _fail, _barrier_then_return)
    # Rank 0's own error is the news, whatever happened to the others because of it.
    with pytest.raises(ConfigError, match="rank 0's own problem"):
        run_data_parallel(2, torch.device("cpu"), _barrier_then_return, _bad_config)


_STUCK = """
import logging
logging.basicConfig()
import core.distributed as d
from tests.core.test_yt8m_stream import _fail, _wait_forever
import torch
d.GRACE_SECONDS = 1.0
d.run_data_parallel(2, torch.device("cpu"), _fail, _wait_forever)
"""


def test_rank_0_does_not_wait_forever_on_a_rank_that_died(tmp_path: Path) -> None:
    """A collective that would never return (NCCL does not notice a dead peer): rank 0 ends
    its own process once the grace period is over, saying which rank failed."""
    out = subprocess.run([sys.executable, "-c", _STUCK], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).parents[2])
    assert out.returncode == 1
    assert "rank 1 exited with status 3" in out.stderr


def test_stream_settings_are_checked(synthetic: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only the youtube8m layout"):
        DataConfig(str(tmp_path), layout="folders", loading="stream")
    with pytest.raises(ConfigError, match="unknown loading"):
        DataConfig(str(tmp_path), layout="youtube8m", loading="disk")
    with pytest.raises(ConfigError, match="data-parallel"):
        _config(synthetic, processes=2, loading="memory")
    with pytest.raises(ConfigError, match="processes must be"):
        TrainConfig(processes=0)
    random_split = _config(synthetic).with_changes(data={"split": "abdn"})
    with pytest.raises(DatasetLayoutError, match="split 1"):
        open_dataset(random_split)
    with pytest.raises(ConfigError, match="normalize"):
        open_dataset(_config(synthetic).with_changes(head={"normalize": "dataset"}))
    # How the data is read is no part of what the experiment is.
    assert _config(synthetic).hash() == _config(synthetic, loading="memory").hash()


def test_auto_streams_when_the_records_would_not_fit(synthetic: Path, monkeypatch) -> None:
    assert not wants_stream(synthetic, "1", "auto")  # a few MB: in memory
    monkeypatch.setattr("core.data.yt8m_layout.memory_budget", lambda: 1000)
    assert wants_stream(synthetic, "1", "auto")
    assert not wants_stream(synthetic, "abdn", "auto")  # a random split is not streamed
    dataset = open_dataset(_config(synthetic, loading="auto"))
    assert dataset.stream is not None and not dataset.train
    assert dataset.stream.train_records == 80 and "streamed" in dataset.summary()


_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from core.data.yt8m_stream import StreamSet, Yt8mStream
files = sorted(Path(sys.argv[1]).glob("train*.tfrecord"))
stream = StreamSet(Yt8mStream(files, num_classes=4, batch_size=8, frames=300,
                              shuffle="epoch", buffer=16), workers=0)
videos = sum(len(batch) for batch in stream.batches(1))
print(videos, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_stays_flat_with_ten_times_the_shards(tmp_path: Path) -> None:
    """Peak RSS with 10× the shards (300-frame videos, 70 MB against 7 MB of records) grows by
    less than 25 MB: the stream holds its buffer and one batch, never the shards."""
    one = tmp_path / "one"
    shard = _shards(one, 1, 20, frames=300)[0]
    ten = tmp_path / "ten"
    ten.mkdir()
    for i in range(10):
        shutil.copy(shard, ten / f"train{i:04d}.tfrecord")
    peaks = {}
    for name, folder in (("one", one), ("ten", ten)):
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(folder)], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).parents[2])
        videos, peak_kb = map(int, out.stdout.split())
        assert videos == (20 if name == "one" else 200)
        peaks[name] = peak_kb
    assert peaks["ten"] - peaks["one"] < 25_000, peaks
