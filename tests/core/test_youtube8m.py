"""YouTube-8M frame-level records without TensorFlow: TFRecord framing and CRC-32C, the protobuf codec
(hand-made encodings included), quantisation, reading with damaged files, padding, synthetic data."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from core.data.tfrecord import (
    TFRecordError,
    crc32c,
    encode_example,
    encode_sequence_example,
    iter_records,
    masked_crc32c,
    parse_example,
    parse_sequence_example,
    write_records,
)
from core.data.youtube8m import (
    AUDIO_DIM,
    MAX_FRAMES,
    NUM_CLASSES,
    RGB_DIM,
    Yt8mVideo,
    dequantize,
    multi_hot,
    pad_frames,
    parse_video,
    quantize,
    read_frame_level,
    synthesize,
    write_frame_level,
)
from core.errors import ConfigError, DatasetLayoutError

# --- hand-made protobuf wire format ---------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload  # fixed32 / fixed64: payload is the raw bytes


UNKNOWN = field(14, 0, 300) + field(15, 1, b"\x01" * 8) + field(16, 5, b"\x02" * 4) + field(17, 2, b"junk")


def entry(name: str, value: bytes) -> bytes:
    return field(1, 2, field(1, 2, name.encode()) + field(2, 2, value))


# --- CRC-32C and framing ----------------------------------------------------------------------------


def test_crc32c_test_vectors() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720, B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


def test_masked_crc_follows_the_tfrecord_formula() -> None:
    for data in (b"", b"123456789", bytes(range(256))):
        crc = crc32c(data)
        assert masked_crc32c(data) == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % 2**32


def test_records_round_trip_with_framing(tmp_path: Path) -> None:
    records = [b"", b"a", bytes(range(256)) * 400]
    path = write_records(tmp_path / "x.tfrecord", records)
    assert list(iter_records(path)) == records
    raw = path.read_bytes()
    assert len(raw) == sum(16 + len(r) for r in records)
    length, length_crc = struct.unpack_from("<QI", raw, 0)
    assert (length, length_crc) == (0, masked_crc32c(raw[:8]))
    assert [p.name for p in tmp_path.iterdir()] == ["x.tfrecord"]  # no temporary file left


def test_write_records_leaves_no_partial_file(tmp_path: Path) -> None:
    def broken():
        yield b"one"
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        write_records(tmp_path / "x.tfrecord", broken())
    assert list(tmp_path.iterdir()) == []


def test_iter_records_names_file_record_and_offset(tmp_path: Path) -> None:
    path = write_records(tmp_path / "f.tfrecord", [b"first", b"second record", b"third"])
    raw = bytearray(path.read_bytes())
    second = 16 + 5
    raw[second + 12 + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(TFRecordError, match=r"f\.tfrecord: record 1 at byte 21: bad data CRC") as caught:
        list(iter_records(path))
    assert isinstance(caught.value, DatasetLayoutError)
    assert caught.value.hint
    assert len(list(iter_records(path, verify=False))) == 3

    raw[second + 12 + 3] ^= 0xFF
    raw[second + 2] ^= 0x01  # the length field itself
    path.write_bytes(bytes(raw))
    with pytest.raises(TFRecordError, match="record 1 at byte 21: bad length CRC"):
        list(iter_records(path))

    with pytest.raises(TFRecordError, match="does not exist"):
        list(iter_records(tmp_path / "missing.tfrecord"))


@pytest.mark.parametrize("keep", [3, 12, 20])
def test_iter_records_reports_a_cut_file(tmp_path: Path, keep: int) -> None:
    path = write_records(tmp_path / "cut.tfrecord", [b"first", b"second record"])
    path.write_bytes(path.read_bytes()[: 21 + keep])
    records = iter_records(path)
    assert next(records) == b"first"
    with pytest.raises(TFRecordError, match="record 1 at byte 21: truncated file"):
        next(records)


# --- protobuf messages ------------------------------------------------------------------------------


def test_example_round_trip() -> None:
    features = {
        "id": [b"abc", b"", bytes(range(256))],
        "floats": [0.5, -1.25, 3.0e38, 1e-3],
        "ints": [0, 1, 127, 128, 300, -1, -(2**63), 2**63 - 1],
        "empty": [],
        "unicode name é": [7],
    }
    decoded = parse_example(encode_example(features))
    assert decoded["id"] == features["id"]
    assert decoded["ints"] == features["ints"]
    assert decoded["empty"] == []
    assert decoded["unicode name é"] == [7]
    np.testing.assert_array_equal(np.float32(decoded["floats"]), np.float32(features["floats"]))
    assert all(type(v) is float for v in decoded["floats"])


def test_negative_int64_is_a_ten_byte_varint() -> None:
    encoded = encode_example({"n": [-1]})
    assert varint(2**64 - 1) in encoded and len(varint(2**64 - 1)) == 10
    assert parse_example(encoded) == {"n": [-1]}


def test_sequence_example_round_trip() -> None:
    context = {"id": [b"vid"], "labels": [3, 1, 4]}
    lists = {"rgb": [[b"\x00\x01"], [b"\x02\x03"], [b"\x04\x05"]], "mixed": [[1.5], [2, 3], [], [b"x"]]}
    assert parse_sequence_example(encode_sequence_example(context, lists)) == (context, lists)


def test_unpacked_repeated_fields_and_unknown_fields() -> None:
    int64_list = field(1, 0, 5) + UNKNOWN + field(1, 0, -2) + field(1, 2, varint(7) + varint(-3))
    float_list = field(1, 5, struct.pack("<f", 1.5)) + field(1, 2, struct.pack("<2f", -2.0, 0.25))
    bytes_list = field(1, 2, b"a") + UNKNOWN + field(1, 2, b"bc")
    features = (
        entry("n", field(3, 2, int64_list) + UNKNOWN)
        + entry("f", UNKNOWN + field(2, 2, float_list))
        + entry("b", field(1, 2, bytes_list))
        + UNKNOWN
    )
    example = UNKNOWN + field(1, 2, features) + UNKNOWN
    assert parse_example(example) == {"n": [5, -2, 7, -3], "f": [1.5, -2.0, 0.25], "b": [b"a", b"bc"]}

    step = [field(1, 2, field(3, 2, field(1, 0, n))) for n in (1, 2)]
    feature_list = step[0] + UNKNOWN + step[1]
    context = field(1, 2, entry("id", field(1, 2, field(1, 2, b"v"))))
    sequence = field(2, 2, UNKNOWN + entry("steps", feature_list)) + UNKNOWN + context
    assert parse_sequence_example(sequence) == ({"id": [b"v"]}, {"steps": [[1], [2]]})


@pytest.mark.parametrize(
    "data",
    [
        field(1, 2, entry("x", field(3, 2, field(1, 0, 1))))[:-1],  # cut short
        b"\x0a\x05\x0a\x03",  # a length past the end
        b"\x08" + b"\xff" * 11,  # a varint of more than 10 bytes
        b"\x0b\x0c",  # a group (wire type 3)
        b"\x00\x01",  # field number 0
        field(1, 2, entry("x", field(2, 2, field(1, 2, b"abc")))),  # packed floats of 3 bytes
        field(1, 2, entry("x", field(3, 5, b"abcd"))),  # Feature.kind with the wrong wire type
        field(1, 2, field(1, 2, field(1, 2, b"\xff\xfe"))),  # a feature name that is not UTF-8
    ],
)
def test_malformed_messages_raise_tfrecord_error(data: bytes) -> None:
    with pytest.raises(TFRecordError, match="malformed tf.train.Example"):
        parse_example(data)
    with pytest.raises(TFRecordError, match="malformed tf.train.SequenceExample"):
        parse_sequence_example(data)


def test_every_cut_and_random_bytes_give_tfrecord_error_or_a_result() -> None:
    data = encode_sequence_example({"id": [b"v"], "labels": [1, -5]}, {"rgb": [[b"abc"], [0.5, 1.5]]})
    boundary = len(encode_sequence_example({"id": [b"v"], "labels": [1, -5]}, {})) - 2  # after the context
    whole = []
    for cut in range(1, len(data)):
        try:
            parse_sequence_example(data[:cut])
            whole.append(cut)
        except TFRecordError:
            pass
    assert whole == [boundary]  # only a cut between the two top-level fields leaves a whole message
    rng = np.random.default_rng(0)
    for _ in range(300):
        noise = rng.integers(0, 256, size=int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
        for parse in (parse_example, parse_sequence_example):
            try:
                parse(noise)
            except TFRecordError:
                pass


def test_encoding_refuses_values_it_cannot_encode() -> None:
    with pytest.raises(TypeError):
        encode_example({"x": [1, 2.0]})
    with pytest.raises(TypeError):
        encode_example({"x": ["text"]})
    with pytest.raises(ValueError):
        encode_example({"x": [2**63]})


# --- quantisation -----------------------------------------------------------------------------------


def test_dequantize_is_googles_formula() -> None:
    values = dequantize(np.arange(256, dtype=np.uint8))
    assert values.dtype == np.float32
    assert values[0] == pytest.approx(-1.9921875)
    assert values[255] == pytest.approx(2.0078125)
    np.testing.assert_allclose(values, np.arange(256) * (4 / 255) + (4 / 512 - 2), atol=1e-6)


def test_quantize_round_trip() -> None:
    x = np.linspace(-2, 2, 20001)
    error = dequantize(quantize(x)) - x
    # Rounding leaves at most half a step (2/255); Dequantize adds 4/512 on top, so the round trip is
    # off by (-2/255 + 4/512, 2/255 + 4/512], within one step, not half a step.
    assert error.min() >= -2 / 255 + 4 / 512 - 1e-6
    assert error.max() <= 2 / 255 + 4 / 512 + 1e-6
    q = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(quantize(dequantize(q)), q)
    np.testing.assert_array_equal(quantize(np.array([-9.0, -2.0, 0.0, 2.0, 9.0])), [0, 0, 128, 255, 255])


# --- frame-level videos -----------------------------------------------------------------------------


def make_video(video_id: str, labels: tuple[int, ...], frames: int, seed: int) -> Yt8mVideo:
    rng = np.random.default_rng(seed)
    return Yt8mVideo(
        id=video_id,
        labels=labels,
        rgb=rng.uniform(-2, 2, size=(frames, RGB_DIM)).astype(np.float32),
        audio=rng.uniform(-2, 2, size=(frames, AUDIO_DIM)).astype(np.float32),
    )


@pytest.fixture()
def three(tmp_path: Path) -> tuple[Path, list[Yt8mVideo]]:
    videos = [make_video("aa", (0, 17), 5, 0), make_video("bb", (3861,), 310, 1), make_video("cc", (), 1, 2)]
    return write_frame_level(tmp_path / "train0000.tfrecord", videos), videos


def record_spans(path: Path) -> list[tuple[int, int]]:
    """(start of the record, length of its data) of every record of a TFRecord file."""
    raw, spans, offset = path.read_bytes(), [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<Q", raw, offset)
        spans.append((offset, length))
        offset += 16 + length
    return spans


def test_write_and_read_videos(three: tuple[Path, list[Yt8mVideo]]) -> None:
    path, written = three
    videos, problems = read_frame_level([path])
    assert problems == []
    assert [v.id for v in videos] == ["aa", "bb", "cc"]
    assert [v.labels for v in videos] == [(0, 17), (3861,), ()]
    assert [v.num_frames for v in videos] == [5, 300, 1]
    for got, want in zip(videos, written):
        assert got.rgb.dtype == np.float32 and got.audio.shape == (got.num_frames, AUDIO_DIM)
        assert np.abs(got.rgb - want.rgb[: got.num_frames]).max() <= 4 / 255
        assert np.abs(got.audio - want.audio[: got.num_frames]).max() <= 4 / 255

    features, mask, num_frames = pad_frames(videos)
    assert features.shape == (3, MAX_FRAMES, RGB_DIM + AUDIO_DIM) and features.dtype == np.float32
    assert num_frames.tolist() == [5, 300, 1] and num_frames.dtype == np.int64
    assert mask.dtype == bool and mask.sum(axis=1).tolist() == [5, 300, 1]
    np.testing.assert_array_equal(features[0, :5, :RGB_DIM], videos[0].rgb)
    np.testing.assert_array_equal(features[0, :5, RGB_DIM:], videos[0].audio)
    assert not features[0, 5:].any() and not features[2, 1:].any()

    labels = multi_hot(videos, NUM_CLASSES)
    assert labels.shape == (3, NUM_CLASSES) and labels.dtype == np.float32
    assert labels.sum(axis=1).tolist() == [2, 1, 0] and labels[1, 3861] == 1

    longer, _ = read_frame_level(path, max_frames=400)
    assert longer[1].num_frames == 310
    assert pad_frames(longer, 300)[2].tolist() == [5, 300, 1]


def test_a_corrupt_record_raises_or_is_skipped(three: tuple[Path, list[Yt8mVideo]]) -> None:
    path, _ = three
    raw = bytearray(path.read_bytes())
    start, length = record_spans(path)[1]
    raw[start + 12 + length // 2] ^= 0x5A
    path.write_bytes(bytes(raw))

    expected = r"train0000\.tfrecord: record 1 at byte \d+: bad data CRC"
    with pytest.raises(TFRecordError, match=expected) as caught:
        read_frame_level([path])
    assert "skip" in caught.value.hint
    videos, problems = read_frame_level([path], on_error="skip")
    assert [v.id for v in videos] == ["aa", "cc"]
    assert len(problems) == 1 and "train0000.tfrecord: record 1" in problems[0] and "\n" not in problems[0]


@pytest.mark.parametrize("into", [5, 20, -30])  # inside the header, the data, the data's end
def test_a_cut_file_raises_or_keeps_the_videos_before(three: tuple[Path, list[Yt8mVideo]], into: int) -> None:
    path, _ = three
    start, length = record_spans(path)[2]
    cut = start + into if into > 0 else start + 16 + length + into
    path.write_bytes(path.read_bytes()[:cut])
    other = write_frame_level(path.with_name("train0001.tfrecord"), [make_video("dd", (1,), 2, 3)])

    with pytest.raises(TFRecordError, match="record 2 at byte .*truncated file"):
        read_frame_level([path, other])
    videos, problems = read_frame_level([path, other], on_error="skip")
    assert [v.id for v in videos] == ["aa", "bb", "dd"]
    assert len(problems) == 1 and "train0000.tfrecord: record 2" in problems[0]


def test_a_damaged_length_ends_the_file(three: tuple[Path, list[Yt8mVideo]]) -> None:
    path, _ = three
    raw = bytearray(path.read_bytes())
    raw[record_spans(path)[1][0]] ^= 0x01
    path.write_bytes(bytes(raw))
    videos, problems = read_frame_level(path, on_error="skip")
    assert [v.id for v in videos] == ["aa"]
    assert len(problems) == 1 and "bad length CRC" in problems[0]


def sequence_record(video_id: bytes = b"vid", labels: list[int] | None = None, rgb_frames: int = 2,
                    audio_frames: int = 2, rgb_bytes: int = RGB_DIM) -> bytes:
    return encode_sequence_example(
        {"id": [video_id], "labels": [1] if labels is None else labels},
        {"rgb": [[bytes(rgb_bytes)]] * rgb_frames, "audio": [[bytes(AUDIO_DIM)]] * audio_frames},
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (sequence_record(labels=[5, NUM_CLASSES]), r"video vid: labels \[3862\] are outside \[0, 3862\)"),
        (sequence_record(labels=[-1]), r"video vid: labels \[-1\] are outside"),
        (sequence_record(audio_frames=3), "video vid: 2 rgb frames but 3 audio frames"),
        (sequence_record(rgb_frames=0, audio_frames=0), "video vid: no frames"),
        (sequence_record(rgb_bytes=1000), "video vid: rgb frame 0 has 1000 bytes, expected one bytes value"),
        (encode_sequence_example({"labels": [1]}, {}), "no bytes 'id'"),
        (encode_sequence_example({"id": [b"v"]}, {"rgb": [[bytes(RGB_DIM)]]}), "video v: no 'audio'"),
        (b"\x0a\x05", "malformed tf.train.SequenceExample"),
    ],
    ids=["label-too-large", "label-negative", "frame-mismatch", "no-frames", "rgb-size", "no-id", "no-audio",
         "malformed"],
)
def test_malformed_videos_are_named(tmp_path: Path, record: bytes, message: str) -> None:
    with pytest.raises(TFRecordError, match=message):
        parse_video(record)
    path = write_records(tmp_path / "bad.tfrecord", [sequence_record(b"good"), record])
    where = r"bad\.tfrecord: record 1 at byte \d+: .*"
    with pytest.raises(TFRecordError, match=where + message.split(": ")[0]):
        read_frame_level(path)
    videos, problems = read_frame_level(path, on_error="skip")
    assert [v.id for v in videos] == ["good"] and len(problems) == 1


def test_num_classes_is_a_parameter() -> None:
    record = sequence_record(labels=[12])
    assert parse_video(record).labels == (12,)
    with pytest.raises(TFRecordError, match=r"outside \[0, 10\)"):
        parse_video(record, num_classes=10)


def test_read_frame_level_checks_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(TFRecordError, match="does not exist"):
        read_frame_level([tmp_path / "missing.tfrecord"])
    path = write_records(tmp_path / "x.tfrecord", [])
    assert read_frame_level(path) == ([], [])
    with pytest.raises(ConfigError, match="on_error"):
        read_frame_level(path, on_error="ignore")


# --- synthetic data ---------------------------------------------------------------------------------


def test_synthesize_writes_a_learnable_dataset(tmp_path: Path) -> None:
    paths = synthesize(tmp_path / "yt8m", videos_per_split=60, num_classes=10, frames=(5, 20), seed=3)
    assert [p.name for p in paths] == ["train0000.tfrecord", "train0001.tfrecord", "validate0000.tfrecord"]
    train, problems = read_frame_level(paths[:2], num_classes=10)
    validate, _ = read_frame_level(paths[2], num_classes=10)
    assert problems == [] and len(train) == 60 and len(validate) == 60
    assert all(1 <= len(v.labels) <= 3 and 5 <= v.num_frames <= 20 for v in train + validate)
    assert len({v.id for v in train + validate}) == 120

    again = synthesize(tmp_path / "again", videos_per_split=60, num_classes=10, frames=(5, 20), seed=3)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]

    # A linear model on the mean frame (bag of frames) finds a true label first for most videos.
    def pooled(videos):
        features, mask, num_frames = pad_frames(videos, 20)
        return features.sum(axis=1) / num_frames[:, None]

    weights, *_ = np.linalg.lstsq(pooled(train), multi_hot(train, 10), rcond=None)
    scores = pooled(validate) @ weights
    truth = multi_hot(validate, 10)
    assert truth[np.arange(len(validate)), scores.argmax(axis=1)].mean() > 0.9
