"""TFRecord files and the protobuf messages inside them, read and written without TensorFlow or protobuf.

A TFRecord file is a sequence of records, each framed as::

    length: uint64 LE | masked CRC-32C of the length: uint32 LE | data | masked CRC-32C of data: uint32 LE

with ``masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)``. The data of a YouTube-8M
record is a ``tf.train.Example`` or ``tf.train.SequenceExample``; this module decodes and encodes just
those messages, in the protobuf wire format, as plain dicts:

- an Example is ``{name: values}``;
- a SequenceExample is ``(context, feature_lists)`` with ``context = {name: values}`` and
  ``feature_lists = {name: [values, ...]}``, one ``values`` per step;
- ``values`` is a list of bytes (``bytes_list``), of floats (``float_list``) or of ints (``int64_list``).

Damaged files and malformed messages raise :class:`TFRecordError`, never anything else.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import crc32c as _crc32c
import numpy as np

from core.atomic import atomic_path
from core.errors import DatasetLayoutError

_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF
_UINT64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_FLOAT = struct.Struct("<f")

_DAMAGED_HINT = "the file is damaged or was cut short; copy or download it again"


class TFRecordError(DatasetLayoutError):
    """A TFRecord file is cut short or damaged, or a record is not the protobuf message it should be."""


# --- CRC-32C -------------------------------------------------------------------------------------


def crc32c(data: bytes) -> int:
    """Return the CRC-32C (Castagnoli) of ``data``; ``crc32c(b"123456789") == 0xE3069283``."""
    return _crc32c.crc32c(data)


def masked_crc32c(data: bytes) -> int:
    """Return the CRC-32C of ``data`` masked as TFRecord framing stores it."""
    crc = _crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _UINT32) + _MASK_DELTA) & _UINT32


# --- TFRecord framing ----------------------------------------------------------------------------


def scan_records(
    path: str | Path, *, verify: bool = True
) -> Iterator[tuple[int, int, bytes | TFRecordError]]:
    """Yield ``(index, byte offset, data)`` per record, with a :class:`TFRecordError` in place of the data
    when only that record's data is damaged (a bad data CRC: the next record can still be found).

    Raises:
        TFRecordError: the file cannot be read on: it is missing or cut short, or a record's length is
            damaged, so that the records after it cannot be found.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise TFRecordError(f"TFRecord file {path} does not exist") from None
    except OSError as error:
        raise TFRecordError(f"cannot open TFRecord file {path}: {error.strerror or error}") from None
    with handle:
        index = offset = 0
        try:
            size = os.fstat(handle.fileno()).st_size
            while True:
                where = f"{path}: record {index} at byte {offset}"
                header = handle.read(_HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    raise TFRecordError(f"{where}: truncated file, the record header has only "
                                        f"{len(header)} of {_HEADER.size} bytes", hint=_DAMAGED_HINT)
                length, length_crc = _HEADER.unpack(header)
                if verify and masked_crc32c(header[:8]) != length_crc:
                    raise TFRecordError(f"{where}: bad length CRC, the records from here on cannot be found",
                                        hint=_DAMAGED_HINT)
                remaining = size - offset - _HEADER.size
                if length + _CRC.size > remaining:
                    raise TFRecordError(f"{where}: truncated file, the record needs {length + _CRC.size} "
                                        f"more bytes and {max(remaining, 0)} are left", hint=_DAMAGED_HINT)
                data = handle.read(length)
                tail = handle.read(_CRC.size)
                if len(data) < length or len(tail) < _CRC.size:
                    raise TFRecordError(f"{where}: truncated file, the record data ends early",
                                        hint=_DAMAGED_HINT)
                if verify and masked_crc32c(data) != _CRC.unpack(tail)[0]:
                    yield index, offset, TFRecordError(f"{where}: bad data CRC", hint=_DAMAGED_HINT)
                else:
                    yield index, offset, data
                offset += _HEADER.size + length + _CRC.size
                index += 1
        except OSError as error:
            raise TFRecordError(f"{path}: record {index} at byte {offset}: read failed: "
                                f"{error.strerror or error}") from None


def iter_records(path: str | Path, *, verify: bool = True) -> Iterator[bytes]:
    """Yield the data of every record in the TFRecord file ``path``, in order.

    ``verify`` checks both CRCs of each record.

    Raises:
        TFRecordError: the file is missing or cut short, or a CRC does not match; the message names the
            file, the record index and its byte offset.
    """
    for _, _, data in scan_records(path, verify=verify):
        if isinstance(data, TFRecordError):
            raise data
        yield data


def _frame(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + _CRC.pack(masked_crc32c(header)) + data + _CRC.pack(masked_crc32c(data))


def write_records(path: str | Path, records: Iterable[bytes]) -> Path:
    """Write ``records`` as a TFRecord file at ``path`` (a temporary file, then a rename); returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        for data in records:
            handle.write(_frame(bytes(data)))
    return path


# --- protobuf wire format: decoding --------------------------------------------------------------


class _Malformed(Exception):
    """Internal: the bytes are not a valid message; turned into a TFRecordError by the public parsers."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Return the unsigned varint at ``pos`` and the position after it."""
    if pos < end and buf[pos] < 0x80:
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _UINT64, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(f"varint longer than 10 bytes at byte {pos}")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, a, b)`` for each field of the message in ``buf[pos:end]``.

    For a varint (type 0), ``a`` is its value; for the other types, ``buf[a:b]`` holds the payload.
    """
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, 0, value, pos
            continue
        if wire == 2:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif wire == 5:
            stop = pos + 4
        elif wire == 1:
            stop = pos + 8
        else:
            raise _Malformed(f"unsupported wire type {wire} at byte {pos}")
        if stop > end:
            raise _Malformed(f"field {number} runs past the end of its message at byte {pos}")
        yield number, wire, pos, stop
        pos = stop


def _expect(wire: int, wanted: int, what: str) -> None:
    if wire != wanted:
        raise _Malformed(f"{what} has wire type {wire}, expected {wanted}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value > _INT64_MAX else value


def _bytes_list(buf: bytes, pos: int, end: int, out: list) -> None:
    for number, wire, a, b in _fields(buf, pos, end):
        if number == 1:
            _expect(wire, 2, "BytesList.value")
            out.append(buf[a:b])


def _float_list(buf: bytes, pos: int, end: int, out: list) -> None:
    for number, wire, a, b in _fields(buf, pos, end):
        if number != 1:
            continue
        if wire == 2:  # packed
            if (b - a) % 4:
                raise _Malformed(f"packed FloatList of {b - a} bytes, not a multiple of 4")
            out.extend(np.frombuffer(buf, dtype="<f4", count=(b - a) // 4, offset=a).tolist())
        elif wire == 5:
            out.append(_FLOAT.unpack_from(buf, a)[0])
        else:
            raise _Malformed(f"FloatList.value has wire type {wire}")


def _int64_list(buf: bytes, pos: int, end: int, out: list) -> None:
    for number, wire, a, b in _fields(buf, pos, end):
        if number != 1:
            continue
        if wire == 2:  # packed
            while a < b:
                value, a = _varint(buf, a, b)
                out.append(_signed(value))
        elif wire == 0:
            out.append(_signed(a))
        else:
            raise _Malformed(f"Int64List.value has wire type {wire}")


_KINDS = {1: _bytes_list, 2: _float_list, 3: _int64_list}


def _feature(buf: bytes, pos: int, end: int) -> list:
    """Decode a Feature; a repeated list of the same kind is merged, a different kind replaces it."""
    kind, values = 0, []
    for number, wire, a, b in _fields(buf, pos, end):
        decode = _KINDS.get(number)
        if decode is None:
            continue
        _expect(wire, 2, "Feature.kind")
        if number != kind:
            kind, values = number, []
        decode(buf, a, b, values)
    return values


def _map_entry(buf: bytes, pos: int, end: int) -> tuple[str, int, int]:
    """Decode a map<string, message> entry into its key and the byte range of its value."""
    key, start, stop = b"", 0, 0
    for number, wire, a, b in _fields(buf, pos, end):
        if number == 1:
            _expect(wire, 2, "map key")
            key = buf[a:b]
        elif number == 2:
            _expect(wire, 2, "map value")
            start, stop = a, b
    try:
        return key.decode("utf-8"), start, stop
    except UnicodeDecodeError:
        raise _Malformed(f"feature name {key!r} is not UTF-8") from None


def _features(buf: bytes, pos: int, end: int, out: dict[str, list]) -> None:
    for number, wire, a, b in _fields(buf, pos, end):
        if number == 1:
            _expect(wire, 2, "Features.feature")
            name, start, stop = _map_entry(buf, a, b)
            out[name] = _feature(buf, start, stop)


def _feature_lists(buf: bytes, pos: int, end: int, out: dict[str, list[list]]) -> None:
    for number, wire, a, b in _fields(buf, pos, end):
        if number != 1:
            continue
        _expect(wire, 2, "FeatureLists.feature_list")
        name, start, stop = _map_entry(buf, a, b)
        steps = []
        for inner, inner_wire, c, d in _fields(buf, start, stop):
            if inner == 1:
                _expect(inner_wire, 2, "FeatureList.feature")
                steps.append(_feature(buf, c, d))
        out[name] = steps


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


def parse_example(data: bytes) -> dict[str, list]:
    """Decode a serialised ``tf.train.Example`` into ``{name: values}``.

    Raises:
        TFRecordError: ``data`` is not a well-formed Example.
    """
    buf = _as_bytes(data)
    features: dict[str, list] = {}
    try:
        for number, wire, a, b in _fields(buf, 0, len(buf)):
            if number == 1:
                _expect(wire, 2, "Example.features")
                _features(buf, a, b, features)
    except _Malformed as error:
        raise TFRecordError(f"malformed tf.train.Example: {error}") from None
    return features


def parse_sequence_example(data: bytes) -> tuple[dict[str, list], dict[str, list[list]]]:
    """Decode a serialised ``tf.train.SequenceExample`` into ``(context, feature_lists)``.

    Raises:
        TFRecordError: ``data`` is not a well-formed SequenceExample.
    """
    buf = _as_bytes(data)
    context: dict[str, list] = {}
    lists: dict[str, list[list]] = {}
    try:
        for number, wire, a, b in _fields(buf, 0, len(buf)):
            if number == 1:
                _expect(wire, 2, "SequenceExample.context")
                _features(buf, a, b, context)
            elif number == 2:
                _expect(wire, 2, "SequenceExample.feature_lists")
                _feature_lists(buf, a, b, lists)
    except _Malformed as error:
        raise TFRecordError(f"malformed tf.train.SequenceExample: {error}") from None
    return context, lists


# --- protobuf wire format: encoding --------------------------------------------------------------


_SMALL = [bytes((value,)) for value in range(0x80)]


def _encode_varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return b"".join((_encode_varint(number << 3 | 2), _encode_varint(len(payload)), payload))


def _kind_of(value: object) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 1
    if isinstance(value, (float, np.floating)):
        return 2
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return 3
    raise TypeError(f"a feature value must be bytes, float or int, got {type(value).__name__}")


def _encode_feature(name: str, values: Iterable) -> bytes:
    """Encode a Feature; an empty list sets no kind, which readers take as an empty list of any kind."""
    values = list(values)
    if not values:
        return b""
    kind = _kind_of(values[0])
    if any(_kind_of(value) != kind for value in values):
        raise TypeError(f"feature {name!r} mixes bytes, float and int values")
    if kind == 1:
        payload = b"".join(_delimited(1, bytes(value)) for value in values)
    elif kind == 2:
        payload = _delimited(1, np.asarray(values, dtype="<f4").tobytes())
    else:
        numbers = [int(value) for value in values]
        if any(not _INT64_MIN <= number <= _INT64_MAX for number in numbers):
            raise ValueError(f"feature {name!r} has a value outside the int64 range")
        payload = _delimited(1, b"".join(_encode_varint(number & _UINT64) for number in numbers))
    return _delimited(kind, payload)


def _map_item(name: str, value: bytes) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"feature names must be str, got {type(name).__name__}")
    return _delimited(1, _delimited(1, name.encode("utf-8")) + _delimited(2, value))


def _encode_features(features: dict[str, Iterable]) -> bytes:
    return b"".join(_map_item(name, _encode_feature(name, values)) for name, values in features.items())


def encode_example(features: dict[str, list]) -> bytes:
    """Serialise ``{name: values}`` as a ``tf.train.Example``; each list's kind follows its values' type."""
    return _delimited(1, _encode_features(features))


def encode_sequence_example(context: dict[str, list], feature_lists: dict[str, list[list]]) -> bytes:
    """Serialise ``context`` and ``feature_lists`` (``{name: [values per step]}``) as a SequenceExample."""
    lists = b"".join(
        _map_item(name, b"".join(_delimited(1, _encode_feature(name, step)) for step in steps))
        for name, steps in feature_lists.items()
    )
    return _delimited(1, _encode_features(context)) + _delimited(2, lists)
