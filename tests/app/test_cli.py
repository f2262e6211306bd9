"""The ``avc`` command line end to end: synth, info, extract, run, predict, demo, and bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app

runner = CliRunner()

FAST = ["-b", "tinycnn", "--weights", "none", "--input-size", "64", "--workers", "0"]


def avc(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(scope="module")
def trained_run(easy_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    cache = out.parent / "cache"
    result = avc("run", easy_dataset, *FAST, "--head", "cnn-lstm-attention", "--normalize",
                 "video", "--epochs", "3", "--batch-size", "8", "--out", out, "--cache-dir", cache,
                 "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["run_dir"] == str(out) and body["status"] == "finished"
    assert body["test"]["count"] == 24 and body["epochs_run"] == 3
    return out


def test_help_lists_every_layout_and_starts_without_torch() -> None:
    import subprocess
    import sys

    from avc_tui.cli.options import LAYOUT_NAMES
    from core.data import layout_names

    assert sorted(LAYOUT_NAMES) == layout_names()
    for command in ("run", "grid", "extract"):
        assert avc(command, "--help").exit_code == 0
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from avc_tui.cli import app; "
         "from typer.testing import CliRunner; CliRunner().invoke(app, ['run', '--help']); "
         "print(sorted({'torch', 'textual', 'core.data'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_models_lists_the_registries() -> None:
    result = avc("models")
    assert result.exit_code == 0
    for name in ("vgg16", "vgg19", "inceptionv3", "resnet50", "xception", "googlenet", "resnet34",
                 "1024×7×7", "512×7×7", "tinycnn",
                 "cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm", "abdn", "modern"):
        assert name in result.stdout


def test_synth_then_info(tmp_path: Path) -> None:
    result = avc("data", "synth", tmp_path / "synth", "--videos-per-class", "1", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "wrote 8 videos" in result.stdout
    assert len(list((tmp_path / "synth").glob("*/*.mp4"))) == 8
    info = avc("data", "info", tmp_path / "synth")
    assert info.exit_code == 0, info.output
    assert "move_left" in info.stdout and "right_then_left" in info.stdout


def test_extract_fills_then_reuses_the_cache(easy_dataset: Path, tmp_path: Path) -> None:
    first = avc("extract", easy_dataset, *FAST, "--cache-dir", tmp_path)
    assert first.exit_code == 0, first.output
    assert "80 extracted, 0 already cached" in first.stdout
    second = avc("extract", easy_dataset, *FAST, "--cache-dir", tmp_path)
    assert "0 extracted, 80 already cached" in second.stdout


def test_run_prints_the_result_and_writes_the_run_folder(trained_run: Path) -> None:
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl", "result.json"):
        assert (trained_run / name).is_file()


def test_run_human_output(easy_dataset: Path, tmp_path: Path) -> None:
    result = avc("run", easy_dataset, *FAST, "--head", "cnn-lstm", "--normalize", "video",
                 "--epochs", "1", "--out", tmp_path / "r", "--cache-dir", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert "test top-1" in result.stdout and "Per-class test accuracy" in result.stdout
    assert f"run folder: {tmp_path / 'r'}" in result.stdout.replace("\n", "")


def test_predict_json_has_probabilities_and_attention(trained_run: Path,
                                                      easy_dataset: Path) -> None:
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    result = avc("predict", trained_run, video, "--json", "-k", "2")
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.stdout)
    assert len(answer["top"]) == 2
    assert set(answer["probabilities"]) == {"grow", "move_left", "move_right", "shrink"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, rel=1e-5)
    assert sum(answer["attention"]) == pytest.approx(1.0, rel=1e-5)
    assert len(answer["attention"]) == len(answer["times"])


def test_predict_shows_classes_and_attention(trained_run: Path, easy_dataset: Path) -> None:
    video = sorted((easy_dataset / "shrink").glob("*.mp4"))[0]
    result = avc("predict", trained_run / "checkpoint.pt", video)
    assert result.exit_code == 0, result.output
    assert "attention" in result.stdout.lower()
    assert any(c in result.stdout for c in ("grow", "shrink", "move_left", "move_right"))


def test_predict_reports_a_bad_video_and_keeps_the_others(trained_run: Path, easy_dataset: Path,
                                                          tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    good = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    result = avc("predict", trained_run, junk, good, "--json")
    _one_line_error(result)
    answers = json.loads(result.stdout)
    assert "junk.mp4" in answers[0]["error"]
    assert answers[1]["top"]


@pytest.mark.parametrize(("args", "fragments"), [
    (["-b", "alexnet"], ["unknown backbone 'alexnet'"]),
    (["--head", "cnn_lstm_attention"], ["did you mean 'cnn-lstm-attention'"]),
    (["--preset", "keras"], ["unknown preset"]),
    (["--sampling", "fps:zero"], ["sampling"]),
    (["--normalize", "l2"], ["unknown feature normalisation"]),
])
def test_run_rejects_bad_options(easy_dataset: Path, tmp_path: Path, args: list[str],
                                 fragments: list[str]) -> None:
    result = avc("run", easy_dataset, *FAST, *args, "--out", tmp_path / "r")
    _one_line_error(result, *fragments)


def test_missing_dataset_is_one_clear_line(tmp_path: Path) -> None:
    result = avc("run", tmp_path / "nowhere", *FAST)
    _one_line_error(result, "nowhere")


def test_missing_imagenet_weights_say_what_to_do(easy_dataset: Path, tmp_path: Path) -> None:
    env = {"TORCH_HOME": str(tmp_path / "torch"), "AVC_WEIGHTS_DIR": str(tmp_path / "w"),
           "HF_HUB_CACHE": str(tmp_path / "hf")}
    result = avc("extract", easy_dataset, "-b", "vgg16", "--cache-dir", tmp_path / "c", env=env)
    _one_line_error(result, "vgg16-397923af.pth", "--weights none")


def test_unreadable_videos_stop_the_run_unless_skipped(easy_dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for label in ("grow", "shrink"):
        (root / label).mkdir(parents=True)
        for video in sorted((easy_dataset / label).glob("*.mp4"))[:4]:
            shutil.copy(video, root / label / video.name)
    (root / "grow" / "broken.mp4").write_bytes(b"not a video")
    options = [*FAST, "--epochs", "1", "--cache-dir", tmp_path / "c"]
    result = avc("run", root, *options, "--out", tmp_path / "r1")
    _one_line_error(result, "1 of 9 videos could not be decoded", "broken.mp4",
                    "--skip-unreadable")
    skipped = avc("run", root, *options, "--out", tmp_path / "r2", "--skip-unreadable", "--json")
    assert skipped.exit_code == 0, skipped.output
    unreadable = json.loads(skipped.stdout)["unreadable"]
    assert [Path(p).name for p in unreadable] == ["broken.mp4"]


def test_demo_runs_the_whole_grid(tmp_path: Path) -> None:
    result = avc("demo", "--dir", tmp_path, "--videos-per-class", "2", "--epochs", "1",
                 "--input-size", "32", "--workers", "0", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "an 80-column terminal wraps nothing"
    assert "" not in lines, "no progress bars, nor their blank lines, in a pipe"
    assert sum("% test, " in line for line in lines) == 15
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert len(runs) == 15
    assert {r["backbone"] for r in runs} == {"vgg16", "vgg19", "inceptionv3", "resnet50",
                                              "xception"}
    table = (tmp_path / "results.md").read_text()
    assert "VGG16" in table and "cnn-attention-lstm" in table


@pytest.fixture(scope="module")
def yt8m_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Synthetic YouTube-8M records and a tiny NeXtVLAD trained on them through `avc run`,
    streamed (`--loading stream`)."""
    from core.data.youtube8m import synthesize

    root = tmp_path_factory.mktemp("yt8m") / "data"
    synthesize(root, videos_per_split=20, num_classes=5, frames=(5, 15))
    out = root.parent / "run"
    result = avc("run", root, "--layout", "youtube8m", "--split", "1", "--head", "nextvlad",
                 "--mask", "-o", "hidden=32", "-o", "clusters=4", "-o", "audio_dim=128",
                 "--epochs", "3", "--batch-size", "8", "--loading", "stream", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["data"]["loading"] == "stream"
    assert json.loads((out / "result.json").read_text())["loading"] == "stream"
    return root, out


def test_extract_with_a_decoder_that_cannot_load(small_dataset: Path, monkeypatch) -> None:
    from core import video

    monkeypatch.setattr(video, "torchcodec_problem",
                        lambda: "torchcodec cannot load FFmpeg's libraries (libavutil.so.59)")
    _one_line_error(avc("extract", small_dataset, "-b", "tinycnn", "--weights", "none",
                        "--decoder", "torchcodec"), "cannot load FFmpeg", "apt-get install")
    _one_line_error(avc("extract", small_dataset, "--decoder", "opencv"),
                    "unknown video decoder")


def test_data_info_counts_the_records_of_a_streamed_youtube8m_set(yt8m_run) -> None:
    root, _ = yt8m_run
    streamed = avc("data", "info", root, "--layout", "youtube8m", "--split", "1", "--loading",
                   "stream", "--json")
    assert streamed.exit_code == 0, streamed.output
    body = json.loads(streamed.stdout)
    assert body["streamed"] and body["train_records"] == body["test_records"] == 20
    human = avc("data", "info", root, "--layout", "youtube8m", "--split", "1", "--loading",
                "stream")
    assert "20 train / 20 test records" in human.stdout and "--loading memory" in human.stdout
    in_memory = json.loads(avc("data", "info", root, "--layout", "youtube8m", "--split", "1",
                               "--json").stdout)
    assert in_memory["train"] == 20 and "streamed" not in in_memory


def test_predict_classifies_every_record_of_youtube8m_files(yt8m_run, tmp_path: Path) -> None:
    from avc_tui.registry import Registry
    from core.config import ExperimentConfig

    root, run = yt8m_run
    records = root / "validate0000.tfrecord"
    damaged = tmp_path / "validate0001.tfrecord"
    data = bytearray(records.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one record's payload
    damaged.write_bytes(bytes(data))
    db = str(tmp_path / "experiments.db")
    with Registry(db) as registry:  # an experiment id: its answers are recorded
        row = registry.create(ExperimentConfig.from_json((run / "config.json").read_text()),
                              run_dir=run)
    result = avc("predict", row.id, records, tmp_path / "missing.tfrecord", damaged, "--json",
                 "-k", "2", "--db", db)
    assert result.exit_code == 1, result.output  # the missing file and the damaged record
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(errors) == 1 and "missing.tfrecord" in errors[0], result.stderr
    assert len(warnings) == 1 and "bad data CRC" in warnings[0], result.stderr
    answers = json.loads(result.stdout)
    good = [a for a in answers if "error" not in a]
    assert len(good) == 20 + 19 and len(answers) == 20 + 1 + 1 + 19
    assert good[0]["video"] == f"{records}#validate00000"
    assert len(good[0]["top"]) == 2 and good[0]["attention"] is None
    assert set(good[0]["probabilities"]) == {f"synthetic {c}" for c in range(5)}
    assert not math.isclose(sum(good[0]["probabilities"].values()), 1.0, abs_tol=1e-3)
    with Registry(db) as registry:
        recorded = registry.predictions(row.id)
    assert [r.video for r in recorded] == [a["video"] for a in good]


def test_predict_human_output_for_youtube8m_records(yt8m_run, easy_dataset: Path) -> None:
    root, run = yt8m_run
    result = avc("predict", run, root / "validate0000.tfrecord", "-k", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("#validate000") == 20  # one table per video
    # A video file given to a model of YouTube-8M features: one clear line.
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    _one_line_error(avc("predict", run, video), "not a YouTube-8M frame-level TFRecord")


def test_layouts_that_bring_features_mask_padding_by_default(tmp_path: Path) -> None:
    from avc_tui.control import LaunchRequest, build_configs
    from core.data.youtube8m import synthesize

    synthesize(tmp_path, videos_per_split=4, num_classes=3, frames=(2, 4))

    def _config(root: Path, *, layout: str, backbone: str | None, mask: bool | None, split="1"):
        [config] = build_configs(LaunchRequest(
            root, layout=layout, split=split, backbones=(backbone,) if backbone else (),
            heads=("nextvlad",), mask=mask, device="cpu"))
        return config

    yt8m = _config(tmp_path, layout="youtube8m", backbone=None, mask=None)
    assert yt8m.features.backbone == "yt8m" and yt8m.head.mask
    assert not _config(tmp_path, layout="youtube8m", backbone=None, mask=False).head.mask
    videos = _config(tmp_path, layout="folders", backbone=None, mask=None, split="abdn")
    assert videos.features.backbone == "vgg16" and not videos.head.mask
