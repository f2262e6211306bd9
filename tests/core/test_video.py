"""Tests of core.video: both decoding backends on the real clips, sampled frames, and failures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import video
from core.errors import ConfigError, VideoDecodeError
from core.sampling import Sampling, sampled_indices
from core.video import Clip, available_backends, probe, read_frames, sample_frames

needs_decord = pytest.mark.skipif("decord" not in available_backends(), reason="decord not installed")
needs_pyav = pytest.mark.skipif("pyav" not in available_backends(), reason="PyAV not installed")
needs_torchcodec = pytest.mark.skipif(bool(video.torchcodec_problem()),
                                      reason="torchcodec cannot be used here")

# Every real clip: (frames decord indexes, average fps, 1-fps frame count), from SOURCES.md.
# The count is the number of k with k s inside the clip (k < frames / fps).
REAL_CLIPS: dict[str, tuple[int, float, int]] = {
    "R6llTwEh07w.mp4": (303, 30.0, 11),
    "RATRACE_wave_f_nm_np1_fr_goo_37.avi": (73, 30.0, 3),
    "SOX5yA1l24A.mp4": (332, 30000 / 1001, 12),
    "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi": (75, 30.0, 3),
    "TrumanShow_wave_f_nm_np1_fr_med_26.avi": (49, 30.0, 2),
    "WUzgd7C1pWA.mp4": (327, 30000 / 1001, 11),
    "demo.mp4": (280, 28.0, 10),
    "example.avi": (131, 25.0, 6),
    "flipping_a_pancake.mkv": (310, 30.0, 11),
    "part_0.mp4": (32, 30.0, 2),
    "test.avi": (164, 25.0, 7),
    "test.mp4": (300, 30.0, 10),
    "v_SoccerJuggling_g23_c01.avi": (240, 30000 / 1001, 8),
    "v_SoccerJuggling_g24_c01.avi": (251, 30000 / 1001, 9),
}
# HMDB-51 DivX AVIs: one packet more than decoded frames, and garbage timestamps on every frame.
HMDB_WAVE = [name for name in REAL_CLIPS if "_wave_" in name]
ONE_FPS = Sampling(mode="fps", fps=1.0)


@pytest.fixture(scope="module")
def one_fps_clips(real_videos: list[Path]) -> dict[str, dict[str, Clip]]:
    """1-fps clips of every real video, per backend ("auto" and the forced ones installed here)."""
    backends = ["auto", *available_backends()]
    return {b: {p.name: sample_frames(p, ONE_FPS, backend=b) for p in real_videos} for b in backends}


@pytest.fixture(scope="module")
def edge(shared_data: Path) -> Path:
    return shared_data / "videos" / "edge_cases"


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images or batches, in grey levels."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --------------------------------------------------------------------------------------------------
# Real clips at 1 fps


def test_every_real_clip_is_known(real_videos: list[Path]) -> None:
    assert sorted(p.name for p in real_videos) == sorted(REAL_CLIPS)


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_one_fps_on_every_real_clip(one_fps_clips: dict[str, dict[str, Clip]], backend: str) -> None:
    if backend not in one_fps_clips:
        pytest.skip(f"{backend} not installed")
    for name, clip in one_fps_clips[backend].items():
        num_frames, fps, expected = REAL_CLIPS[name]
        n = len(clip.indices)
        assert n == expected, name
        assert clip.frames.dtype == np.uint8, name
        assert clip.frames.shape == (n, clip.info.height, clip.info.width, 3), name
        assert clip.indices.dtype == np.int64 and clip.times.dtype == np.float64, name
        assert clip.info.num_frames == num_frames, name
        assert clip.info.fps == pytest.approx(fps, rel=1e-6), name
        assert clip.info.duration == pytest.approx(num_frames / fps, rel=1e-6), name
        # The frame shown at t = k s: within one frame period of k (the last may be rounded down).
        np.testing.assert_allclose(clip.times, np.arange(n), atol=1.0 / fps, err_msg=name)
        np.testing.assert_allclose(clip.times, clip.indices / clip.info.fps, err_msg=name)
        assert clip.frames.std() > 5, f"{name}: frames look blank"


def test_one_fps_indices_for_named_clips(one_fps_clips: dict[str, dict[str, Clip]]) -> None:
    clips = one_fps_clips["auto"]
    # 240 frames at 29.97 fps: t = 8 s is frame 240, one past the end, where ABDN's loop stops.
    assert clips["v_SoccerJuggling_g23_c01.avi"].indices.tolist() == [0, 30, 60, 90, 120, 150, 180, 210]
    assert clips["v_SoccerJuggling_g24_c01.avi"].indices.tolist() == [0, 30, 60, 90, 120, 150, 180, 210, 240]
    assert clips["demo.mp4"].indices.tolist() == list(range(0, 280, 28))
    assert clips["test.avi"].indices.tolist() == list(range(0, 164, 25))
    assert clips["SOX5yA1l24A.mp4"].indices.tolist()[-2:] == [300, 330]
    assert clips["TrumanShow_wave_f_nm_np1_fr_med_26.avi"].indices.tolist() == [0, 30]
    # part_0.mp4 lasts 1.07 s, so t = 1 s is inside it: two frames.
    assert clips["part_0.mp4"].indices.tolist() == [0, 30]


@needs_decord
@needs_pyav
def test_decord_and_pyav_agree_on_every_real_clip(one_fps_clips: dict[str, dict[str, Clip]]) -> None:
    for name, by_decord in one_fps_clips["decord"].items():
        by_pyav = one_fps_clips["pyav"][name]
        np.testing.assert_array_equal(by_decord.indices, by_pyav.indices, err_msg=name)
        assert by_decord.frames.shape == by_pyav.frames.shape, name
        assert _mad(by_decord.frames, by_pyav.frames) < 1.0, name
        assert by_decord.info.backend == "decord" and by_pyav.info.backend == "pyav"
        assert (by_decord.info.num_frames, by_decord.info.width, by_decord.info.height) == (
            by_pyav.info.num_frames,
            by_pyav.info.width,
            by_pyav.info.height,
        ), name


@needs_decord
def test_auto_prefers_pyav_and_falls_back_to_decord(
    one_fps_clips: dict[str, dict[str, Clip]], shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used = {name: clip.info.backend for name, clip in one_fps_clips["auto"].items()}
    assert set(used.values()) == {"pyav"}

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise video._BackendFailure("PyAV failed")

    monkeypatch.setitem(video._READERS, "pyav", fails)
    # decord, the last backend left, reads a file without usable timestamps without seeking.
    path = shared_data / "videos" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
    clip = sample_frames(path, ONE_FPS)
    assert clip.info.backend == "decord"
    assert _mad(clip.frames, one_fps_clips["pyav"][path.name].frames) < 1.0


# --------------------------------------------------------------------------------------------------
# HMDB-51 AVIs: garbage timestamps, one packet more than frames


@needs_decord
@pytest.mark.parametrize("name", HMDB_WAVE)
def test_hmdb_timestamps_are_garbage_but_sampling_uses_fps(shared_data: Path, name: str) -> None:
    import decord

    path = shared_data / "videos" / name
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    stamps = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0]
    assert stamps.max() < -1e15  # the premise: no usable PTS at all
    clip = sample_frames(path, ONE_FPS, backend="decord")
    assert clip.indices.tolist() == list(range(0, REAL_CLIPS[name][0], 30))
    np.testing.assert_allclose(clip.times, np.arange(len(clip.indices)))


@needs_decord
@needs_pyav
@pytest.mark.parametrize("name", HMDB_WAVE)
def test_hmdb_last_index_reads_on_both_backends(shared_data: Path, name: str) -> None:
    path = shared_data / "videos" / name
    last = REAL_CLIPS[name][0] - 1
    by_pyav = read_frames(path, [last - 1, last], backend="pyav")
    by_decord = read_frames(path, [last - 1, last], backend="decord")
    assert by_pyav.shape == by_decord.shape == (2, 240, by_pyav.shape[2], 3)
    # The last packet decodes to no frame: both backends give the last decoded frame again.
    assert _mad(by_pyav[1], by_pyav[0]) == 0.0
    assert _mad(by_decord[1], by_pyav[1]) < 1.0


@needs_decord
@needs_pyav
def test_forced_decord_does_not_seek_to_wrong_frames(shared_data: Path) -> None:
    # decord's timestamp-based seek returns a frame of another shot for index 30 of this clip.
    path = shared_data / "videos" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
    by_decord = read_frames(path, [30], backend="decord")
    by_pyav = read_frames(path, [30], backend="pyav")
    assert _mad(by_decord, by_pyav) < 1.0


# --------------------------------------------------------------------------------------------------
# Edge-case files


@pytest.mark.parametrize("backend", ["auto", "decord", "pyav"])
def test_rotation_is_applied_like_decord(edge: Path, backend: str) -> None:
    if backend != "auto" and backend not in available_backends():
        pytest.skip(f"{backend} not installed")
    rotated = sample_frames(edge / "video_90.mov", Sampling(mode="all"), backend=backend)
    upright = sample_frames(edge / "video_0.mov", Sampling(mode="all"), backend=backend)
    assert rotated.frames.shape == (3, 568, 320, 3)
    assert (rotated.info.height, rotated.info.width) == (568, 320)
    assert upright.frames.shape == (3, 320, 568, 3)
    assert (upright.info.height, upright.info.width) == (320, 568)


@needs_decord
@needs_pyav
def test_rotated_clip_agrees_across_backends_also_resized(edge: Path) -> None:
    path = edge / "video_90.mov"
    for size in [None, (100, 50)]:
        by_decord = read_frames(path, [0, 2], size=size, backend="decord")
        by_pyav = read_frames(path, [0, 2], size=size, backend="pyav")
        assert by_decord.shape == by_pyav.shape == (2, *(size or (568, 320)), 3)
        assert _mad(by_decord, by_pyav) < 3.0
        # Turned the other way round, the picture would not match: the check can tell directions apart.
        assert _mad(np.rot90(by_pyav, 2, axes=(1, 2)), by_decord) > 20.0


def test_clip_shorter_than_a_second_gives_one_frame(edge: Path) -> None:
    for backend in ["auto", "pyav"]:
        clip = sample_frames(edge / "video_0.mov", ONE_FPS, backend=backend)
        assert clip.indices.tolist() == [0]
        assert clip.times.tolist() == [0.0]
        assert clip.info.num_frames == 3
        assert clip.frames.shape == (1, 320, 568, 3)


@pytest.mark.parametrize("sampling", [ONE_FPS, Sampling(mode="all")], ids=["fps1", "all"])
@pytest.mark.parametrize("backend", ["auto", "pyav", "decord"])
def test_corrupted_file_raises_decode_error(edge: Path, sampling: Sampling, backend: str) -> None:
    if backend != "auto" and backend not in available_backends():
        pytest.skip(f"{backend} not installed")
    path = edge / "corrupted.mp4"
    with pytest.raises(VideoDecodeError) as caught:
        sample_frames(path, sampling, size=32, backend=backend)
    message = str(caught.value)
    assert str(path) in message
    expected_backends = ["decord", "pyav"] if backend == "auto" else [backend]
    assert all(f"{name}: " in message for name in expected_backends)
    if backend != "decord":
        # PyAV decodes sequentially, so it knows where decoding breaks: frames 28-49 are unreadable.
        assert "decoding fails at frame 28 of 50" in message


def test_corrupted_file_is_fine_before_the_damage(edge: Path) -> None:
    path = edge / "corrupted.mp4"
    info = probe(path)
    assert (info.num_frames, info.fps, info.width, info.height) == (50, 10.0, 1280, 720)
    frames = read_frames(path, [0, 10, 27], size=32)
    assert frames.shape == (3, 32, 32, 3)


def test_text_file_named_mp4_raises_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    path.write_text("this is not a video\n")
    for call in (lambda: probe(path), lambda: sample_frames(path, ONE_FPS)):
        with pytest.raises(VideoDecodeError, match="x.mp4") as caught:
            call()
        assert "cannot be opened as a video" in str(caught.value)


def test_missing_file_raises_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.avi"
    for call in (lambda: probe(path), lambda: sample_frames(path, ONE_FPS), lambda: read_frames(path, [0])):
        with pytest.raises(VideoDecodeError, match="missing.avi.*no such file"):
            call()
    with pytest.raises(VideoDecodeError, match="not a file"):
        probe(tmp_path)


# --------------------------------------------------------------------------------------------------
# The end-of-stream rule, on a stand-in for a PyAV container


class _FakeFrame:
    """A decoded frame whose pixels all equal its index."""

    rotation = 0
    width = 4
    height = 2

    def __init__(self, index: int) -> None:
        self.index = index

    def to_ndarray(self, **kwargs: Any) -> np.ndarray:
        return np.full((self.height, self.width, 3), self.index, dtype=np.uint8)


class _FakeContainer:
    """Decodes ``frames`` frames cleanly, then raises if ``error`` is set, else ends."""

    def __init__(self, frames: int, error: bool = False) -> None:
        self.frames = frames
        self.error = error

    def decode(self, stream: object) -> Any:
        for i in range(self.frames):
            yield _FakeFrame(i)
        if self.error:
            raise RuntimeError("Invalid data found when processing input")


def _decode_fake(container: _FakeContainer, wanted: list[int], num_frames: int) -> np.ndarray:
    frames, _, _ = video._pyav_decode(container, None, np.array(wanted), num_frames, Path("fake.avi"))
    return frames[:, 0, 0, 0]


def test_clean_end_just_before_requested_frames_repeats_the_last_frame() -> None:
    assert _decode_fake(_FakeContainer(72), [0, 30, 71, 72], 73).tolist() == [0, 30, 71, 71]
    slack = video.END_OF_STREAM_SLACK
    assert _decode_fake(_FakeContainer(72), [71 + slack], 72 + slack).tolist() == [71]


def test_clean_end_further_before_a_requested_frame_fails() -> None:
    with pytest.raises(video._BackendFailure) as caught:
        _decode_fake(_FakeContainer(70), [0, 30, 60, 73], 74)
    assert caught.value.summary == "only 70 of its 74 frames decode"


def test_decoder_error_fails_unless_all_requested_frames_came_first() -> None:
    with pytest.raises(video._BackendFailure) as caught:
        _decode_fake(_FakeContainer(28, error=True), [0, 28], 50)
    assert caught.value.summary == "decoding fails at frame 28 of 50"
    # Decoding stops after the last requested frame, so later damage is never reached.
    assert _decode_fake(_FakeContainer(28, error=True), [0, 27], 50).tolist() == [0, 27]


# --------------------------------------------------------------------------------------------------
# read_frames, probe, size


def test_read_frames_keeps_order_and_repeats(shared_data: Path) -> None:
    path = shared_data / "videos" / "v_SoccerJuggling_g23_c01.avi"
    frames = read_frames(path, [60, 0, 60, 239])
    assert frames.shape == (4, 240, 320, 3)
    assert _mad(frames[0], frames[2]) == 0.0
    assert _mad(frames[0], frames[1]) > 5.0
    np.testing.assert_array_equal(read_frames(path, np.array([0])), frames[1:2])
    assert read_frames(path, []).shape == (0, 240, 320, 3)
    with pytest.raises(IndexError, match="240"):
        read_frames(path, [0, 240])
    with pytest.raises(IndexError):
        read_frames(path, [-1])
    with pytest.raises(TypeError):
        read_frames(path, [0.5])


def test_probe_reports_count_fps_and_size(shared_data: Path) -> None:
    videos = shared_data / "videos"
    info = probe(videos / "v_SoccerJuggling_g23_c01.avi")
    assert (info.num_frames, info.width, info.height) == (240, 320, 240)
    assert info.fps == pytest.approx(29.97, abs=1e-3)
    assert info.duration == pytest.approx(8.008, abs=1e-3)
    assert info.path == videos / "v_SoccerJuggling_g23_c01.avi"
    # Matroska has no frame count in its header: PyAV counts packets, like decord.
    mkv = probe(videos / "flipping_a_pancake.mkv", backend="pyav")
    assert (mkv.num_frames, mkv.width, mkv.height, mkv.backend) == (310, 426, 240, "pyav")


@pytest.mark.parametrize("backend", ["auto", "pyav", "decord"])
def test_size_resizes_after_decoding(shared_data: Path, backend: str) -> None:
    if backend != "auto" and backend not in available_backends():
        pytest.skip(f"{backend} not installed")
    path = shared_data / "videos" / "example.avi"
    native = sample_frames(path, Sampling(mode="uniform", num_frames=3), backend=backend)
    square = sample_frames(path, Sampling(mode="uniform", num_frames=3), size=112, backend=backend)
    oblong = sample_frames(path, Sampling(mode="uniform", num_frames=3), size=(60, 90), backend=backend)
    assert native.frames.shape == (3, 240, 320, 3)
    assert square.frames.shape == (3, 112, 112, 3)
    assert oblong.frames.shape == (3, 60, 90, 3)
    # The info still describes the video, not the output frames.
    assert (square.info.width, square.info.height) == (320, 240)
    # A resize keeps the picture: the mean colour barely moves.
    np.testing.assert_allclose(square.frames.mean(axis=(1, 2)), native.frames.mean(axis=(1, 2)), atol=2.0)


@pytest.mark.parametrize("size", [0, -3, (10,), (10, 0), "112", 1.5, True])
def test_bad_size_is_a_config_error(shared_data: Path, size: Any) -> None:
    with pytest.raises(ConfigError, match="size"):
        read_frames(shared_data / "videos" / "example.avi", [0], size=size)


def test_unknown_backend_is_a_config_error(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match="ffmpeg"):
        probe(shared_data / "videos" / "example.avi", backend="ffmpeg")


def test_without_decord_everything_goes_through_pyav(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import decord` raise ImportError.
    monkeypatch.setitem(sys.modules, "decord", None)
    assert available_backends() == ["pyav"]
    clip = sample_frames(shared_data / "videos" / "v_SoccerJuggling_g24_c01.avi", ONE_FPS, size=64)
    assert clip.info.backend == "pyav"
    assert clip.indices.tolist() == [0, 30, 60, 90, 120, 150, 180, 210, 240]
    assert clip.frames.shape == (9, 64, 64, 3)
    with pytest.raises(ConfigError, match="decord.*not installed"):
        probe(shared_data / "videos" / "v_SoccerJuggling_g24_c01.avi", backend="decord")


# --------------------------------------------------------------------------------------------------
# sampled_indices through a decoder


def test_segments_rng_draws_once_even_when_decord_falls_back(shared_data: Path) -> None:
    path = shared_data / "videos" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"  # decord declines it
    tsn = Sampling(mode="segments", num_frames=4)
    clip = sample_frames(path, tsn, size=16, rng=np.random.default_rng(7))
    expected = sampled_indices(49, 30.0, tsn, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(clip.indices, expected)


# --------------------------------------------------------------------------------------------------
# Exact decoding close to the limit: keyframe seeks and skipped non-reference frames (PyAV)


@needs_pyav
def test_seeking_gives_the_frames_of_sequential_decoding_bit_for_bit(
    real_videos: list[Path], edge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = [*real_videos, edge / "video_0.mov", edge / "video_90.mov"]
    seeking = {p.name: sample_frames(p, ONE_FPS, backend="pyav") for p in clips}
    monkeypatch.setattr(video, "_seekable", lambda *args: False)
    sequential = {p.name: sample_frames(p, ONE_FPS, backend="pyav") for p in clips}
    seeked = []
    for name, clip in seeking.items():
        np.testing.assert_array_equal(clip.indices, sequential[name].indices, err_msg=name)
        np.testing.assert_array_equal(clip.frames, sequential[name].frames, err_msg=name)
        if clip.info.decoded < sequential[name].info.decoded:
            seeked.append(name)
    # The MP4 and MKV clips of several seconds decode less than the frames up to their last
    # sampled one; the AVIs decode from the start (their timestamps are not trusted).
    assert sorted(seeked) == ["R6llTwEh07w.mp4", "SOX5yA1l24A.mp4", "WUzgd7C1pWA.mp4",
                              "demo.mp4", "flipping_a_pancake.mkv", "test.mp4"]


@needs_pyav
def test_a_long_short_gop_video_decodes_near_the_keyframe_limit(tmp_path: Path) -> None:
    """60 s at 25 fps with a keyframe every 25 frames: one sampled frame a second costs about
    one GOP's reference frames, not the whole video."""
    import av

    path = tmp_path / "long.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={
            "x264-params": "keyint=25:min-keyint=25:scenecut=0:bframes=2"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(1500):
            image = np.full((48, 64, 3), i % 256, dtype=np.uint8)
            image[:, (i % 64):(i % 64) + 4] = 255 - image[:, (i % 64):(i % 64) + 4]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip = sample_frames(path, ONE_FPS, backend="pyav")
    assert clip.indices.tolist() == list(range(0, 1500, 25))
    # The sampled frames are keyframes here, each the first of its GOP: it comes out of the
    # decoder once the frames after it that it waits for (B-frame reordering) are in.
    assert clip.info.decoded <= 4 * len(clip.indices)
    again = read_frames(path, [13, 14, 700], backend="pyav")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(video, "_seekable", lambda *args: False)
    try:
        np.testing.assert_array_equal(again, read_frames(path, [13, 14, 700], backend="pyav"))
        sequential = sample_frames(path, ONE_FPS, backend="pyav")
    finally:
        monkeypatch.undo()
    np.testing.assert_array_equal(clip.frames, sequential.frames)
    assert sequential.info.decoded >= 1476


