"""YouTube-8M features for one's own videos: the log-mel front end, VGGish weights, the PCA, and
records that read back bit-exactly with an independent TFRecord reader."""

from __future__ import annotations

import fractions
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import load_dataset
from core.data.youtube8m import dequantize, quantize, read_frame_level
from core.errors import ConfigError, WeightsUnavailable
from core.events import ExtractionFinished
from core.features import ExtractionSpec, FeatureCache
from core.sampling import Sampling
from core.yt8m_features import pipeline
from core.yt8m_features.audio import (
    EXAMPLE_FRAMES,
    LOG_OFFSET,
    MEL_BANDS,
    align,
    band_of,
    decode_audio,
    log_mel_spectrogram,
    mel_matrix,
    second_examples,
)
from core.yt8m_features.pca import Pca, PcaSums, fit_pca, load_pca
from core.yt8m_features.pipeline import (
    Yt8mFeatureOptions,
    pool_features,
    write_yt8m_records,
)
from core.yt8m_features.vggish import WEIGHTS_FILENAME, VGGish, build_vggish, embed


def write_video(path: Path, *, seconds: float = 2.0, fps: int = 10, size: int = 32,
                tone_hz: float | None = 1000.0, rate: int = 44100, channels: int = 2,
                audio_seconds: float | None = None, shade: int = 0,
                audio_start: float = 0.0) -> Path:
    """An MPEG-4 video of ``seconds`` changing grey frames; with ``tone_hz``, an AAC track of a pure
    sine of that frequency (amplitude 0.5, ``audio_seconds`` long, its first sample at
    ``audio_start`` s), else no audio stream."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        if tone_hz is not None:
            audio = container.add_stream("aac", rate=rate)
            audio.layout = "stereo" if channels == 2 else "mono"
        for index in range(int(seconds * fps)):
            image = np.full((size, size, 3), (shade + index * 20) % 256, np.uint8)
            image[: size // 2, :, 0] = 255 - shade
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if tone_hz is not None:
            t = np.arange(int((audio_seconds or seconds) * rate)) / rate
            wave = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, len(wave), 1024):
                block = np.ascontiguousarray(np.tile(wave[start:start + 1024], (channels, 1)))
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=audio.layout.name)
                frame.sample_rate, frame.pts = rate, start + int(round(audio_start * rate))
                frame.time_base = fractions.Fraction(1, rate)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def tiny_dataset(root: Path) -> Path:
    """Two classes of three 2-second videos; one video of class ``quiet`` has no audio stream."""
    for index in range(3):
        write_video(root / "beep" / f"beep{index}.mp4", tone_hz=1000.0, shade=index * 40)
        write_video(root / "quiet" / f"quiet{index}.mp4", tone_hz=None if index == 0 else 300.0,
                    shade=120 + index * 40)
    return root


# --- the audio front end -------------------------------------------------------------------------


@pytest.mark.parametrize("tone_hz", [1000.0, 3000.0])
def test_a_tone_in_a_video_peaks_in_its_mel_band(tmp_path: Path, tone_hz: float) -> None:
    path = write_video(tmp_path / "tone.mp4", seconds=3.0, tone_hz=tone_hz, rate=48000)
    track = decode_audio(path)
    assert track is not None and track.source_rate == 48000 and track.channels == 2
    assert track.seconds == pytest.approx(3.0, abs=0.1)
    # A sine of amplitude 0.5 has an RMS of 0.5 / sqrt(2): the channels are averaged, not summed.
    assert float(np.sqrt(np.mean(track.samples[8000:40000] ** 2))) == pytest.approx(0.354, abs=0.02)
    examples, padded = second_examples(track.samples, 3)
    assert examples.shape == (3, 1, EXAMPLE_FRAMES, MEL_BANDS) and padded == 0
    energy = examples.mean(dim=(0, 1, 2))
    assert int(energy.argmax()) == band_of(tone_hz)
    # Far from the tone, only the AAC codec's noise floor is left.
    assert float(energy[band_of(tone_hz)] - energy[band_of(tone_hz / 3)]) > 5.0


def test_the_log_mel_front_end_follows_vggish() -> None:
    matrix = mel_matrix()
    assert matrix.shape == (257, 64) and float(matrix[0].abs().sum()) == 0.0
    # 1 kHz is FFT bin 32 (16 kHz / 512); VGGish's nearest band for it is 19 of 0..63.
    assert band_of(1000.0) == 19 and int(matrix[32].argmax()) == 19
    # Silence is log(0.01) everywhere; 1 s at 16 kHz gives 1 + (16000 - 400) // 160 frames.
    silence = log_mel_spectrogram(np.zeros(16000, np.float32))
    assert silence.shape == (98, 64)
    assert torch.allclose(silence, torch.full_like(silence, np.log(LOG_OFFSET)))
    # Example k starts at second k; a track shorter than the video is padded with silence.
    rng = np.random.default_rng(0)
    wave = rng.normal(0, 0.1, 16000 * 2).astype(np.float32)
    examples, padded = second_examples(wave, 3)
    # The last example ends at frame 295: sample 295 * 160 + 400 = 47,600 of the 32,000 there are.
    assert padded == 47600 - 32000
    full = log_mel_spectrogram(wave)
    assert torch.allclose(examples[1, 0], full[100:196].float())
    assert torch.allclose(examples[2, 0], torch.full((96, 64), float(np.log(LOG_OFFSET))))


def test_audio_of_real_clips(shared_data: Path) -> None:
    track = decode_audio(shared_data / "videos" / "example.avi")  # MP3, 44.1 kHz
    assert track is not None and track.source_rate == 44100
    assert track.seconds == pytest.approx(5.24, abs=0.1) and np.abs(track.samples).max() <= 1.0
    assert decode_audio(shared_data / "videos" / "test.mp4") is None  # video only


# --- VGGish --------------------------------------------------------------------------------------

PORT_KEYS = [f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")] + [
    f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]


def test_vggish_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVC_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsUnavailable) as missing:
        build_vggish("audioset")
    assert WEIGHTS_FILENAME in missing.value.message and "\n" not in missing.value.message
    assert "AVC_WEIGHTS_DIR" in missing.value.hint and "--vggish-weights none" in missing.value.hint
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        build_vggish(str(tmp_path / "nowhere.pth"))

    model = build_vggish("none", seed=3)
    assert sorted(model.state_dict()) == sorted(PORT_KEYS)
    examples = torch.randn(2, 1, 96, 64)
    first = embed(model, examples)
    assert first.shape == (2, 128) and torch.equal(first, embed(build_vggish("none", seed=3),
                                                                 examples))
    assert not torch.equal(first, embed(build_vggish("none", seed=4), examples))
    assert float(first.std()) > 0

    # A file in the port's layout (plus its post-processing tensors) loads from $AVC_WEIGHTS_DIR.
    state = {**model.state_dict(), "pproc._pca_means": torch.zeros(128, 1)}
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / WEIGHTS_FILENAME)
    assert torch.equal(embed(build_vggish("audioset"), examples), first)
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailable, match="does not fit VGGish"):
        build_vggish(str(tmp_path / "bad.pth"))


# --- PCA -----------------------------------------------------------------------------------------


def test_fitted_pca_whitens_like_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) + 3.0
    pca = fit_pca(x, 6)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    top = np.argsort(values)[::-1][:6]
    expected = (x - x.mean(0)) @ vectors[:, top] / np.sqrt(values[top] + 1e-4)
    got = pca.apply(x)
    assert got.dtype == np.float32 and got.shape == (400, 6)
    # Eigenvectors are defined up to sign.
    np.testing.assert_allclose(np.abs(got), np.abs(expected), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.cov(got, rowvar=False), np.eye(6), atol=1e-3)
    # Saved in google's layout and loaded back: the same projection.
    pca.save(tmp_path / "pca")
    assert np.load(tmp_path / "pca" / "mean.npy").shape == (16, 1)
    assert np.load(tmp_path / "pca" / "eigenvecs.npy").shape == (6, 16)
    again = load_pca(tmp_path / "pca", 6)
    np.testing.assert_allclose(again.apply(x), got, atol=1e-4)
    assert again.info["fitted_on_seconds"] == 400


def test_google_layout_pca_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    dims, keep = 12, 5
    mean = rng.normal(size=(dims, 1)).astype(np.float32)
    eigenvals = np.sort(rng.uniform(0.1, 4, size=(dims, 1)).astype(np.float32), axis=0)[::-1]
    eigenvecs = np.linalg.qr(rng.normal(size=(dims, dims)))[0].astype(np.float32)
    for name, array in (("mean", mean), ("eigenvals", eigenvals), ("eigenvecs", eigenvecs)):
        np.save(tmp_path / f"{name}.npy", array)
    x = rng.normal(size=(7, dims)).astype(np.float32)
    # google's feature_extractor.py: mean[:, 0], eigenvals[:k, 0], eigenvecs.T[:, :k].
    expected = (x - mean[:, 0]) @ eigenvecs.T[:, :keep] / np.sqrt(eigenvals[:keep, 0] + 1e-4)
    np.testing.assert_allclose(load_pca(tmp_path, keep).apply(x), expected, rtol=1e-5, atol=1e-5)

    with pytest.raises(ConfigError, match="fewer than the 13 needed"):
        load_pca(tmp_path, 13)
    with pytest.raises(ConfigError, match="cannot take features of shape"):
        load_pca(tmp_path, keep).apply(x[:, :4])
    np.save(tmp_path / "eigenvecs.npy", eigenvecs[:, :10])
    with pytest.raises(ConfigError, match=r"eigenvecs.npy has shape \(12, 10\)"):
        load_pca(tmp_path, keep)
    (tmp_path / "mean.npy").unlink()
    with pytest.raises(ConfigError, match="mean.npy does not exist"):
        load_pca(tmp_path, keep)
    with pytest.raises(ConfigError, match="at least 2 seconds"):
        fit_pca(np.ones((1, 4)), 2)


# --- records -------------------------------------------------------------------------------------


def test_quantised_bytes_survive_the_dequantised_writer() -> None:
    q = np.arange(256, dtype=np.uint8)
    assert np.array_equal(quantize(dequantize(q)), q)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    """The tiny dataset written as records with random Inception and VGGish weights."""
    base = tmp_path_factory.mktemp("yt8m_features")
    dataset = load_dataset(tiny_dataset(base / "videos"), layout="folders", split="abdn")
    cache = FeatureCache(base / "cache")
    options = Yt8mFeatureOptions(inception_weights="none", vggish_weights="none", workers=0,
                                 device="cpu")
    events: list = []
    report = write_yt8m_records(dataset, base / "out", cache, options, callbacks=[events.append])
    base.joinpath("events").write_text(repr([e for e in events
                                              if isinstance(e, ExtractionFinished)]))
    return dataset, cache, report, base


def _expected_bytes(video: Path, out: Path, cache: FeatureCache,
                    vggish) -> tuple[np.ndarray, np.ndarray]:
    """Recompute one video's quantised features from its cached Inception maps, its audio and the
    PCA the run saved."""
    spec = ExtractionSpec.create("inceptionv3", weights="none", input_size=299,
                                 sampling=Sampling.parse("fps:1:max=300"), device="cpu")
    rgb_raw = pool_features(cache.load(spec, cache.video_hash(video)).features)
    rgb = quantize(load_pca(out / "pca" / "rgb", 1024).apply(rgb_raw))
    track = decode_audio(video)
    if track is None:
        return rgb, np.zeros((len(rgb), 128), np.uint8)  # --no-audio zeros: google's byte 0
    examples, _ = second_examples(track.samples, len(rgb))
    audio_raw = embed(vggish, examples).numpy()
    return rgb, quantize(load_pca(out / "pca" / "audio", 128).apply(audio_raw))


def test_records_read_back_bit_exactly_with_an_independent_reader(written) -> None:
    from tfrecord.reader import sequence_loader

    dataset, cache, report, base = written
    out = base / "out"
    assert [p.name for p in report.files] == ["train0000.tfrecord", "validate0000.tfrecord"]
    assert report.videos == {"train": len(dataset.train), "validate": len(dataset.test)}
    assert report.flagged_no_audio == ["quiet/quiet0.mp4"] and not report.unreadable
    independent = {}
    for path in report.files:
        for context, lists in sequence_loader(str(path), None, ["id", "labels"],
                                              ["rgb", "audio"]):
            independent[context["id"].decode()] = (context["labels"], lists)
    assert len(independent) == 6
    ours = {v.id: v for v in read_frame_level(report.files, num_classes=2)[0]}
    vggish = build_vggish("none")
    for item in dataset.items():
        vid = Path(item.path).relative_to(dataset.root).as_posix()
        labels, lists = independent[vid]
        assert list(labels) == [item.label] and ours[vid].labels == (item.label,)
        rgb, audio = _expected_bytes(Path(item.path), out, cache, vggish)
        assert len(rgb) == 2  # 2 s at 1 fps
        assert np.array_equal(np.stack([np.frombuffer(r, np.uint8) for r in lists["rgb"]]), rgb)
        assert np.array_equal(np.stack([np.frombuffer(a, np.uint8) for a in lists["audio"]]), audio)
        assert np.array_equal(quantize(ours[vid].rgb), rgb)
        assert np.array_equal(quantize(ours[vid].audio), audio)
    # The tfrecord package hands each step's single bytes value over as it is.
    assert all(isinstance(step, bytes)
               for _, lists in independent.values() for step in lists["rgb"])
    # The rgb of different videos differs (the bytes are not a constant).
    assert len({independent[v][1]["rgb"][0] for v in independent}) == 6
    assert (out / "vocabulary.csv").read_text() == "Index,Name\n0,beep\n1,quiet\n"
    split1 = load_dataset(out, layout="youtube8m", split="1")
    assert split1.classes == ["beep", "quiet"] and len(split1.train) == len(dataset.train)


def test_a_video_without_audio_is_flagged_or_skipped(written) -> None:
    dataset, cache, report, base = written
    [flagged] = [v for v in read_frame_level(report.files, num_classes=2)[0]
                 if v.id == "quiet/quiet0.mp4"]
    assert np.array_equal(quantize(flagged.audio), np.zeros((2, 128), np.uint8))
    saved = json.loads((base / "out" / "report.json").read_text())
    assert saved["flagged_no_audio"] == ["quiet/quiet0.mp4"] and saved["skipped_no_audio"] == []

    # Skipped: left out and listed; a later run loads the first run's PCA.
    out = base / "skip"
    pca = base / "out" / "pca"
    options = Yt8mFeatureOptions(inception_weights="none", vggish_weights="none", workers=0,
                                 device="cpu", no_audio="skip", rgb_pca=pca / "rgb",
                                 audio_pca=pca / "audio")
    skipped = write_yt8m_records(dataset, out, cache, options)
    assert skipped.skipped_no_audio == ["quiet/quiet0.mp4"] and not skipped.flagged_no_audio
    ids = {v.id for v in read_frame_level(skipped.files, num_classes=2)[0]}
    assert len(ids) == 5 and "quiet/quiet0.mp4" not in ids
    assert skipped.rgb_pca.startswith("loaded from") and not (out / "pca").exists()
    assert skipped.rgb_cached == 5
    with pytest.raises(ConfigError, match="already holds YouTube-8M records"):
        write_yt8m_records(dataset, out, cache, options)
    with pytest.raises(ConfigError, match="no-audio"):
        Yt8mFeatureOptions(no_audio="silence")
    assert isinstance(load_pca(base / "out" / "pca" / "audio", 128), Pca)


# --- reference implementations and review findings -----------------------------------------------


def _reference_log_mel(data: np.ndarray) -> np.ndarray:
    """tensorflow/models research/audioset/vggish mel_features.log_mel_spectrogram with
    vggish_params, written out in numpy."""
    window_length, hop_length = int(round(16000 * 0.025)), int(round(16000 * 0.010))
    fft_length = 2 ** int(np.ceil(np.log(window_length) / np.log(2.0)))
    num_frames = 1 + int(np.floor((len(data) - window_length) / hop_length))
    frames = np.lib.stride_tricks.as_strided(
        data, shape=(num_frames, window_length),
        strides=(data.strides[0] * hop_length, data.strides[0]))
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi / window_length * np.arange(window_length))
    spectrogram = np.abs(np.fft.rfft(frames * periodic_hann, int(fft_length)))

    def hertz_to_mel(hertz):
        return 1127.0 * np.log(1.0 + hertz / 700.0)

    bins_mel = hertz_to_mel(np.linspace(0.0, 16000 / 2.0, fft_length // 2 + 1))
    edges = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 64 + 2)
    weights = np.empty((fft_length // 2 + 1, 64))
    for i in range(64):
        lower, center, upper = edges[i:i + 3]
        weights[:, i] = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower),
                                                   (upper - bins_mel) / (upper - center)))
    weights[0, :] = 0.0
    return np.log(np.dot(spectrogram, weights) + 0.01)


def test_log_mel_matches_a_numpy_reference_of_vggish_mel_features() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(16000 * 2 + 321) / 16000
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.05, len(t))
    ours = log_mel_spectrogram(wave.astype(np.float64)).numpy()
    expected = _reference_log_mel(wave)
    assert ours.shape == expected.shape == (1 + (len(wave) - 400) // 160, 64)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_chunked_examples_equal_the_unchunked_computation() -> None:
    wave = np.random.default_rng(6).normal(0, 0.1, 16000 * 7 + 123).astype(np.float32)
    chunked, padded = second_examples(wave, 9, chunk_seconds=2)
    whole, padded_whole = second_examples(wave, 9, chunk_seconds=60)
    full = log_mel_spectrogram(np.concatenate([wave, np.zeros(padded, np.float32)]))
    index = (torch.arange(9) * 100)[:, None] + torch.arange(96)
    assert padded == padded_whole and torch.equal(chunked, whole)
    assert torch.equal(whole[:, 0], full[index].float())


def _port_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """torchvggish's VGG.forward, layer by layer from the state dict."""
    import torch.nn.functional as F

    for index in (0, 3, 6, 8, 11, 13):
        x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"],
                            padding=1))
        if index in (0, 3, 8, 13):
            x = F.max_pool2d(x, 2, 2)
    x = torch.transpose(x, 1, 3)
    x = torch.transpose(x, 1, 2)
    x = x.contiguous().view(x.size(0), -1)
    for index in (0, 2, 4):
        x = F.relu(F.linear(x, state[f"embeddings.{index}.weight"],
                            state[f"embeddings.{index}.bias"]))
    return x


