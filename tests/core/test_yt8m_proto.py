"""The protobuf (C parser) path for YouTube-8M frame-level records: the same videos and the same
errors as the pure-Python parser, the AVC_PROTOBUF switch, and life without protobuf."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from core.data import yt8m_proto
from core.data.tfrecord import TFRecordError, encode_sequence_example, iter_records
from core.data.youtube8m import (
    AUDIO_DIM,
    NUM_CLASSES,
    RGB_DIM,
    Yt8mVideo,
    parse_video,
    synthesize,
    write_frame_level,
)
from tests.core.test_youtube8m import UNKNOWN, entry, field, make_video, sequence_record, varint

needs_protobuf = pytest.mark.skipif(
    not yt8m_proto.available(), reason="google.protobuf is not installed"
)


def outcome(parse, record, **kwargs):
    """("ok", id, labels, rgb bits, audio bits) or ("error", type, message, hint)."""
    try:
        video = parse(record, **kwargs)
    except Exception as error:  # noqa: BLE001 - the very exception is what is compared
        return (
            "error",
            type(error).__name__,
            getattr(error, "message", str(error)),
            getattr(error, "hint", None),
        )
    assert isinstance(video, Yt8mVideo)
    assert video.rgb.dtype == np.float32 and video.audio.dtype == np.float32
    return (
        "ok",
        video.id,
        video.labels,
        video.rgb.shape,
        video.rgb.tobytes(),
        video.audio.shape,
        video.audio.tobytes(),
    )


def assert_same(record, **kwargs):
    want = outcome(parse_video, record, **kwargs)
    got = outcome(yt8m_proto.parse_video_fast, record, **kwargs)
    assert got[:3] == want[:3]
    assert got == want
    return want


class Spy:
    """Counts the calls that reach the pure parser."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        monkeypatch.setattr(yt8m_proto, "parse_video", self)

    def __call__(self, record, **kwargs):
        self.calls += 1
        return parse_video(record, **kwargs)


# --- message classes ---


@needs_protobuf
def test_message_classes_read_and_write_tensorflows_wire_format() -> None:
    classes = yt8m_proto.message_classes()
    message = classes["SequenceExample"]()
    message.context.feature["id"].bytes_list.value.append(b"vid")
    message.context.feature["labels"].int64_list.value.extend([3, 1, 4])
    message.feature_lists.feature_list["rgb"].feature.add().float_list.value.extend([0.5, -1.5])
    data = message.SerializeToString(deterministic=True)
    assert data == encode_sequence_example(
        {"id": [b"vid"], "labels": [3, 1, 4]}, {"rgb": [[0.5, -1.5]]}
    )
    example = classes["Example"].FromString(
        field(1, 2, entry("x", field(3, 2, field(1, 2, varint(7)))))
    )
    assert list(example.features.feature["x"].int64_list.value) == [7]
    assert classes["FloatList"].DESCRIPTOR.fields[0].is_packed
    # A private pool: a copy of TensorFlow's messages in the default pool (TensorFlow's,
    # TensorBoard's, the tfrecord package's) is neither touched nor needed.
    from google.protobuf import descriptor_pool

    assert classes["SequenceExample"].DESCRIPTOR.file.pool is not descriptor_pool.Default()
    import tfrecord  # noqa: F401 - registers its own tensorflow.SequenceExample in the default pool

    again = yt8m_proto.message_classes()["SequenceExample"].FromString(data)
    assert list(again.context.feature["labels"].int64_list.value) == [3, 1, 4]


# --- the same videos ---


