"""Vectorised string building on Arrow buffers.

Millions of ids, names and phone numbers are built here without a Python loop per row: either
through pyarrow.compute kernels, or by writing ASCII bytes into a (rows x width) uint8 matrix
and handing its bytes to Arrow as a string array. Every generated string is ASCII, which is what
makes the byte-matrix edits (typos, dots, casing) safe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
LOWER = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def to_vocabulary(values: Sequence[str]) -> pa.StringArray:
    """A small lookup array whose positions are the codes used in numpy arrays."""
    return pa.array(list(values), type=pa.string())


def take(vocab: pa.Array, codes: np.ndarray) -> pa.Array:
    """Strings for integer codes; negative codes become nulls."""
    codes = np.asarray(codes)
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes).astype(np.int64), mask=mask if mask.any() else None)
    return vocab.take(indices)


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise concatenation; null parts are skipped together with their separator."""
    return pc.binary_join_element_wise(*parts, sep, null_handling="skip")


def set_null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """Replace the values at `mask` by nulls."""
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def replace_where(values: pa.Array, mask: np.ndarray, other: pa.Array) -> pa.Array:
    """Take `other` where `mask` is true, `values` elsewhere."""
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), other, values)


def from_byte_matrix(chars: np.ndarray) -> pa.StringArray:
    """Turn a (rows x width) uint8 ASCII matrix into a string array without a copy per row."""
    rows, width = chars.shape
    offsets = np.arange(rows + 1, dtype=np.int64) * width
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def to_digit_matrix(numbers: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an ASCII (rows x width) matrix."""
    rest = np.array(numbers, dtype=np.int64)
    chars = np.empty((len(rest), width), dtype=np.uint8)
    # One column at a time keeps the working set at one int64 vector, not rows x width of them.
    for column in range(width - 1, -1, -1):
        chars[:, column] = rest % 10 + ord("0")
        rest //= 10
    return chars


def count_id_digits(count: int, minimum: int = 7) -> int:
    """Digits needed to number `count` things, at least `minimum` so ids look alike."""
    return max(minimum, len(str(max(count, 1))))


def build_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """Ids such as 'cust_0000042': a prefix and a zero-padded number."""
    numbers = np.asarray(numbers)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :] = to_digit_matrix(numbers, width)
    return from_byte_matrix(chars)


def draw_uuids(rng: np.random.Generator, rows: int, upper: bool = False) -> pa.StringArray:
    """Version-4 UUID strings (what tracking SDKs use for cookies and install ids)."""
    raw = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    alphabet = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8) if upper else HEX
    nibbles = np.empty((rows, 32), dtype=np.uint8)
    nibbles[:, 0::2] = alphabet[raw >> 4]
    nibbles[:, 1::2] = alphabet[raw & 0x0F]
    chars = np.full((rows, 36), ord("-"), dtype=np.uint8)
    for out_start, (lo, hi) in zip(
        (0, 9, 14, 19, 24), ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), strict=True
    ):
        chars[:, out_start : out_start + hi - lo] = nibbles[:, lo:hi]
    return from_byte_matrix(chars)


def draw_hex(rng: np.random.Generator, rows: int, length: int) -> pa.StringArray:
    """Lower-case hex strings of `length` characters (Android device ids are 16)."""
    return from_byte_matrix(HEX[rng.integers(0, 16, size=(rows, length))])


def to_char_matrix(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array as a zero-padded (rows x longest) uint8 matrix and the row lengths.

    Nulls come back as empty rows; callers keep the original validity themselves.
    """
    values = pc.fill_null(values, "")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    rows = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + rows + 1
    ]
    data_buffer = values.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = int(lengths.max()) if rows else 0
    inside = np.arange(width)[None, :] < lengths[:, None]
    chars = np.zeros((rows, width), dtype=np.uint8)
    chars[inside] = data[(offsets[:-1, None] + np.arange(width)[None, :])[inside]]
    return chars, lengths


def from_char_matrix(chars: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """Inverse of `to_char_matrix`: keep the first `lengths[i]` bytes of each row."""
    rows, width = chars.shape
    inside = np.arange(width)[None, :] < lengths[:, None]
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(chars[inside])
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def keep_nulls(result: pa.Array, original: pa.Array) -> pa.Array:
    """Put back the nulls of `original` into a rebuilt array of the same length."""
    if original.null_count == 0:
        return result
    return pc.if_else(pc.is_null(original), pa.nulls(len(result), result.type), result)


def upper_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """ALL CAPS at `mask`."""
    return replace_where(values, mask, pc.utf8_upper(values))


def to_timestamps(micros: np.ndarray) -> pa.TimestampArray:
    """int64 microseconds since the Unix epoch as timestamp[us, UTC]; the int64 minimum is null."""
    micros = np.asarray(micros, dtype=np.int64)
    mask = micros == np.iinfo(np.int64).min
    return pa.array(micros, type=pa.int64(), mask=mask if mask.any() else None).cast(
        pa.timestamp("us", tz="UTC")
    )


def to_dates(days: np.ndarray) -> pa.Date32Array:
    """int days since the Unix epoch as date32; the minimum int32 marks nulls."""
    days = np.asarray(days, dtype=np.int32)
    mask = days == np.iinfo(np.int32).min
    return pa.array(days, type=pa.int32(), mask=mask if mask.any() else None).cast(pa.date32())


def repeat_string(value: str, rows: int) -> pa.Array:
    """A column holding the same string in every row."""
    return pa.array([value], type=pa.string()).take(pa.array(np.zeros(rows, dtype=np.int64)))