def test_vggish_flattens_as_the_torchvggish_port() -> None:
    model = build_vggish("none", seed=1)
    x = torch.randn(2, 1, 96, 64)
    with torch.no_grad():
        expected = _port_forward(model.state_dict(), x)
        assert torch.allclose(model(x), expected, atol=1e-5, rtol=1e-4)
        # The NCHW order gives other embeddings: the test can tell the orders apart.
        wrong = model.embeddings(model.features(x).flatten(1))
    assert not torch.allclose(wrong, expected, atol=1e-3)
    assert isinstance(model, VGGish)


def test_an_unreadable_vggish_file_gets_a_vggish_hint(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailable) as error:
        build_vggish(str(tmp_path / "junk.pth"))
    assert "--vggish-weights" in error.value.hint and "--weights imagenet" not in error.value.hint


def test_audio_aligns_to_the_video_start(tmp_path: Path) -> None:
    late = np.arange(1, 4, dtype=np.float32)
    assert np.array_equal(align(late, 2 / 16000), [0, 0, 1, 2, 3])
    assert np.array_equal(align(late, -1 / 16000), [2, 3])
    assert np.array_equal(align(late, 0.0), late)
    path = write_video(tmp_path / "late.mp4", seconds=3.0, tone_hz=1000.0, audio_seconds=2.0,
                       audio_start=1.0, channels=1)
    track = decode_audio(path)
    assert track.offset == pytest.approx(1.0, abs=0.03)
    loud = np.flatnonzero(np.abs(track.samples) > 0.05)
    assert loud[0] / 16000 == pytest.approx(1.0, abs=0.01)
    examples, _ = second_examples(track.samples, 3)
    energy = examples[:, 0, :, band_of(1000.0)].mean(dim=1)
    assert float(energy[1] - energy[0]) > 5.0  # second 0 is the silence before the audio
    # Decoding stops once the samples asked for are in.
    assert len(decode_audio(path, max_samples=20000).samples) == 20000