@needs_protobuf
def test_written_videos_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    videos = [
        make_video("aa", (0, 17), 5, 0),
        make_video("bb", (3861,), 310, 1),
        make_video("cc", (), 1, 2),
        make_video("dé", (5,), 300, 3),
        make_video("", (2,), 301, 4),
    ]
    path = write_frame_level(tmp_path / "v.tfrecord", videos)
    paths = synthesize(
        tmp_path / "syn", videos_per_split=20, num_classes=10, frames=(1, 40), seed=1
    )
    spy = Spy(monkeypatch)
    records = [r for p in [path, *paths] for r in iter_records(p)]
    for record in records:
        for max_frames in (300, 1, 7, 400):
            want = assert_same(record, max_frames=max_frames)
            assert want[0] == "ok"
        assert_same(record, num_classes=10)
    shapes = [outcome(yt8m_proto.parse_video_fast, r)[3] for r in records[:5]]
    assert shapes == [(5, RGB_DIM), (300, RGB_DIM), (1, RGB_DIM), (300, RGB_DIM), (300, RGB_DIM)]
    assert spy.calls == 2  # only the labels 17 and 3861, outside [0, 10), went to the pure parser


@needs_protobuf
def test_bytes_like_records_and_odd_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    record = sequence_record(labels=[3, 0])
    spy = Spy(monkeypatch)
    assert_same(bytearray(record))
    assert_same(memoryview(record))
    assert spy.calls == 0
    for kwargs in (
        {"max_frames": 0},
        {"max_frames": -1},
        {"max_frames": 1.5},
        {"num_classes": 3.5},
        {"num_classes": 3},
    ):
        assert_same(record, **kwargs)
    assert_same("not bytes")
    assert_same(None)


# --- the same errors ---


def frames(n: int, dim: int, value: bytes | None = None) -> list[list[bytes]]:
    return [[value if value is not None else bytes([i % 256]) * dim] for i in range(n)]


def lists_record(context: bytes, lists: bytes) -> bytes:
    return field(1, 2, context) + field(2, 2, lists)


ID = entry("id", field(1, 2, field(1, 2, b"vid")))
LABELS = entry("labels", field(3, 2, field(1, 2, varint(4) + varint(2))))
FRAME = field(1, 2, field(1, 2, field(1, 2, bytes(RGB_DIM))))
AUDIO = field(1, 2, field(1, 2, field(1, 2, bytes(AUDIO_DIM))))
RGB_LIST, AUDIO_LIST = entry("rgb", FRAME * 2), entry("audio", AUDIO * 2)
GOOD = lists_record(ID + LABELS, RGB_LIST + AUDIO_LIST)


def feature_entry(name: str, key: bytes = b"", *values: bytes) -> bytes:
    return field(1, 2, field(1, 2, key or name.encode()) + b"".join(field(2, 2, v) for v in values))


