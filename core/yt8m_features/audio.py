"""A video's audio as VGGish sees it: 16 kHz mono samples and log-mel examples, one per second.

VGGish's front end (tensorflow/models ``research/audioset/vggish``: ``vggish_params``,
``mel_features``, ``vggish_input``), computed here with torch in float64:

- the waveform at 16 kHz, channels averaged, samples in [-1, 1];
- frames of 25 ms (400 samples) every 10 ms (160 samples), each times a *periodic* Hann window,
  magnitude of a 512-point real FFT (257 bins, no padding at either end);
- 64 triangular mel bands between 125 and 7,500 Hz on the HTK mel scale
  (``mel = 1127 ln(1 + hz / 700)``), the triangles' slopes computed in mel, not normalised, the DC
  bin given no weight; then ``log(mel + 0.01)``;
- examples of 96 frames (0.96 s) × 64 bands.

One difference, for YouTube-8M's 1 fps: VGGish steps its examples by 0.96 s, which drifts 4 % a
second against the video's frames (26 examples in 25 s). Here example ``k`` starts at frame
``100 k``, i.e. at second ``k``, and covers 0.96 s from there, so it belongs to the frame sampled at
second ``k``. Audio missing at the end (a track a little shorter than the video, or the last
partial second) is padded with silence (zeros) and the amount reported.

Time 0 is the video stream's first frame (frame ``i`` of the rgb pass is at ``i / fps``): an audio
stream that starts later gets that much silence in front, one that starts earlier loses its lead-in
(:func:`align`). Decoding stops once the samples for the seconds asked for are in, and the log-mel
is computed :data:`CHUNK_SECONDS` of examples at a time, so memory per video stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import VideoDecodeError

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512  # the next power of two above the window
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_SAMPLES  # 100: example k starts at frame 100 k
CHUNK_SECONDS = 60  # examples per log-mel computation


@dataclass
class AudioTrack:
    """A video's first audio stream, decoded: float32 mono ``samples`` at :data:`SAMPLE_RATE`."""

    samples: np.ndarray
    source_rate: int
    channels: int
    offset: float = 0.0  # seconds the audio starts after the video (< 0: before); already applied

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def align(samples: np.ndarray, offset: float) -> np.ndarray:
    """Return 16 kHz ``samples`` that start ``offset`` seconds after the video's first frame as
    samples that start at it: ``offset > 0`` prepends that much silence, ``offset < 0`` drops the
    lead-in (rounded to whole samples)."""
    shift = int(round(offset * SAMPLE_RATE))
    samples = np.asarray(samples, dtype=np.float32)
    if shift > 0:
        return np.concatenate([np.zeros(shift, dtype=np.float32), samples])
    return samples[-shift:]


def decode_audio(path: str | Path, *, max_samples: int | None = None) -> AudioTrack | None:
    """Return the first audio stream of ``path`` resampled to 16 kHz mono and aligned to the video
    stream's start (:func:`align`), or None when the file has no audio stream.

    The channels are resampled separately (PyAV's ``AudioResampler``) and then averaged, as VGGish
    averages them; libswresample's own down-mix would weight them differently. With
    ``max_samples``, decoding stops once that many aligned samples are in, and at most that many
    are returned.

    Raises:
        VideoDecodeError: the file cannot be opened, or its audio stream cannot be decoded.
    """
    import av  # PyAV: imported here so that importing the engine does not load FFmpeg

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VideoDecodeError(f"cannot open {path}: {exc}") from exc
    chunks: list[np.ndarray] = []
    offset: float | None = None
    try:
        with container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            video_start = _stream_start(container.streams.video[0]) if container.streams.video \
                else None
            resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
            have = 0
            for frame in container.decode(stream):
                if offset is None:
                    start = frame.time if frame.time is not None else _stream_start(stream)
                    offset = 0.0 if video_start is None or start is None else start - video_start
                    have = int(round(offset * SAMPLE_RATE))
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    have += chunks[-1].shape[1]
                if max_samples is not None and have >= max_samples:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise VideoDecodeError(f"cannot decode the audio of {path}: {exc}") from exc
    if not chunks:
        samples = np.zeros(0, dtype=np.float32)
    else:
        samples = np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float64).astype(np.float32)
    channels = channels or (len(chunks[0]) if chunks else 0)
    samples = align(samples, offset or 0.0)
    if max_samples is not None:
        samples = samples[:max_samples]
    return AudioTrack(samples=samples, source_rate=rate, channels=channels, offset=offset or 0.0)