@needs_decord
@needs_pyav
@pytest.mark.parametrize("resize", ["area", "bilinear"])
def test_one_resize_for_every_backend(real_videos: list[Path], resize: str) -> None:
    """The frames are resized after decoding, in one place: a backend's resized frames are its
    native frames resized, so the backends differ only where their decoders do."""
    for path in real_videos:
        native = {b: sample_frames(path, ONE_FPS, backend=b) for b in ("decord", "pyav")}
        small = {b: sample_frames(path, ONE_FPS, backend=b, size=64, resize=resize)
                 for b in ("decord", "pyav")}
        for backend in ("decord", "pyav"):
            expected = video.resize_frames(native[backend].frames, (64, 64), resize)
            np.testing.assert_array_equal(small[backend].frames, expected, err_msg=path.name)
        if np.array_equal(native["decord"].frames, native["pyav"].frames):
            np.testing.assert_array_equal(small["decord"].frames, small["pyav"].frames)
        assert _mad(small["decord"].frames, small["pyav"].frames) < 1.0, path.name


@needs_pyav
def test_an_edit_list_cut_is_decoded_from_the_start(tmp_path: Path) -> None:
    """A stream-copied cut keeps the packets before the cut, marked discard: they decode but
    never show, so frame i is not the i-th timestamp and the seeking path must stand aside."""
    import av

    source, cut = tmp_path / "source.mp4", tmp_path / "cut.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={
            "x264-params": "keyint=25:scenecut=0:bframes=0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(25):
            image = np.full((48, 64, 3), i * 10, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(source)) as inp, av.open(str(cut), "w") as out:
        into = out.add_stream_from_template(inp.streams.video[0])
        shift = 2 * int(round(1 / (25 * inp.streams.video[0].time_base)))
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.pts -= shift
                packet.dts -= shift
                packet.stream = into
                out.mux(packet)
    packets = video._pyav_packets(av, cut)
    assert packets.discard[:3] == [True, True, False]
    with av.open(str(cut)) as container:
        stream = container.streams.video[0]
        assert not video._seekable(container, stream, packets, 25.0)
    frames = read_frames(cut, [1, 2, 10], backend="pyav")
    with av.open(str(cut)) as container:
        shown = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    # Sequential: frame i is the i-th frame out of the decoder.
    np.testing.assert_array_equal(frames, np.stack([shown[1], shown[2], shown[10]]))


