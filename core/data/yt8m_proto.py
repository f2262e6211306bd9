"""YouTube-8M frame-level records parsed by protobuf's C parser (upb) when ``google.protobuf`` is
installed, with exactly the results and errors of the pure-Python
:func:`core.data.youtube8m.parse_video`.

The ``tf.train.SequenceExample`` message classes are built at run time, without TensorFlow and
without protoc-generated files: the descriptors of ``tensorflow/core/example/feature.proto`` and
``example.proto`` (same package, names and field numbers as TensorFlow's) are written with
``descriptor_pb2`` into a private ``DescriptorPool``, so that TensorFlow's or tensorboard's copies
in the default pool never clash with them. Needs protobuf >= 4.21 on its default upb backend
(``GetMessageClass`` where it exists, ``MessageFactory.GetPrototype`` before it); without it (no
protobuf, an older one, or the pure-Python or cpp backend: 20 times slower, or not checked here), or
with the environment variable ``AVC_PROTOBUF=0``, every record goes to the pure parser.

:func:`parse_video_fast` takes the fast path only for a record it can prove the pure parser reads
the same way; for any other record it calls :func:`~core.data.youtube8m.parse_video`, so that a
damaged record raises the very same ``TFRecordError`` (and is skipped and reported the same way).
The record goes to the pure parser when:

1. it is not ``bytes`` (a ``bytearray`` or ``memoryview`` is copied to ``bytes`` first), or
   ``max_frames`` / ``num_classes`` is not an ``int`` or ``max_frames < 1`` (the pure parser's
   slicing decides those cases);
2. the C parser raises ``DecodeError`` (truncation, field number 0, a varint of more than 10 bytes,
   a packed float list that is no multiple of 4 bytes, a feature name that is not UTF-8, …);
3. its outer layers are not the plain shape every writer produces, checked by walking the record's
   bytes (a few dozen varints): the top level holds at most one ``context`` (field 1) and at most
   one ``feature_lists`` (field 2), both length-delimited, and nothing else; each ``Features`` /
   ``FeatureLists`` holds only map entries (field 1); each entry holds exactly one key (field 1)
   and one value (field 2), length-delimited; the key is UTF-8 by Python's strict codec; no key
   repeats. This rules out what protobuf reads more leniently than the pure parser: an entry with
   two values (protobuf merges them, the pure parser keeps the last), an entry with an unknown
   field or a wrong wire type (protobuf moves the whole entry to the parent's unknown fields, the
   pure parser keeps it or raises), unknown fields and groups at the top level, repeated
   ``context`` fields;
4. a ``context`` feature holds unknown fields (protobuf keeps a known field with the wrong wire
   type, or a group, as an unknown field where the pure parser raises): the context is serialised
   before and after ``DiscardUnknownFields`` and the sizes must match; the same for every feature
   list other than ``rgb`` and ``audio``;
5. the context has no ``id``, or ``id`` is not a ``bytes_list`` of exactly one value, or the value
   is not UTF-8; ``labels`` is of another kind than ``int64_list`` with values (an empty list of
   any kind reads as no labels, as in the pure parser), or a label is outside ``[0, num_classes)``;
6. the ``rgb`` or ``audio`` feature list is missing, or is not, byte for byte, a run of frames each
   encoded as ``Feature{bytes_list{value: <1024 (rgb) or 128 (audio) bytes>}}`` in the canonical
   encoding (one-byte tags, minimal length varints) -- checked with numpy on the record's bytes,
   for all frames, not only the first ``max_frames``. A frame of another size, kind or count of
   values, an unknown field, a repeated or switched ``kind``, a longer-than-needed varint all break
   that pattern. The frames are then read straight from the record's bytes (the C parser's count of
   frames must agree); there are no frames, or rgb and audio have different numbers of frames.

Whatever passes these checks has one reading only, the same for both parsers; the frames (the first
``max_frames``) are dequantised with :func:`~core.data.youtube8m.dequantize`, so the arrays are
bit-for-bit the pure parser's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from core.data.youtube8m import (
    AUDIO_DIM,
    MAX_FRAMES,
    NUM_CLASSES,
    RGB_DIM,
    Yt8mVideo,
    dequantize,
    parse_video,
)

ENV = "AVC_PROTOBUF"
"""Set to ``0`` to read every record with the pure-Python parser."""

MIN_PROTOBUF = (4, 21)
_FEATURE_PROTO = "tensorflow/core/example/feature.proto"
_EXAMPLE_PROTO = "tensorflow/core/example/example.proto"

_classes: dict[str, Any] | None = None
_unavailable = False


# --- message classes ---


def _file_descriptors() -> tuple[Any, Any]:
    """The FileDescriptorProtos of TensorFlow's feature.proto and example.proto (proto3)."""
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FieldDescriptorProto
    optional, repeated = fdp.LABEL_OPTIONAL, fdp.LABEL_REPEATED

    def add_field(
        message: Any,
        name: str,
        number: int,
        kind: int,
        label: int = optional,
        type_name: str = "",
        oneof: int | None = None,
        packed: bool = False,
    ) -> None:
        field = message.field.add(name=name, number=number, type=kind, label=label, json_name=name)
        if type_name:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = oneof
        if packed:
            field.options.packed = True

    def add_map(file: Any, name: str, field_name: str, entry: str, value_type: str) -> None:
        message = file.message_type.add(name=name)
        entry_type = message.nested_type.add(name=entry)
        entry_type.options.map_entry = True
        add_field(entry_type, "key", 1, fdp.TYPE_STRING)
        add_field(entry_type, "value", 2, fdp.TYPE_MESSAGE, type_name=value_type)
        add_field(
            message,
            field_name,
            1,
            fdp.TYPE_MESSAGE,
            repeated,
            type_name=f".tensorflow.{name}.{entry}",
        )

    feature = descriptor_pb2.FileDescriptorProto(
        name=_FEATURE_PROTO, package="tensorflow", syntax="proto3"
    )
    add_field(feature.message_type.add(name="BytesList"), "value", 1, fdp.TYPE_BYTES, repeated)
    for name, kind in (("FloatList", fdp.TYPE_FLOAT), ("Int64List", fdp.TYPE_INT64)):
        add_field(feature.message_type.add(name=name), "value", 1, kind, repeated, packed=True)
    message = feature.message_type.add(name="Feature")
    message.oneof_decl.add(name="kind")
    for number, kind in enumerate(("bytes_list", "float_list", "int64_list"), start=1):
        list_type = (
            ".tensorflow."
            + {"bytes_list": "BytesList", "float_list": "FloatList", "int64_list": "Int64List"}[
                kind
            ]
        )
        add_field(message, kind, number, fdp.TYPE_MESSAGE, type_name=list_type, oneof=0)
    add_map(feature, "Features", "feature", "FeatureEntry", ".tensorflow.Feature")
    add_field(
        feature.message_type.add(name="FeatureList"),
        "feature",
        1,
        fdp.TYPE_MESSAGE,
        repeated,
        type_name=".tensorflow.Feature",
    )
    add_map(feature, "FeatureLists", "feature_list", "FeatureListEntry", ".tensorflow.FeatureList")

    example = descriptor_pb2.FileDescriptorProto(
        name=_EXAMPLE_PROTO, package="tensorflow", syntax="proto3", dependency=[_FEATURE_PROTO]
    )
    add_field(
        example.message_type.add(name="Example"),
        "features",
        1,
        fdp.TYPE_MESSAGE,
        type_name=".tensorflow.Features",
    )
    message = example.message_type.add(name="SequenceExample")
    add_field(message, "context", 1, fdp.TYPE_MESSAGE, type_name=".tensorflow.Features")
    add_field(message, "feature_lists", 2, fdp.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")
    return feature, example


def _build() -> dict[str, Any]:
    """The message classes, from a private descriptor pool: ``{"SequenceExample": class, …}``."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    for file in _file_descriptors():
        pool.Add(file)
    names = (
        "BytesList",
        "FloatList",
        "Int64List",
        "Feature",
        "Features",
        "FeatureList",
        "FeatureLists",
        "Example",
        "SequenceExample",
    )
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is None:  # protobuf 4.21
        factory = message_factory.MessageFactory(pool)
        get_class = factory.GetPrototype
    return {name: get_class(pool.FindMessageTypeByName(f"tensorflow.{name}")) for name in names}


def _supported() -> bool:
    """Whether the installed protobuf is >= 4.21 and runs on upb, its C parser (the pure-Python
    backend is some 20 times slower than the pure parser here, and reads some bytes differently)."""
    import google.protobuf
    from google.protobuf.internal import api_implementation

    try:
        version = tuple(int(part) for part in google.protobuf.__version__.split(".")[:2])
    except ValueError:
        return False
    return version >= MIN_PROTOBUF and api_implementation.Type() == "upb"


def message_classes() -> dict[str, Any] | None:
    """The ``tensorflow.*`` message classes (``"SequenceExample"``, ``"Example"``, ``"Feature"``,
    …) and ``"DecodeError"``, or None when protobuf is missing, older than 4.21 or not on upb."""
    global _classes, _unavailable
    if _classes is None and not _unavailable:
        try:
            if _supported():
                from google.protobuf.message import DecodeError

                _classes = {**_build(), "DecodeError": DecodeError}
            else:
                _unavailable = True
        except ImportError:
            _unavailable = True
    return _classes


def available() -> bool:
    """Whether the fast parser can run: protobuf >= 4.21 is installed, with its upb backend."""
    return message_classes() is not None


def implementation() -> str | None:
    """protobuf's backend (``"upb"``, ``"cpp"`` or ``"python"``), or None without protobuf."""
    try:
        from google.protobuf.internal import api_implementation
    except ImportError:
        return None
    return api_implementation.Type()


def enabled() -> bool:
    """Whether records go to the fast parser: protobuf is installed, ``AVC_PROTOBUF`` is not 0."""
    return os.environ.get(ENV, "").strip() != "0" and available()


def choose_parser() -> Callable[..., Yt8mVideo]:
    """The record parser to use now: :func:`parse_video_fast` or the pure ``parse_video`` (both
    ``(record, *, max_frames, num_classes) -> Yt8mVideo``)."""
    return parse_video_fast if enabled() else parse_video


def parse_video_auto(
    record: bytes, *, max_frames: int = MAX_FRAMES, num_classes: int = NUM_CLASSES
) -> Yt8mVideo:
    """``parse_video`` through the parser :func:`choose_parser` picks (``AVC_PROTOBUF`` is read on
    every call)."""
    return choose_parser()(record, max_frames=max_frames, num_classes=num_classes)


# --- the fast path ---


class _Reject(Exception):
    """Internal: the record's bytes are not the plain shape; the pure parser reads it."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        byte = buf[pos]
        if byte < 0x80:
            return byte, pos + 1
    result = shift = 0
    while pos < end and shift < 35:  # lengths inside one record: 5 bytes at most
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise _Reject


def _delimited(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The byte range of the length-delimited payload whose length varint starts at ``pos``."""
    length, start = _varint(buf, pos, end)
    stop = start + length
    if stop > end:
        raise _Reject
    return start, stop


def _entries(buf: bytes, pos: int, end: int) -> dict[str, tuple[int, int]]:
    """``{key: value byte range}`` of a Features / FeatureLists message made only of map entries
    that hold exactly one key and one value."""
    out: dict[str, tuple[int, int]] = {}
    while pos < end:
        if buf[pos] != 0x0A:  # field 1, length-delimited
            raise _Reject
        start, stop = _delimited(buf, pos + 1, end)
        key = value = None
        while start < stop:
            tag = buf[start]
            a, b = _delimited(buf, start + 1, stop)
            if tag == 0x0A and key is None:
                key = buf[a:b]
            elif tag == 0x12 and value is None:
                value = (a, b)
            else:
                raise _Reject
            start = b
        if key is None or value is None:
            raise _Reject
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject from None
        if name in out:
            raise _Reject
        out[name] = value
        pos = stop
    return out


def _outline(buf: bytes) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """The context's and the feature lists' entries of a SequenceExample of the plain shape."""
    context: dict[str, tuple[int, int]] | None = None
    lists: dict[str, tuple[int, int]] | None = None
    pos, end = 0, len(buf)
    while pos < end:
        tag = buf[pos]
        start, pos = _delimited(buf, pos + 1, end)
        if tag == 0x0A and context is None:
            context = _entries(buf, start, pos)
        elif tag == 0x12 and lists is None:
            lists = _entries(buf, start, pos)
        else:
            raise _Reject
    return context or {}, lists or {}


def _encode_length(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _frame_header(dim: int) -> np.ndarray:
    """The bytes before each frame's values in the canonical encoding of a FeatureList entry:
    ``feature {bytes_list {value: <dim bytes>}}``."""
    value = b"\x0a" + _encode_length(dim)
    bytes_list = b"\x0a" + _encode_length(len(value) + dim)
    feature = b"\x0a" + _encode_length(len(bytes_list) + len(value) + dim)
    return np.frombuffer(feature + bytes_list + value, dtype=np.uint8)


_HEADERS = {RGB_DIM: _frame_header(RGB_DIM), AUDIO_DIM: _frame_header(AUDIO_DIM)}


def _frames(buf: bytes, span: tuple[int, int], dim: int) -> np.ndarray:
    """The uint8 (frames, dim) view of a feature list's bytes that hold only canonical frames."""
    header = _HEADERS[dim]
    stride = len(header) + dim
    start, stop = span
    count, rest = divmod(stop - start, stride)
    if rest or not count:
        raise _Reject
    rows = np.frombuffer(buf, dtype=np.uint8, count=stop - start, offset=start).reshape(
        count, stride
    )
    if not np.array_equal(rows[:, : len(header)], np.broadcast_to(header, (count, len(header)))):
        raise _Reject
    return rows[:, len(header) :]


def _no_unknown_fields(message: Any) -> None:
    """Raise _Reject when ``message`` or a message inside it holds unknown fields."""
    size = len(message.SerializeToString())
    message.DiscardUnknownFields()
    if len(message.SerializeToString()) != size:
        raise _Reject


def _fast(record: bytes, max_frames: int, num_classes: int, classes: dict[str, Any]) -> Yt8mVideo:
    """The video of a record of the plain shape; raises _Reject for any other record."""
    try:
        message = classes["SequenceExample"].FromString(record)
    except classes["DecodeError"]:
        raise _Reject from None
    context_entries, list_entries = _outline(record)

    context = message.context
    _no_unknown_fields(context)
    if "id" not in context_entries:
        raise _Reject
    feature = context.feature["id"]
    if feature.WhichOneof("kind") != "bytes_list" or len(feature.bytes_list.value) != 1:
        raise _Reject
    try:
        video = feature.bytes_list.value[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _Reject from None
    labels: list[int] = []
    if "labels" in context_entries:
        feature = context.feature["labels"]
        kind = feature.WhichOneof("kind")
        if kind == "int64_list":
            labels = list(feature.int64_list.value)
        elif kind is not None and len(getattr(feature, kind).value):
            raise _Reject
        if any(not 0 <= label < num_classes for label in labels):
            raise _Reject

    feature_lists = message.feature_lists.feature_list
    for name in list_entries:
        if name not in ("rgb", "audio"):
            _no_unknown_fields(feature_lists[name])
    if "rgb" not in list_entries or "audio" not in list_entries:
        raise _Reject
    rgb = _frames(record, list_entries["rgb"], RGB_DIM)
    audio = _frames(record, list_entries["audio"], AUDIO_DIM)
    if (
        len(rgb) != len(audio)
        or len(feature_lists["rgb"].feature) != len(rgb)
        or len(feature_lists["audio"].feature) != len(audio)
    ):
        raise _Reject
    return Yt8mVideo(
        id=video,
        labels=tuple(labels),
        rgb=dequantize(rgb[:max_frames]),
        audio=dequantize(audio[:max_frames]),
    )


def parse_video_fast(
    record: bytes, *, max_frames: int = MAX_FRAMES, num_classes: int = NUM_CLASSES
) -> Yt8mVideo:
    """:func:`~core.data.youtube8m.parse_video`, with protobuf's C parser where the record allows.

    Returns the same video as ``parse_video`` (same id, labels, and bit-for-bit the same arrays);
    raises the same ``TFRecordError`` -- every record that the fast path cannot prove it reads the
    same way goes to ``parse_video`` (see the module's docstring). Without protobuf it is
    ``parse_video``.
    """
    classes = message_classes()
    if (
        classes is not None
        and type(max_frames) is int
        and type(num_classes) is int
        and max_frames > 0
    ):
        data = bytes(record) if isinstance(record, (bytearray, memoryview)) else record
        if isinstance(data, bytes):
            try:
                return _fast(data, max_frames, num_classes, classes)
            except _Reject:
                pass
    return parse_video(record, max_frames=max_frames, num_classes=num_classes)