def _stream_start(stream) -> float | None:
    """A stream's start time in seconds, None when the container does not say."""
    if stream.start_time is None or stream.time_base is None:
        return None
    return float(stream.start_time * stream.time_base)


def has_audio_stream(path: str | Path) -> bool:
    """Whether ``path`` has an audio stream (reads the header only).

    Raises:
        VideoDecodeError: the file cannot be opened.
    """
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError) as exc:
        raise VideoDecodeError(f"cannot open {path}: {exc}") from exc


def hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """The HTK mel value of ``hertz``: ``1127 ln(1 + hz / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_matrix() -> torch.Tensor:
    """The float64 (257, 64) matrix that maps FFT magnitudes to VGGish's mel bands."""
    bins = FFT_LENGTH // 2 + 1
    bins_mel = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins))
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # the DC bin belongs to no band
    return torch.from_numpy(weights)


def band_of(hertz: float) -> int:
    """The mel band whose centre lies nearest ``hertz`` (on the mel scale): where a pure tone of
    that frequency puts most of its energy."""
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    return int(np.argmin(np.abs(edges[1:-1] - hertz_to_mel(hertz))))


def log_mel_spectrogram(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return the float64 (frames, 64) log-mel spectrogram of 16 kHz mono ``samples``.

    ``frames = 1 + (len - 400) // 160``; a waveform shorter than one window gives zero frames.
    """
    wave = torch.as_tensor(np.asarray(samples), dtype=torch.float64).reshape(-1)
    if wave.numel() < WINDOW_SAMPLES:
        return torch.zeros(0, MEL_BANDS, dtype=torch.float64)
    frames = wave.unfold(0, WINDOW_SAMPLES, HOP_SAMPLES)
    window = torch.hann_window(WINDOW_SAMPLES, periodic=True, dtype=torch.float64)
    magnitude = torch.fft.rfft(frames * window, n=FFT_LENGTH).abs()
    return torch.log(magnitude @ mel_matrix() + LOG_OFFSET)


def samples_needed(seconds: int) -> int:
    """The samples that :func:`second_examples` needs for ``seconds`` full examples."""
    if seconds < 1:
        return 0
    last_frame = (seconds - 1) * FRAMES_PER_SECOND + EXAMPLE_FRAMES - 1
    return last_frame * HOP_SAMPLES + WINDOW_SAMPLES


def second_examples(samples: np.ndarray, seconds: int, *,
                    chunk_seconds: int = CHUNK_SECONDS) -> tuple[torch.Tensor, int]:
    """Return VGGish's input for each of ``seconds`` seconds, float32 (seconds, 1, 96, 64), and how
    many samples of silence were appended to cover the last one.

    Example ``k`` holds frames ``100 k … 100 k + 95`` (0.96 s from second ``k``) of the log-mel
    spectrogram of the whole waveform; it is computed ``chunk_seconds`` examples at a time (from
    the samples those examples cover only), which gives the same values with bounded memory.
    Audio beyond ``seconds`` is not used.
    """
    if seconds < 1:
        return torch.zeros(0, 1, EXAMPLE_FRAMES, MEL_BANDS), 0
    if chunk_seconds < 1:
        raise ValueError(f"chunk_seconds must be at least 1, got {chunk_seconds}")
    needed = samples_needed(seconds)
    wave = np.asarray(samples, dtype=np.float32)[:needed]
    padded = needed - len(wave)
    if padded:
        wave = np.concatenate([wave, np.zeros(padded, dtype=np.float32)])
    out = torch.empty(seconds, 1, EXAMPLE_FRAMES, MEL_BANDS)
    for first in range(0, seconds, chunk_seconds):
        count = min(chunk_seconds, seconds - first)
        start = first * SAMPLE_RATE  # frame 100 first starts at sample 16,000 first
        log_mel = log_mel_spectrogram(wave[start:start + samples_needed(count)])
        starts = torch.arange(count) * FRAMES_PER_SECOND
        index = starts[:, None] + torch.arange(EXAMPLE_FRAMES)[None, :]
        out[first:first + count, 0] = log_mel[index].to(torch.float32)
    return out, padded