MALFORMED = {
    # from test_youtube8m
    "label-too-large": sequence_record(labels=[5, NUM_CLASSES]),
    "label-negative": sequence_record(labels=[-1]),
    "frame-mismatch": sequence_record(audio_frames=3),
    "no-frames": sequence_record(rgb_frames=0, audio_frames=0),
    "rgb-size": sequence_record(rgb_bytes=1000),
    "no-id": encode_sequence_example({"labels": [1]}, {}),
    "no-audio": encode_sequence_example({"id": [b"v"]}, {"rgb": [[bytes(RGB_DIM)]]}),
    "malformed": b"\x0a\x05",
    "empty": b"",
    # ids
    "id-not-utf8": sequence_record(video_id=b"\xff\xfe"),
    "id-two-values": encode_sequence_example(
        {"id": [b"a", b"b"]}, {"rgb": frames(1, RGB_DIM), "audio": frames(1, AUDIO_DIM)}
    ),
    "id-int": encode_sequence_example(
        {"id": [7]}, {"rgb": frames(1, RGB_DIM), "audio": frames(1, AUDIO_DIM)}
    ),
    "id-empty-feature": lists_record(entry("id", b""), RGB_LIST + AUDIO_LIST),
    "id-twice-merged": lists_record(
        ID + entry("id", field(1, 2, field(1, 2, b"w"))), RGB_LIST + AUDIO_LIST
    ),
    "id-entry-two-values": lists_record(
        feature_entry("id", b"", field(1, 2, field(1, 2, b"a")), field(1, 2, field(1, 2, b"b"))),
        RGB_LIST + AUDIO_LIST,
    ),
    "id-entry-value-then-empty": lists_record(
        feature_entry("id", b"", field(1, 2, field(1, 2, b"a")), b""), RGB_LIST + AUDIO_LIST
    ),
    "id-bytes-list-twice": lists_record(
        entry("id", field(1, 2, field(1, 2, b"a")) * 2), RGB_LIST + AUDIO_LIST
    ),
    "id-kind-switched": lists_record(
        entry("id", field(3, 2, b"") + field(1, 2, field(1, 2, b"a"))), RGB_LIST + AUDIO_LIST
    ),
    # labels
    "labels-float": lists_record(
        ID + entry("labels", field(2, 2, field(1, 5, b"\0\0\x80\x3f"))), RGB_LIST + AUDIO_LIST
    ),
    "labels-empty-float": lists_record(
        ID + entry("labels", field(2, 2, b"")), RGB_LIST + AUDIO_LIST
    ),
    "labels-unpacked": lists_record(
        ID + entry("labels", field(3, 2, field(1, 0, 3) + field(1, 0, 1))), RGB_LIST + AUDIO_LIST
    ),
    "labels-entry-value-then-empty": lists_record(
        ID + feature_entry("labels", b"", field(3, 2, field(1, 0, 3)), b""), RGB_LIST + AUDIO_LIST
    ),
    "labels-10-byte-varint": lists_record(
        ID + entry("labels", field(3, 2, field(1, 2, bytes([0x85] + [0x80] * 8 + [0x7F])))),
        RGB_LIST + AUDIO_LIST,
    ),
    "labels-11-byte-varint": lists_record(
        ID + entry("labels", field(3, 2, field(1, 0, 0)[:1] + bytes([0x85] + [0x80] * 9 + [0]))),
        RGB_LIST + AUDIO_LIST,
    ),
    "labels-wire-type-5": lists_record(
        ID + entry("labels", field(3, 2, field(1, 5, b"abcd"))), RGB_LIST + AUDIO_LIST
    ),
    "labels-huge": sequence_record(labels=[2**63 - 1, -(2**63)]),
    # unknown fields and wrong wire types, where protobuf keeps an unknown field
    "unknown-top": GOOD + UNKNOWN,
    "unknown-in-context": lists_record(ID + LABELS + UNKNOWN, RGB_LIST + AUDIO_LIST),
    "unknown-in-feature": lists_record(
        ID + entry("labels", field(3, 2, varint(0)[:0]) + UNKNOWN), RGB_LIST + AUDIO_LIST
    ),
    "unknown-in-entry": lists_record(
        ID + field(1, 2, field(1, 2, b"labels") + field(2, 2, b"") + UNKNOWN), RGB_LIST + AUDIO_LIST
    ),
    "unknown-in-frame": lists_record(
        ID,
        entry("rgb", FRAME + field(1, 2, field(1, 2, field(1, 2, bytes(RGB_DIM))) + UNKNOWN))
        + AUDIO_LIST,
    ),
    "unknown-in-feature-list": lists_record(ID, entry("rgb", FRAME + UNKNOWN + FRAME) + AUDIO_LIST),
    "unknown-in-other-list": lists_record(
        ID, RGB_LIST + AUDIO_LIST + entry("x", field(1, 2, UNKNOWN))
    ),
    "group-top": GOOD + b"\x1b\x1c",
    "group-in-feature": lists_record(ID + entry("x", b"\x23\x24"), RGB_LIST + AUDIO_LIST),
    "group-in-other-list": lists_record(ID, RGB_LIST + AUDIO_LIST + entry("x", b"\x23\x24")),
    "entry-key-wire-0": lists_record(
        ID + field(1, 2, field(1, 0, 5) + field(2, 2, b"")), RGB_LIST + AUDIO_LIST
    ),
    "entry-value-wire-0": lists_record(
        ID + field(1, 2, field(1, 2, b"x") + field(2, 0, 5)), RGB_LIST + AUDIO_LIST
    ),
    "feature-kind-wire-0": lists_record(ID + entry("x", field(3, 0, 5)), RGB_LIST + AUDIO_LIST),
    "context-wire-0": field(1, 0, 3) + GOOD,
    "bytes-list-wire-0": lists_record(
        ID + entry("x", field(1, 2, field(1, 0, 1))), RGB_LIST + AUDIO_LIST
    ),
    "other-list-wire-0": lists_record(ID, RGB_LIST + AUDIO_LIST + entry("x", field(1, 0, 1))),
    "field-number-0": lists_record(ID + entry("x", b"\x00\x01"), RGB_LIST + AUDIO_LIST),
    "packed-float-3-bytes": lists_record(
        ID + entry("x", field(2, 2, field(1, 2, b"abc"))), RGB_LIST + AUDIO_LIST
    ),
    "key-not-utf8": lists_record(
        ID + feature_entry("x", b"\xed\xa0\x80", b""), RGB_LIST + AUDIO_LIST
    ),
    "key-overlong-utf8": lists_record(
        ID + feature_entry("x", b"\xc0\xaf", b""), RGB_LIST + AUDIO_LIST
    ),
    "key-missing": lists_record(ID + field(1, 2, field(2, 2, b"")), RGB_LIST + AUDIO_LIST),
    "value-missing": lists_record(ID + field(1, 2, field(1, 2, b"labels")), RGB_LIST + AUDIO_LIST),
    # repeated and merged messages
    "two-contexts": field(1, 2, ID) + field(1, 2, LABELS) + field(2, 2, RGB_LIST + AUDIO_LIST),
    "two-contexts-id-replaced": field(1, 2, ID) + GOOD,
    "two-feature-lists": GOOD + field(2, 2, entry("rgb", FRAME)),
    "rgb-entry-two-values": lists_record(
        ID, feature_entry("rgb", b"", FRAME, FRAME) + entry("audio", AUDIO * 2)
    ),
    "rgb-twice": lists_record(ID, RGB_LIST + AUDIO_LIST + entry("rgb", FRAME)),
    "rgb-missing": lists_record(ID, AUDIO_LIST),
    # frames
    "rgb-float-kind": lists_record(
        ID, entry("rgb", field(1, 2, field(2, 2, field(1, 2, bytes(RGB_DIM)))) * 2) + AUDIO_LIST
    ),
    "rgb-float-kind-empty": lists_record(
        ID, entry("rgb", field(1, 2, field(2, 2, b"")) * 2) + AUDIO_LIST
    ),
    "rgb-two-values": lists_record(
        ID, entry("rgb", field(1, 2, field(1, 2, field(1, 2, bytes(512)) * 2)) * 2) + AUDIO_LIST
    ),
    "rgb-bytes-list-twice": lists_record(
        ID, entry("rgb", field(1, 2, field(1, 2, field(1, 2, bytes(RGB_DIM))) * 2) * 2) + AUDIO_LIST
    ),
    "rgb-empty-frame": lists_record(ID, entry("rgb", FRAME + field(1, 2, b"")) + AUDIO_LIST),
    "rgb-long-varint": lists_record(
        ID, entry("rgb", FRAME + field(1, 2, b"")[:1] + b"\x86\x88\x00" + FRAME[3:]) + AUDIO_LIST
    ),
    "audio-size": sequence_record(rgb_frames=1, audio_frames=1)[: -AUDIO_DIM - 3]
    + b"\x0a\x7f"
    + bytes(127),
    "audio-as-rgb": lists_record(ID, entry("rgb", AUDIO * 2) + entry("audio", FRAME * 2)),
    "frames-beyond-max-bad": lists_record(
        ID, entry("rgb", FRAME * 300 + field(1, 2, b"")) + entry("audio", AUDIO * 301)
    ),
    "truncated": GOOD[:-5],
}


