"""Every expected failure a user can cause from the command line, from one table: each ends with
exit status 1 and exactly two lines on stderr, an ``error:`` line and a ``hint:`` line, and leaves
the registry's rows and the user's files as they were.

A new expected error is one line in ``CASES``. Click's own usage errors (a missing argument, an
option it does not know) exit with status 2 and its usage text; they are not in the table.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from avc_tui.cli import app

FAST = ["-b", "tinycnn", "--weights", "none", "--input-size", "64", "--workers", "0",
        "--normalize", "video", "--epochs", "2"]

# (name, command line with {placeholders}, a fragment of the error line). Placeholders: {ds} a
# good dataset, {bad} one holding a non-video .mp4 and a 0-byte .mp4, {empty} an empty folder,
# {tmp} a scratch folder, {video} a good video, {run} a finished run folder (experiment 1),
# {junk} a text file, {tensors} a plain state dict, {tampered} a checkpoint whose weights were
# changed. Every command gets --db (or writes nothing to a registry).
CASES = [
    ("unknown backbone", "run {ds} -b alexnet", "unknown backbone 'alexnet'"),
    ("unknown head", "run {ds} {fast} --head transformer", "unknown head 'transformer'"),
    ("near-miss head", "run {ds} {fast} --head cnn_lstm", "unknown head 'cnn_lstm'"),
    ("unknown preset", "run {ds} {fast} --preset keras", "unknown preset 'keras'"),
    ("unknown status", "ls --status done", "unknown status 'done'"),
    ("unknown export format", "export {tmp}/x.xml --format xml", "unknown export format"),
    ("unknown compare format", "compare --format pdf", "unknown format 'pdf'"),
    ("unknown paper", "compare --paper kinetics", "no paper numbers for 'kinetics'"),
    ("head option name", "run {ds} {fast} -o colour=blue", "has no option 'colour'"),
    ("head option type", "run {ds} {fast} -o hidden=abc", "bad value for an option"),
    ("head option range", "run {ds} {fast} -o hidden=-3", "bad value for an option"),
    ("head option form", "run {ds} {fast} -o hidden", "is not KEY=VALUE"),
    ("head too large to build", "run {ds} {fast} -o hidden=1000000000", "too large to build"),
    ("head too large for memory", "run {ds} {fast} -o hidden=10000000", "GiB"),
    ("epochs 0", "run {ds} {fast} --epochs 0", "epochs must be at least 1"),
    ("batch size 0", "run {ds} {fast} --batch-size 0", "batch size must be at least 1"),
    ("negative lr", "run {ds} {fast} --lr -1", "learning rate must be positive"),
    ("input size 1", "run {ds} {fast} --input-size 1", "input size 1 is too small"),
    ("unknown sampling", "run {ds} {fast} --sampling bogus", "cannot read sampling"),
    ("unknown normalisation", "run {ds} {fast} --normalize l2", "feature normalisation"),
    ("unknown resize", "run {ds} {fast} --resize cubic", "unknown resize"),
    ("unknown layout", "run {ds} {fast} --layout ucf", "unknown dataset layout 'ucf'"),
    ("unknown split", "run {ds} {fast} --layout ucf101 --split 9", "unknown split '9'"),
    ("missing dataset", "run {tmp}/nowhere {fast}", "does not exist"),
    ("empty dataset", "run {empty} {fast}", "holds no class folders"),
    ("a file as dataset", "run {junk} {fast}", "is not a folder"),
    ("info on a missing dataset", "data info {tmp}/nowhere", "does not exist"),
    ("undecodable videos", "run {bad} {fast}", "2 of 10 videos could not be decoded"),
    ("extract undecodable videos",
     "extract {bad} -b tinycnn --weights none --input-size 64 --workers 0 --cache-dir {tmp}/c",
     "2 of 10 videos could not be decoded"),
    ("missing weights file", "run {ds} {fast} --weights {tmp}/none.pt", "does not exist"),
    ("weights not tensors", "run {ds} {fast} --weights {junk}", "cannot read weights file"),
    ("weights not a state dict", "run {ds} {fast} --weights {notdict}", "state dict of tensors"),
    ("imagenet weights offline", "run {ds} -b vgg16 --weights imagenet", "not available offline"),
    ("out holds other files", "run {ds} {fast} --out {ds}", "--out"),
    ("missing checkpoint", "predict {tmp}/none.pt {video}", "does not exist"),
    ("unreadable checkpoint", "predict {junk} {video}", "cannot read checkpoint"),
    ("not an avc checkpoint", "predict {tensors} {video}", "is not an avc checkpoint"),
    ("tampered checkpoint", "predict {tampered} {video}", "does not fit the model"),
    ("unknown experiment", "predict 99 {video}", "no experiment 99"),
    ("missing video", "predict 1 {tmp}/none.mp4", "no such file"),
    ("attention on a missing video", "attention 1 {tmp}/none.mp4", "no such file"),
    ("resume a finished run", "resume 1", "is finished"),
    ("cancel a finished run", "cancel 1", "is finished, not running"),
    ("show an unknown experiment", "show 99", "no experiment 99"),
    ("remove an unknown experiment", "rm 99", "no experiment 99"),
    ("remove a running experiment", "rm 2", "is running"),
    ("a GPU and a half a job", "run {ds} {fast} --gpus-per-job 1.5", "is not a share of one GPU"),
    ("video runs in two processes", "run {ds} {fast} --processes 2", "data-parallel"),
    ("a video dataset streamed", "run {ds} {fast} --loading stream", "only the youtube8m layout"),
    ("an unknown reading", "run {ds} {fast} --loading disk", "unknown loading"),
    ("negative retries", "run {ds} {fast} --retries -1", "must be 0 or more"),
    ("address without ray", "run {ds} {fast} --address auto", "names a Ray cluster"),
]


@pytest.fixture(scope="module")
def world(easy_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the cases point at, and a registry with a finished run (1) and a running one
    (2, whose worker is this test's own process)."""
    root = tmp_path_factory.mktemp("bad-input")
    db, run = root / "base.db", root / "run"
    done = CliRunner().invoke(app, ["run", str(easy_dataset), *FAST, "--out", str(run), "--db",
                                    str(db), "--cache-dir", str(root / "cache")])
    assert done.exit_code == 0, done.output
    with sqlite3.connect(db) as connection:  # a second experiment that looks busy
        connection.execute(
            "INSERT INTO experiments (name, status, config, config_hash, dataset, split, "
            "backbone, head, preset, seed, tags, run_dir, created_at, versions, epoch, "
            "cancel_requested, host, pid, heartbeat_at) SELECT name, 'running', config, "
            "config_hash, dataset, split, backbone, head, preset, seed, tags, run_dir || '-2', "
            "created_at, versions, 0, 0, host, ?, datetime('now', '+1 day') FROM experiments",
            (os.getpid(),))
        connection.execute("UPDATE id_counters SET value = 2")
    bad = root / "bad"
    for name, source in (("a", "grow"), ("b", "shrink")):
        (bad / name).mkdir(parents=True)
        for video in sorted((easy_dataset / source).glob("*.mp4"))[:4]:
            shutil.copy(video, bad / name)
    (bad / "a" / "notes.mp4").write_text("not a video")
    (bad / "b" / "empty.mp4").write_bytes(b"")
    (root / "empty").mkdir()
    (root / "junk.txt").write_text("hello")
    torch.save({"weight": torch.zeros(2)}, root / "tensors.pt")
    torch.save([torch.zeros(2)], root / "notdict.pt")
    state = torch.load(run / "checkpoint.pt", weights_only=True)  # abdn keeps the last epoch
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(3, 3)
    del state["model"][list(state["model"])[-1]]
    torch.save(state, root / "tampered.pt")
    return {"ds": str(easy_dataset), "bad": str(bad), "empty": str(root / "empty"),
            "junk": str(root / "junk.txt"), "tensors": str(root / "tensors.pt"),
            "notdict": str(root / "notdict.pt"), "tampered": str(root / "tampered.pt"),
            "video": str(sorted((easy_dataset / "grow").glob("*.mp4"))[0]), "run": str(run),
            "db": str(db), "root": str(root), "fast": " ".join(FAST)}