def test_pca_beyond_the_rank_stays_at_the_mean(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 16))
    pca = fit_pca(x, 8)
    assert pca.info["rank"] == 4  # 5 centred rows
    assert not pca.eigenvecs[:, 4:].any() and not pca.eigenvals[4:].any()
    pca.save(tmp_path / "pca")
    loaded = load_pca(tmp_path / "pca", 8, dims=16)
    test = quantize(loaded.apply(rng.normal(size=(3, 16)) * 5))
    assert (test[:, 4:] == 128).all() and loaded.by_avc
    # Running sums over several videos fit what the concatenated rows fit.
    y = rng.normal(size=(60, 16)) @ rng.normal(size=(16, 16)) + 50.0
    sums = PcaSums(16).add(y[:7]).add(y[7:30]).add(y[30:])
    whole, parts = fit_pca(y, 6), sums.fit(6)
    np.testing.assert_allclose(parts.mean, whole.mean, atol=1e-9)
    np.testing.assert_allclose(parts.eigenvals, whole.eigenvals, rtol=1e-8)
    np.testing.assert_allclose(parts.eigenvecs, whole.eigenvecs, atol=1e-7)
    with pytest.raises(ConfigError, match="takes 16-dimensional features") as error:
        load_pca(tmp_path / "pca", 8, dims=2048)
    assert "avc run" not in error.value.hint


