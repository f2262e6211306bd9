"""What users of other command-line tools expect of avc's: `--version`, shell completion of
names and experiment ids, no type shown for flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app
from avc_tui.cli.app import COMMANDS, DATA_COMMANDS
from avc_tui.registry import Registry


def test_version_names_what_decides_the_numbers() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[:3] == ["avc", "torch", "torchvision"]
    assert "av" in names and any(line.startswith("PyAV's FFmpeg libraries: libavcodec")
                                 or "libavcodec" in line for line in lines)
    assert lines[-1].startswith("CUDA ")


@pytest.mark.parametrize("command", [*([c] for c in COMMANDS), *(["data", c]
                                                                 for c in DATA_COMMANDS), []])
def test_help_shows_no_type_for_flags(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout


def _complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last word of ``words``."""
    parts = words.split(" ")
    result = CliRunner().invoke(app, [], prog_name="avc", env={
        "_AVC_COMPLETE": "complete_bash", "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1), **(env or {})})
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_completion_of_names() -> None:
    assert _complete("avc run data --head cnn-l") == ["cnn-lstm", "cnn-lstm-attention"]
    assert _complete("avc run data -b vgg") == ["vgg16", "vgg19"]
    assert _complete("avc grid data --backbones vgg16,res") == ["vgg16,resnet50",
                                                                "vgg16,resnet34"]
    assert _complete("avc grid data --heads gl") == ["gla"]
    assert _complete("avc run data --layout ucf") == ["ucf101", "ucf11"]
    assert _complete("avc run data --preset ") == ["abdn", "modern"]


def test_completion_of_experiment_ids(tmp_path: Path, easy_config) -> None:
    db = str(tmp_path / "r.db")
    with Registry(db) as registry:
        for _ in range(12):
            registry.create(easy_config(tmp_path), runs_root=tmp_path / "runs")
    assert _complete(f"avc show --db {db} 1") == ["12", "11", "10", "1"]
    assert _complete("avc cancel 1", env={"AVC_DB_URL": db}) == ["12", "11", "10", "1"]
    assert _complete(f"avc predict --db {db} 1") == ["12", "11", "10", "1"]
    assert _complete(f"avc predict --db {db} runs/") == [], "a path: the shell's own files"


def _json(*args: str, code: int = 0, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_every_command_that_reads_speaks_json(small_dataset: Path, tmp_path: Path) -> None:
    catalog = _json("models")
    assert "vgg16" in [b["name"] for b in catalog["backbones"]]
    assert {"cnn-lstm", "gla"} <= {h["name"] for h in catalog["heads"]}
    info = _json("data", "info", str(small_dataset))
    assert info["train"] + info["test"] == 8 and len(info["classes"]) == 2
    fast = ["--weights", "none", "--input-size", "48", "--workers", "0",
            "--cache-dir", str(tmp_path / "cache")]
    extracted = _json("extract", str(small_dataset), "-b", "tinycnn", *fast)
    assert (extracted["extracted"], extracted["cached"], extracted["unreadable"]) == (8, 0, {})
    db = str(tmp_path / "r.db")
    env = {"AVC_RUNS_DIR": str(tmp_path / "runs")}
    runs = _json("grid", str(small_dataset), "--backbones", "tinycnn", "--heads",
                 "cnn-lstm,cnn-lstm-attention", "--epochs", "1", *fast, "--db", db, env=env)
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert all(r["test"]["top1"] is not None for r in runs)
    with Registry(db) as registry:
        queued = registry.create(registry.config(1), runs_root=tmp_path / "runs")
    cancelled = _json("cancel", str(queued.id), "--db", db)
    assert cancelled == [{"id": queued.id, "name": queued.name, "status": "cancelled",
                          "cancel_requested": False}]
    removed = _json("rm", "1", str(queued.id), "--db", db)
    assert [r["id"] for r in removed["removed"]] == [1, queued.id]
    assert removed["group"] is None and removed["files"] is False


def test_times_read_as_people_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as clock
    from datetime import datetime, timedelta

    from avc_tui.formatting import fmt_age, fmt_time

    stamp = datetime(2026, 12, 5, 1, 2, 3, 456789)  # the registry's naive UTC
    assert fmt_time(stamp) == "2026-12-05 01:02:03" and fmt_time(None) == "—"
    monkeypatch.setenv("TZ", "Europe/Berlin")
    clock.tzset()
    try:
        assert fmt_time(stamp) == "2026-12-05 02:02:03", "local time"
    finally:
        monkeypatch.setenv("TZ", "UTC")
        clock.tzset()
    ages = [fmt_age(stamp - timedelta(seconds=s), stamp)
            for s in (0, 59, 60, 3599, 3600, 47 * 3600, 2 * 86400, 27 * 86400, 40 * 86400)]
    assert ages == ["0 s ago", "59 s ago", "1 min ago", "59 min ago", "1 h ago", "47 h ago",
                    "2 d ago", "27 d ago", "2026-10-26"]


@pytest.fixture
def logs_reset(monkeypatch: pytest.MonkeyPatch):
    from avc_tui import logs

    monkeypatch.delenv(logs.ENV, raising=False)
    yield
    logs.reset()


def test_verbose_logs_timestamped_lines_to_stderr(logs_reset, small_dataset: Path,
                                                  tmp_path: Path) -> None:
    import re

    fast = ["extract", str(small_dataset), "-b", "tinycnn", "--weights", "none", "--input-size",
            "40", "--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    quiet = CliRunner().invoke(app, fast)
    assert quiet.exit_code == 0 and "core.features" not in quiet.stderr
    loud = CliRunner().invoke(app, ["-v", *fast[:-1], str(tmp_path / "cache2")])
    assert loud.exit_code == 0, loud.output
    lines = [line for line in loud.stderr.splitlines() if "core.features" in line]
    assert len(lines) == 2
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +core\.features: ", line)
               for line in lines)
    assert "extracting 8 of 8 videos with tinycnn at 40 px" in lines[0]
    bad = CliRunner().invoke(app, ["--log-level", "loud", "ls"])
    assert bad.exit_code == 2 and "unknown log level 'loud'" in bad.output


def test_a_worker_s_log_file_has_timestamped_lines(logs_reset, small_dataset: Path,
                                                   easy_config, tmp_path: Path) -> None:
    import re

    from avc_tui.runner.devices import Slot
    from avc_tui.runner.executor import Job, LocalExecutor

    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(small_dataset, epochs=2), runs_root=tmp_path / "runs")
        log = Path(row.run_dir) / "worker.log"
        handle = LocalExecutor().submit(Job(
            row.id, registry.url, Slot("cpu", "cpu", {"CUDA_VISIBLE_DEVICES": ""}), log,
            options=["--workers", "0", "--cache-dir", str(tmp_path / "cache")]))
        assert handle.wait(timeout=300) == 0, log.read_text()
    lines = log.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +"
    assert any(re.match(stamp + r"core\.features: extracting 8 of 8 videos", line)
               for line in lines), lines
    assert any(re.match(stamp + r"core\.train: epoch 2/2: ", line) for line in lines), lines
