"""Vectorised noise: the ways real systems mangle names, emails and phone numbers.

Each function takes whole columns and a boolean mask of the rows to damage, so the rate is the
caller's decision and the tests can measure it. Edits work on byte matrices (all values are
ASCII), never on Python strings one by one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.strings import (
    LOWER,
    from_byte_matrix,
    from_char_matrix,
    join,
    keep_nulls,
    replace_where,
    take,
    to_char_matrix,
    to_digit_matrix,
    to_vocabulary,
)

JUNK_EMAILS = ("test@test.com", "noemail@example.com")
JUNK_PHONES = ("0000000000", "1111111111")
JUNK_ANONYMOUS_IDS = ("0", "null", "anonymous", "undefined")
JUNK_USER_ID = "0"

# Phone layouts people and systems use; 'd' marks a digit of the 10-digit national number.
PHONE_FORMATS = (
    "(ddd) ddd-dddd",
    "ddd.ddd.dddd",
    "+1 ddd ddd dddd",
    "dddddddddd",
    "1-ddd-ddd-dddd",
    "ddd-ddd-dddd",
    "+1dddddddddd",
)
# How often each layout appears in forms typed by customers, by agents, and from caller id.
FORM_PHONE_WEIGHTS = (0.25, 0.08, 0.07, 0.25, 0.05, 0.30, 0.0)
AGENT_PHONE_WEIGHTS = (0.30, 0.05, 0.0, 0.30, 0.10, 0.25, 0.0)
CALLER_ID_WEIGHTS = (0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.75)


def _take_rows(values: pa.Array, mask: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    rows = np.flatnonzero(mask)
    return rows, values.take(pa.array(rows, type=pa.int64()))


def _put_rows(values: pa.Array, rows: np.ndarray, changed: pa.Array) -> pa.Array:
    """Write `changed` into `values` at `rows`."""
    if len(rows) == 0:
        return values
    position = np.full(len(values), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return replace_where(values, position >= 0, take(changed, position))


def draw_mask(rng: np.random.Generator, rows: int, rate: float) -> np.ndarray:
    """Rows picked independently with probability `rate`."""
    return rng.random(rows) < rate


def apply_typos(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """One keyboard edit in each masked value of 3+ characters: substitute, delete or transpose.

    The first character is left alone (people rarely mistype it), and a transposition of two
    equal letters becomes a substitution so every masked value really changes.
    """
    rows, subset = _take_rows(values, mask)
    if len(rows) == 0:
        return values
    chars, lengths = to_char_matrix(subset)
    count, width = chars.shape
    ok = lengths >= 3
    position = 1 + np.floor(rng.random(count) * np.maximum(lengths - 2, 1)).astype(np.int64)
    position = np.minimum(position, np.maximum(lengths - 2, 0))
    kind = rng.integers(0, 3, count)
    index = np.arange(count)
    here = chars[index, position]
    after = chars[index, np.minimum(position + 1, max(width - 1, 0))]
    kind = np.where((kind == 2) & (here == after), 0, kind)
    # Substitution keeps the case of the replaced letter.
    letter = LOWER[rng.integers(0, 26, count)]
    letter = np.where(letter == (here | 0x20), LOWER[(letter - ord("a") + 1) % 26], letter)
    letter = np.where((here >= ord("A")) & (here <= ord("Z")), letter - 32, letter).astype(np.uint8)
    sub = ok & (kind == 0)
    chars[index[sub], position[sub]] = letter[sub]
    swap = ok & (kind == 2)
    chars[index[swap], position[swap]] = after[swap]
    chars[index[swap], position[swap] + 1] = here[swap]
    drop = ok & (kind == 1)
    if drop.any():
        column = np.arange(width)[None, :]
        shifted = np.minimum(column + (column >= position[drop, None]), width - 1)
        chars[drop] = np.take_along_axis(chars[drop], shifted, axis=1)
        lengths = np.where(drop, lengths - 1, lengths)
    return _put_rows(values, rows, keep_nulls(from_char_matrix(chars, lengths), subset))


def swap_names(first: pa.Array, last: pa.Array, mask: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """First and last name exchanged at `mask` (a form filled in the wrong order)."""
    flag = pa.array(mask)
    return pc.if_else(flag, last, first), pc.if_else(flag, first, last)


def pad_whitespace(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """A leading, trailing or both-sided space at `mask`, as copy-paste leaves them."""
    side = rng.integers(0, 3, len(values))
    padded = pc.if_else(
        pa.array(side == 0),
        join(" ", values),
        pc.if_else(pa.array(side == 1), join(values, " "), join(" ", values, " ")),
    )
    return keep_nulls(replace_where(values, mask, padded), values)


def capitalize_emails(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Upper-case letters in emails at `mask`: the whole address, or a capitalised first letter."""
    whole = rng.random(len(values)) < 0.3
    capital = pc.utf8_capitalize(values)
    return replace_where(values, mask, pc.if_else(pa.array(whole), pc.utf8_upper(values), capital))


