"""The ``fps:1`` rule returns exactly the frames of ABDN's extractor, with OpenCV itself (the
library that extractor uses) as the oracle: on every real clip, and on clips at 23.976, 29.97 and
59.94 fps whose last frame lies just before or just after a whole second."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from core.sampling import Sampling
from core.video import BACKENDS, available_backends, sample_frames

ONE_FPS = Sampling("fps", fps=1.0)


def abdn_indices(path: Path) -> list[int]:
    """The frames cnn_feature_extractor.py reads: one read thrown away, then a seek to k * 1000 ms
    and a read for k = 0, 1, ... until a read fails; each read's frame number as OpenCV says."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    capture.read()
    indices, k = [], 0
    while True:
        capture.set(cv2.CAP_PROP_POS_MSEC, k * 1000)
        position = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
        ok, _ = capture.read()
        if not ok:
            return indices
        indices.append(position)
        k += 1


def _real_clips(shared_data: Path) -> list[Path]:
    return sorted(p for p in (shared_data / "videos").iterdir() if p.is_file())


def test_every_real_clip_gives_abdns_frames(shared_data: Path) -> None:
    clips = _real_clips(shared_data)
    assert len(clips) == 14
    for path in clips:
        assert sample_frames(path, ONE_FPS, size=32).indices.tolist() == abdn_indices(path), path


def _write_clip(path: Path, rate: Fraction, frames: int) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 7) % 256, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


# (frame rate, frames, frames ABDN takes): the last frame just before a whole second (k * fps
# rounds to one past it: the loop stops) and just after (that second's frame exists).
CASES = [
    (Fraction(24000, 1001), 120, 5), (Fraction(24000, 1001), 121, 6),  # 5 s = frame 119.88 -> 120
    (Fraction(30000, 1001), 240, 8), (Fraction(30000, 1001), 241, 9),  # 8 s = frame 239.76 -> 240
    (Fraction(60000, 1001), 240, 4), (Fraction(60000, 1001), 241, 5),  # 4 s = frame 239.76 -> 240
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("rate", "frames", "taken"), CASES)
def test_non_integer_frame_rates_end_where_abdns_loop_ends(tmp_path: Path, backend: str,
                                                           rate: Fraction, frames: int,
                                                           taken: int) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    path = _write_clip(tmp_path / f"clip-{float(rate):.3f}-{frames}.avi", rate, frames)
    expected = abdn_indices(path)
    assert len(expected) == taken
    clip = sample_frames(path, ONE_FPS, backend=backend)
    assert clip.info.num_frames == frames
    assert clip.indices.tolist() == expected


def test_area_resize_is_abdns_and_the_same_from_either_backend(shared_data: Path) -> None:
    """ABDN: cv2.resize(frame, (224, 224), interpolation=INTER_AREA) on the decoded frame."""
    path = shared_data / "videos" / "v_SoccerJuggling_g23_c01.avi"
    resized = {}
    for backend in available_backends():
        native = sample_frames(path, ONE_FPS, backend=backend).frames
        expected = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA)
                             for f in native])
        resized[backend] = sample_frames(path, ONE_FPS, size=224, resize="area",
                                         backend=backend).frames
        np.testing.assert_array_equal(resized[backend], expected)
    # The backends' YUV to RGB conversions differ by a grey level or two on a few pixels.
    first = next(iter(resized.values())).astype(int)
    for frames in resized.values():
        assert np.abs(frames.astype(int) - first).max() <= 2
    # Bilinear interpolation is another picture: it is a separate, recorded choice.
    bilinear = sample_frames(path, ONE_FPS, size=224, resize="bilinear").frames
    difference = np.abs(bilinear.astype(int) - first)
    assert difference.mean() > 0.1 and difference.max() > 10


def test_configs_record_the_resize() -> None:
    from core.config import ExperimentConfig
    from core.errors import ConfigError

    config = ExperimentConfig.from_dict({"data": {"root": "/data"}})
    assert config.features.resize == "bilinear"  # written before the choice was recorded
    fresh = ExperimentConfig.from_dict(config.with_changes(features={"resize": "area"}).to_dict())
    assert fresh.features.resize == "area" and fresh.hash() != config.hash()
    with pytest.raises(ConfigError, match="unknown resize 'cubic'"):
        config.with_changes(features={"resize": "cubic"})