# --------------------------------------------------------------------------------------------------
# torchcodec, asked for


@needs_torchcodec
@needs_pyav
def test_torchcodec_reads_pyavs_frames_and_leaves_it_the_rest(real_videos: list[Path],
                                                               edge: Path) -> None:
    """--decoder torchcodec: the files whose timestamps name their frames (MP4, MOV, MKV) come
    from torchcodec, bit for bit PyAV's; AVIs with untrusted timestamps and rotated clips go to
    PyAV."""
    read_by = {}
    for path in [*real_videos, edge / "video_0.mov", edge / "video_90.mov"]:
        ours = sample_frames(path, ONE_FPS, backend="torchcodec", size=64)
        pyavs = sample_frames(path, ONE_FPS, backend="pyav", size=64)
        np.testing.assert_array_equal(ours.frames, pyavs.frames, err_msg=path.name)
        assert ours.indices.tolist() == pyavs.indices.tolist(), path.name
        read_by[path.name] = ours.info.backend
    assert read_by["SOX5yA1l24A.mp4"] == read_by["flipping_a_pancake.mkv"] == "torchcodec"
    assert read_by["video_0.mov"] == "torchcodec"
    assert read_by["example.avi"] == read_by["video_90.mov"] == "pyav"
    assert "torchcodec" not in {c.info.backend for c in [sample_frames(real_videos[0], ONE_FPS)]}


def test_a_torchcodec_that_cannot_be_used_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(video, "torchcodec_problem", lambda: (
        "torchcodec cannot load FFmpeg's libraries (libavutil.so.59: cannot open shared object "
        "file)"))
    with pytest.raises(ConfigError, match="cannot load FFmpeg's libraries") as caught:
        video.check_decoder("torchcodec")
    assert "apt-get install ffmpeg" in caught.value.hint
    with pytest.raises(ConfigError, match="cannot load"):
        sample_frames("any.mp4", ONE_FPS, backend="torchcodec")
    with pytest.raises(ConfigError, match="unknown video decoder"):
        video.check_decoder("opencv")
    video.check_decoder("auto")
