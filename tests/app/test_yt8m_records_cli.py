"""`avc data yt8m-records`: a folder of videos → YouTube-8M records that `--layout youtube8m`
reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app
from tests.core.test_yt8m_features import write_video

runner = CliRunner()
FAST = ["--weights", "none", "--vggish-weights", "none", "--workers", "0", "--device", "cpu"]


def avc(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert any(line.startswith("hint:") for line in result.stderr.splitlines()), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yt8m_cli") / "videos"
    for index in range(2):
        write_video(root / "low" / f"low{index}.mp4", tone_hz=400.0, shade=index * 50)
        write_video(root / "high" / f"high{index}.mp4", tone_hz=2500.0, shade=100 + index * 50)
    write_video(root / "high" / "mute.mp4", tone_hz=None, shade=220)
    return root


def test_records_from_a_folder_of_videos_train_with_the_youtube8m_layout(
        videos: Path, tmp_path: Path) -> None:
    from core.data import load_dataset

    out, cache = tmp_path / "records", tmp_path / "cache"
    result = avc("data", "yt8m-records", videos, out, *FAST, "--cache-dir", cache, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["files"] == ["train0000.tfrecord", "validate0000.tfrecord"]
    assert sum(body["videos"].values()) == 5 and body["seconds_of_video"] == 10
    assert body["flagged_no_audio"] == ["high/mute.mp4"] and body["unreadable"] == {}
    assert body["rgb_pca"].startswith("fitted on") and body["no_audio_byte"] == 0
    assert any("rank" in w for w in body["warnings"])  # 4 training videos of 2 s
    assert (out / "pca" / "rgb" / "eigenvecs.npy").is_file()
    assert json.loads((out / "report.json").read_text())["vggish"] == "none:seed0"

    dataset = load_dataset(out, layout="youtube8m", split="1")
    assert dataset.classes == ["high", "low"] and dataset.multilabel
    assert (len(dataset.train), len(dataset.test)) == (body["videos"]["train"],
                                                        body["videos"]["validate"])
    features = dataset.load_features(dataset.train)
    assert all(f.shape == (2, 1152) for f in features)

    # Test videos of a later run go through the PCA fitted here; the Inception maps are cached.
    again = tmp_path / "again"
    result = avc("data", "yt8m-records", videos, again, *FAST, "--cache-dir", cache,
                 "--rgb-pca", out / "pca" / "rgb", "--audio-pca", out / "pca" / "audio",
                 "--no-audio", "skip")
    assert result.exit_code == 0, result.output
    assert "no audio high/mute.mp4: skipped" in result.stdout
    assert "rgb PCA loaded from" in " ".join(result.stdout.split())
    assert "4 videos' rgb cached" in result.stdout.replace("\n", " ")  # mute.mp4 is skipped
    assert "features:" not in result.stdout  # one summary, not the extraction's own
    assert "warning" not in result.stdout  # the PCA that avc fitted loads without one


def test_help_says_what_google_s_pca_is_and_the_300_second_cap() -> None:
    result = avc("data", "yt8m-records", "--help", env={"COLUMNS": "200"})
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "inception-2015-12-05" in text and "not YouTube-8M-compatible" in text
    assert "max_num_frames=300" in text and "[default: 300]" in text
    assert "byte 0" in text


def test_bad_input_is_one_error_line(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _one_line_error(avc("data", "yt8m-records", videos, out, *FAST, "--no-audio", "silence"),
                    "unknown no-audio choice 'silence'")
    _one_line_error(avc("data", "yt8m-records", videos, out, *FAST, "--rgb-pca", tmp_path / "no"),
                    "PCA folder", "does not exist")
    _one_line_error(avc("data", "yt8m-records", videos, out, "--weights", "none",
                        env={"AVC_WEIGHTS_DIR": str(tmp_path / "weights"),
                             "TORCH_HOME": str(tmp_path / "torch")}),
                    "vggish-10086976.pth", "--vggish-weights none")
    _one_line_error(avc("data", "yt8m-records", tmp_path / "missing", out, *FAST))
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    _one_line_error(avc("data", "yt8m-records", videos, tmp_path / "file", *FAST),
                    "is an existing file", "avc data yt8m-records")
    _one_line_error(avc("data", "yt8m-records", videos, out, *FAST, "--videos-per-file", "0"),
                    "--videos-per-file")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    result = avc("data", "yt8m-records", videos, out, *FAST[:2], "--vggish-weights",
                 tmp_path / "junk.pth")
    _one_line_error(result, "junk.pth", "--vggish-weights")
    assert "--weights imagenet" not in result.stderr
    for result in (avc("data", "yt8m-records", videos, out, *FAST, "--max-seconds", "-1"),
                   avc("data", "yt8m-records", videos, out, *FAST, "--no-audio", "silence")):
        assert "avc run --help" not in result.stderr
    assert not out.exists()