def vary_gmail_dots(emails: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """The same gmail mailbox written with other dots: dots removed, or one dot inserted.

    Only masked rows ending in '@gmail.com' change; others stay as they are.
    """
    gmail = pc.ends_with(pc.utf8_lower(emails), "@gmail.com").to_numpy(zero_copy_only=False)
    rows, subset = _take_rows(emails, mask & gmail)
    if len(rows) == 0:
        return emails
    local = pc.replace_substring_regex(subset, "@.*$", "")
    dotted = pc.match_substring(local, ".").to_numpy(zero_copy_only=False)
    chars, lengths = to_char_matrix(local)
    count, width = chars.shape
    position = 1 + np.floor(rng.random(count) * np.maximum(lengths - 1, 1)).astype(np.int64)
    column = np.arange(width + 1)[None, :]
    source = np.where(column < position[:, None], column, column - 1)
    inserted = np.take_along_axis(np.pad(chars, ((0, 0), (0, 1))), np.maximum(source, 0), axis=1)
    inserted[np.arange(count), position] = ord(".")
    with_dot = from_char_matrix(inserted, lengths + 1)
    without_dots = pc.replace_substring(local, ".", "")
    variant = pc.if_else(pa.array(dotted), without_dots, with_dot)
    return _put_rows(emails, rows, join(variant, "gmail.com", sep="@"))


def mistype_domains(emails: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """A typo in the domain name at `mask` (gmial.com): the address is valid-looking but bounces."""
    local = pc.replace_substring_regex(emails, "@.*$", "")
    domain = pc.replace_substring_regex(emails, "^[^@]*@", "")
    name = pc.replace_substring_regex(domain, r"\..*$", "")
    tld = pc.replace_substring_regex(domain, r"^[^.]*", "")
    broken = join(apply_typos(name, mask, rng), tld)
    return replace_where(emails, mask, join(local, broken, sep="@"))


def format_phones(
    numbers: np.ndarray, rng: np.random.Generator, weights: tuple[float, ...]
) -> pa.Array:
    """10-digit numbers rendered in a layout drawn per row; 0 means no phone (null)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    p = np.asarray(weights, dtype=float)
    layout = rng.choice(len(PHONE_FORMATS), size=len(numbers), p=p / p.sum())
    digits = to_digit_matrix(numbers, 10)
    parts: list[pa.Array] = []
    order: list[np.ndarray] = []
    for k, template in enumerate(PHONE_FORMATS):  # seven layouts, each filled for all its rows
        rows = np.flatnonzero(layout == k)
        pattern = np.frombuffer(template.encode("ascii"), dtype=np.uint8)
        slots = np.flatnonzero(pattern == ord("d"))
        chars = np.broadcast_to(pattern, (len(rows), len(pattern))).copy()
        chars[:, slots] = digits[rows]
        parts.append(from_byte_matrix(chars))
        order.append(rows)
    gathered = pa.concat_arrays(parts)
    position = np.empty(len(numbers), dtype=np.int64)
    position[np.concatenate(order)] = np.arange(len(numbers))
    out = gathered.take(pa.array(position))
    return keep_nulls(out, pa.array(numbers, mask=numbers == 0))


def format_e164(numbers: np.ndarray) -> pa.Array:
    """10-digit US numbers as E.164 ('+12125550134'), the form telephony and consent tools keep;
    0 means no number (null)."""
    chars = np.c_[
        np.full((len(numbers), 2), [ord("+"), ord("1")], dtype=np.uint8),
        to_digit_matrix(numbers, 10),
    ]
    return keep_nulls(from_byte_matrix(chars), pa.array(numbers, mask=numbers == 0))


def draw_junk(rng: np.random.Generator, rows: int, values: tuple[str, ...]) -> pa.Array:
    """One junk value per row, drawn uniformly from `values`."""
    return take(to_vocabulary(values), rng.integers(0, len(values), rows))