@needs_protobuf
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_records_fail_or_read_the_same(name: str) -> None:
    record = MALFORMED[name]
    assert_same(record)
    assert_same(record, max_frames=1, num_classes=10)


@needs_protobuf
def test_the_good_record_of_the_corpus_is_read_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    video = yt8m_proto.parse_video_fast(GOOD)
    assert (video.id, video.labels, video.rgb.shape, video.audio.shape) == (
        "vid",
        (4, 2),
        (2, RGB_DIM),
        (2, AUDIO_DIM),
    )
    assert spy.calls == 0
    reordered = lists_record(LABELS + ID, AUDIO_LIST + RGB_LIST + entry("other", field(1, 2, b"")))
    assert_same(reordered)  # another order, another feature list: still the fast path
    assert spy.calls == 0


@needs_protobuf
def test_cut_and_mutated_records_fail_or_read_the_same() -> None:
    record = encode_sequence_example(
        {"id": [b"v1"], "labels": [1, 300], "extra": [0.5]},
        {"rgb": frames(2, RGB_DIM), "audio": frames(2, AUDIO_DIM), "other": [[1, 2], [b"x"]]},
    )
    for cut in range(0, len(record), 7):
        assert_same(record[:cut])
    # Byte changes in the structure (not the frames' values): every offset but the frame payloads.
    payload = set()
    for start in (
        i for i in range(len(record)) if record[i : i + 3] in (b"\x0a\x80\x08", b"\x0a\x80\x01")
    ):
        payload.update(
            range(start + 3, start + 3 + (RGB_DIM if record[start + 2] == 8 else AUDIO_DIM))
        )
    structure = [i for i in range(len(record)) if i not in payload]
    rng = np.random.default_rng(0)
    for _ in range(1500):
        data = bytearray(record)
        for at in rng.choice(structure, size=int(rng.integers(1, 3))):
            data[at] = int(rng.integers(0, 256))
        assert_same(bytes(data))