def _rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        return {table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("experiments", "metric_points", "artifacts", "predictions")}


def _files(*roots: str) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for root in roots for p in Path(root).rglob("*") if p.is_file()}


@pytest.mark.parametrize(("case", "command", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_is_one_error_and_one_hint(world: dict[str, str], tmp_path: Path,
                                               case: str, command: str, fragment: str) -> None:
    db = tmp_path / "experiments.db"
    shutil.copy(world["db"], db)
    args = command.format(tmp=tmp_path, **world).split()
    users = (world["ds"], world["bad"], world["run"], world["empty"])
    before_rows, before_files = _rows(db), _files(*users)
    env = {"TORCH_HOME": str(tmp_path / "torch"), "AVC_WEIGHTS_DIR": str(tmp_path / "w"),
           "HF_HUB_CACHE": str(tmp_path / "hf"), "AVC_CACHE_DIR": str(tmp_path / "cache"),
           "AVC_RUNS_DIR": str(tmp_path / "runs")}
    result = CliRunner().invoke(app, [*args, "--db", str(db)] if args[0] not in ("extract", "data")
                                else args, env=env)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert fragment in lines[0], result.stderr
    assert "weights_only" not in result.stderr
    assert _rows(db) == before_rows, "nothing registered, nothing removed"
    assert _files(*users) == before_files, "the user's files are as they were"


def test_the_table_covers_every_case_the_issue_names() -> None:
    assert len(CASES) >= 27 and len({c[0] for c in CASES}) == len(CASES)


def test_native_decoders_print_nothing_of_their_own(world: dict[str, str], shared_data: Path,
                                                    tmp_path: Path) -> None:
    """A real process, so that FFmpeg's and decord's own writes to stderr would show."""
    bad = Path(world["bad"])
    shutil.copy(shared_data / "videos" / "edge_cases" / "corrupted.mp4",
                bad / "a" / "corrupted.mp4")
    try:
        for command in (["run", world["bad"], *FAST, "--db", str(tmp_path / "e.db")],
                        ["extract", world["bad"], "-b", "tinycnn", "--weights", "none",
                         "--input-size", "64", "--workers", "1", "--cache-dir",
                         str(tmp_path / "c")]):
            done = subprocess.run([sys.executable, "-m", "avc_tui", *command],
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 1, done.stdout + done.stderr
            lines = done.stderr.splitlines()
            assert [line.split(":")[0] for line in lines] == ["error", "hint"], done.stderr
    finally:
        (bad / "a" / "corrupted.mp4").unlink()


def test_a_video_damaged_past_its_first_frame_fails_the_run_clearly(
        world: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    """Only decoding finds damage further in: the run is registered, and fails with one error."""
    data = tmp_path / "data"
    for name, source in (("a", "grow"), ("b", "shrink")):
        (data / name).mkdir(parents=True)
        for video in sorted((Path(world["ds"]) / source).glob("*.mp4"))[:4]:
            shutil.copy(video, data / name)
    shutil.copy(shared_data / "videos" / "edge_cases" / "corrupted.mp4", data / "a")
    db = tmp_path / "e.db"
    result = CliRunner().invoke(app, ["run", str(data), *FAST, "--db", str(db), "--cache-dir",
                                      str(tmp_path / "c")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert "decoding fails at frame 28 of 50" in lines[0]
    assert "--skip-unreadable" in lines[1]
    assert _rows(db)["experiments"] == 1
    grid = CliRunner().invoke(app, ["grid", str(data), *FAST[2:], "--backbones", "tinycnn",
                                    "--heads", "cnn-lstm", "--db", str(db), "--cache-dir",
                                    str(tmp_path / "c")])
    assert grid.exit_code == 1, grid.output
    lines = grid.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], grid.stderr
    assert lines[0] == "error: 1 experiments did not finish: 2" and "avc show 2" in lines[1]


def _full_disk(after: int):
    """A write function that writes ``after`` bytes and then finds the disk full."""

    def write(self: Path, data: bytes) -> int:
        with open(self, "wb") as handle:
            handle.write(data[:after])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    return write


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")]


def test_a_full_disk_during_extraction_is_an_error_and_leaves_nothing_half_written(
        world: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "write_bytes", _full_disk(100))
    cache = tmp_path / "cache"
    for command in (["extract", world["ds"], "-b", "tinycnn", "--weights", "none",
                     "--input-size", "32", "--workers", "0", "--cache-dir", str(cache)],
                    ["run", world["ds"], *FAST, "--input-size", "32", "--db",
                     str(tmp_path / "e.db"), "--cache-dir", str(cache), "--out",
                     str(tmp_path / "run")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
        assert "the disk is full" in lines[0] and "free some space" in lines[1]
        assert not _temporaries(tmp_path)
        assert not list(cache.rglob("*.npz")), "no feature entry was kept"


def test_a_checkpoint_that_does_not_fit_on_the_disk_is_an_error(
        world: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.checkpoint

    def full(payload, path) -> None:
        Path(path).write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(core.checkpoint.torch, "save", full)
    db = tmp_path / "e.db"
    result = CliRunner().invoke(app, ["run", world["ds"], *FAST, "--db", str(db), "--out",
                                      str(tmp_path / "run"), "--cache-dir",
                                      str(Path(world["root"]) / "cache")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert "the disk is full" in lines[0], result.stderr
    assert not _temporaries(tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    with sqlite3.connect(db) as connection:
        [(status, error)] = connection.execute("SELECT status, error FROM experiments")
    assert status == "failed" and "the disk is full" in error and "hint: " in error