def test_the_pipeline_reports_rank_events_and_byte_zero(written) -> None:
    dataset, cache, report, base = written
    saved = json.loads((base / "out" / "report.json").read_text())
    assert saved["no_audio"] == "zeros" and saved["no_audio_byte"] == 0
    # 3 training videos of 2 s: far fewer seconds than components.
    assert any("rgb PCA" in w and "rank" in w for w in saved["warnings"])
    assert any("audio PCA" in w and "rank" in w for w in saved["warnings"])
    info = json.loads((base / "out" / "pca" / "rgb" / "pca.json").read_text())
    assert info["writer"] == "avc" and info["rank"] < 1024
    assert not list((base / "out").glob(".yt8m-partial-*"))
    # The VGGish pass counts the 5 videos that have audio, none failed, 2 s each.
    assert "ExtractionFinished(backbone='vggish', total_videos=5, extracted=5, cached=0, " \
           "failed=0, frames=10" in (base / "events").read_text()


def _options(**kwargs) -> Yt8mFeatureOptions:
    return Yt8mFeatureOptions(inception_weights="none", vggish_weights="none", workers=0,
                              device="cpu", **kwargs)


def test_fail_fast_before_extraction(written, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, cache, report, base = written
    pca = base / "out" / "pca"

    def no_extraction(*args, **kwargs):
        raise AssertionError("extraction started")

    monkeypatch.setattr("core.features.extract_features", no_extraction)
    (tmp_path / "file").write_text("x")
    for out, options, fragment in (
            (tmp_path / "file", _options(), "is an existing file"),
            (tmp_path / "file" / "sub", _options(), "is not a folder"),
            (tmp_path / "a", _options(rgb_pca=pca / "audio"), "--rgb-pca"),
            (tmp_path / "b", _options(audio_pca=pca / "rgb"), "--audio-pca")):
        with pytest.raises(ConfigError, match=fragment) as error:
            write_yt8m_records(dataset, out, cache, options)
        assert "avc data yt8m-records" in error.value.hint or "--" in error.value.hint
        assert "avc run --help" not in error.value.hint
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_crash_leaves_no_records_and_a_rerun_works(written, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dataset, cache, report, base = written
    out = tmp_path / "out"
    real = pipeline.write_frame_level
    calls = []

    def crash_on_second(path, videos):
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(path, videos)

    monkeypatch.setattr(pipeline, "write_frame_level", crash_on_second)
    pca = base / "out" / "pca"
    with pytest.raises(RuntimeError):  # after fitting the audio PCA (the rgb one is slow to fit)
        write_yt8m_records(dataset, out, cache, _options(videos_per_file=2, rgb_pca=pca / "rgb"))
    assert not list(out.glob("*.tfrecord")) and not (out / "pca").exists()
    assert not list(out.glob(".yt8m-partial-*"))
    # A killed run's leftovers (a process that no longer exists) are removed by the next run.
    stale = out / ".yt8m-partial-999999999-dead"
    stale.mkdir(parents=True)
    (stale / "train0000.tfrecord").write_bytes(b"")
    monkeypatch.setattr(pipeline, "write_frame_level", real)
    again = write_yt8m_records(dataset, out, cache, _options(
        videos_per_file=2, rgb_pca=pca / "rgb", audio_pca=pca / "audio"))
    assert not stale.exists() and any("interrupted" in w for w in again.warnings)
    assert (len(dataset.train), len(dataset.test)) == (4, 2)
    assert [p.name for p in again.files] == ["train0000.tfrecord", "train0001.tfrecord",
                                             "validate0000.tfrecord"]
    assert sorted(p.name for p in out.glob("*.tfrecord")) == [p.name for p in again.files]


def test_google_layout_pca_warns_and_no_training_audio_is_consistent(
        written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    dataset, cache, report, base = written
    google = tmp_path / "google"
    shutil.copytree(base / "out" / "pca" / "rgb", google)
    (google / "pca.json").unlink()
    train = {Path(item.path) for item in dataset.train}
    real = pipeline.has_audio_stream
    monkeypatch.setattr(pipeline, "has_audio_stream",
                        lambda path: Path(path) not in train and real(path))
    events: list = []
    got = write_yt8m_records(dataset, tmp_path / "out", cache, _options(rgb_pca=google),
                             callbacks=[events.append])
    assert any("inception-2015-12-05" in w and "not YouTube-8M-compatible" in w
               for w in got.warnings)
    # No training video has audio: the test videos' audio is handled as missing, and said so.
    written_videos = read_frame_level(got.files, num_classes=2)[0]
    assert sorted(got.flagged_no_audio) == sorted(v.id for v in written_videos)
    assert any("no audio PCA" in w for w in got.warnings) and got.audio_pca.startswith("none")
    assert all((quantize(v.audio) == 0).all() for v in written_videos)
    [finished] = [e for e in events if isinstance(e, ExtractionFinished)
                  and e.backbone == "vggish"]
    assert finished.total_videos == 0 and finished.failed == 0
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["warnings"] == got.warnings


def test_an_audio_failure_is_counted(written, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import VideoDecodeError

    dataset, cache, report, base = written
    bad = Path(dataset.train[0].path)
    real = pipeline.decode_audio

    def decode(path, **kwargs):
        if Path(path) == bad:
            raise VideoDecodeError(f"cannot decode the audio of {path}")
        return real(path, **kwargs)

    monkeypatch.setattr(pipeline, "decode_audio", decode)
    events: list = []
    pca = base / "out" / "pca"
    got = write_yt8m_records(dataset, tmp_path / "out", cache,
                             _options(rgb_pca=pca / "rgb", audio_pca=pca / "audio",
                                      no_audio="mean"), callbacks=[events.append])
    [finished] = [e for e in events if isinstance(e, ExtractionFinished)
                  and e.backbone == "vggish"]
    assert (finished.total_videos, finished.extracted, finished.failed) == (5, 4, 1)
    assert list(got.unreadable) == [pipeline.video_id(dataset.train[0], dataset.root)]
    [mute] = [v for v in read_frame_level(got.files, num_classes=2)[0]
              if v.id == "quiet/quiet0.mp4"]
    assert (quantize(mute.audio) == 128).all()  # --no-audio mean