# --- the switch ---


def test_avc_protobuf_0_selects_the_pure_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVC_PROTOBUF", "0")
    assert not yt8m_proto.enabled()
    assert yt8m_proto.choose_parser() is parse_video
    spy = Spy(monkeypatch)
    assert yt8m_proto.parse_video_auto(GOOD).labels == (4, 2)
    assert spy.calls == 1
    monkeypatch.setenv("AVC_PROTOBUF", "1")
    assert yt8m_proto.enabled() == yt8m_proto.available()
    if yt8m_proto.available():
        assert yt8m_proto.choose_parser() is yt8m_proto.parse_video_fast
        assert yt8m_proto.parse_video_auto(GOOD).labels == (4, 2)
        assert spy.calls == 1


def test_without_protobuf_the_pure_parser_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        n for n in sys.modules if n == "google.protobuf" or n.startswith("google.protobuf.")
    ]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    monkeypatch.setattr(yt8m_proto, "_classes", None)
    monkeypatch.setattr(yt8m_proto, "_unavailable", False)
    monkeypatch.delenv("AVC_PROTOBUF", raising=False)
    assert not yt8m_proto.available() and not yt8m_proto.enabled()
    assert yt8m_proto.implementation() is None
    assert yt8m_proto.choose_parser() is parse_video
    spy = Spy(monkeypatch)
    assert yt8m_proto.parse_video_fast(GOOD).id == "vid"
    assert yt8m_proto.parse_video_auto(GOOD).id == "vid"
    with pytest.raises(TFRecordError, match="malformed"):
        yt8m_proto.parse_video_fast(b"\x0a\x05")
    assert spy.calls == 3


@needs_protobuf
def test_protobufs_pure_python_backend_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.protobuf.internal import api_implementation

    monkeypatch.setattr(api_implementation, "Type", lambda: "python")
    monkeypatch.setattr(yt8m_proto, "_classes", None)
    monkeypatch.setattr(yt8m_proto, "_unavailable", False)
    assert not yt8m_proto.available() and yt8m_proto.implementation() == "python"
    assert yt8m_proto.choose_parser() is parse_video
