"""The records the model scored, held in memory for real-time matching: encoded, and indexed.

Each column is stored once, as one int32 code per record into its distinct values (a surname
shared by 20,000 records is one Python string, not 20,000), and each blocking rule of the model
is a sorted array of record positions, so a lookup is a few binary searches and nothing is
scanned per request. Value lookups hash the distinct values (sorted hashes, not a dict: about 12
bytes per distinct value instead of about 100) and confirm the value itself, so a hash collision
can never change the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OWN_COLUMNS = ("key", "profile_id")  # not compared: the record's identity and its answer


def read_pool(con, table: str) -> tuple[dict[str, str], pa.Table]:
    """(DuckDB type per column, the table in Arrow), lists read as the JSON of their sorted,
    distinct elements so that Arrow can encode them (list_intersect ignores order, duplicates
    and NULL elements alike, so nothing a level can see is lost)."""
    types = {row[0]: row[1] for row in con.execute(f'DESCRIBE "{table}"').fetchall()}
    select = ", ".join(
        f'CAST(to_json(list_sort(list_distinct("{c}"))) AS VARCHAR) AS "{c}"'
        if t.endswith("[]") else f'"{c}"'
        for c, t in types.items()
    )  # fmt: skip
    return types, con.sql(f'SELECT {select} FROM "{table}"').to_arrow_table()


def _as_set(text: str) -> frozenset:
    return frozenset(json.loads(text))


def encode_columns(table: pa.Table, types: dict[str, str]) -> dict[str, EncodedColumn]:
    """Every compared column of a `read_pool` table, encoded; lists become frozensets."""
    return {
        c: EncodedColumn.from_arrow(table[c], _as_set if t.endswith("[]") else None)
        for c, t in types.items()
        if c not in OWN_COLUMNS
    }


class HashIndex:
    """Position of a value among `values` by its sorted hash; the caller confirms the value."""

    def __init__(self, values: Iterable[object], size: int) -> None:
        hashes = np.fromiter(map(hash, values), dtype=np.int64, count=size)
        self._order = np.argsort(hashes, kind="stable").astype(np.int32)
        self._hashes = hashes[self._order]

    def find(self, value: object, value_at: Callable[[int], object]) -> int | None:
        """The position whose value equals `value` (`value_at(position)` reads it), or None."""
        target = hash(value)
        position = int(np.searchsorted(self._hashes, target))
        while position < len(self._hashes) and self._hashes[position] == target:
            found = int(self._order[position])
            if value_at(found) == value:
                return found
            position += 1
        return None


class EncodedColumn:
    """One column as codes into its distinct values; the last code stands for NULL."""

    def __init__(self, codes: np.ndarray, values: Iterable[object], size: int) -> None:
        self.codes = codes
        self.values = np.empty(size + 1, dtype=object)  # values[null_code] is None
        self.values[:size] = list(values)
        self.null_code = size
        self._index = HashIndex(self.values[:size], size)
        self._frequencies: np.ndarray | None = None

    @classmethod
    def from_arrow(cls, column: pa.ChunkedArray, convert: Callable | None = None) -> EncodedColumn:
        """Encode an Arrow column; `convert` turns each distinct value into its matching form."""
        encoded = pc.dictionary_encode(column)
        if encoded.num_chunks:
            dictionary = encoded.chunk(0).dictionary
            indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks])
        else:
            dictionary, indices = pa.array([], type=column.type), pa.chunked_array([], pa.int32())
        size = len(dictionary)
        codes = pc.fill_null(indices, size).to_numpy().astype(np.int32, copy=False)
        values = dictionary.to_pylist()
        return cls(codes, map(convert, values) if convert else values, size)

    def derive(self, function: Callable[[object], object]) -> EncodedColumn:
        """The column of `function(value)`, e.g. a substring, computed once per distinct value."""
        mapping: dict[object, int] = {}
        remap = np.empty(self.null_code + 1, dtype=np.int32)
        for code, value in enumerate(self.values[: self.null_code]):
            remap[code] = mapping.setdefault(function(value), len(mapping))
        remap[self.null_code] = len(mapping)
        return EncodedColumn(remap[self.codes], mapping, len(mapping))

    def code_of(self, value: object) -> int | None:
        """The code of `value`, or None when it is missing or in no record."""
        return None if value is None else self._index.find(value, self.values.__getitem__)

    def frequencies(self) -> np.ndarray:
        """Share of the non-null records holding each value (NaN for NULL), as Splink's tf."""
        if self._frequencies is None:
            counts = np.bincount(self.codes, minlength=self.null_code + 1).astype(np.float64)
            present = counts[: self.null_code].sum()
            counts[self.null_code] = np.nan
            self._frequencies = counts / present if present else counts
        return self._frequencies


@dataclass(frozen=True)
class Part:
    """One equality of a blocking rule: a column, or a substring of it (1-based, like SQL)."""

    column: str
    start: int | None = None
    length: int | None = None

    def apply(self, value: object) -> object:
        """The part's value for a column value (substring semantics of DuckDB on a str)."""
        if value is None or self.start is None:
            return value
        begin = self.start - 1
        return str(value)[begin : begin + self.length]


class BlockingIndex:
    """Records sorted by one blocking rule's key: the records agreeing with a query on every
    part are one contiguous slice, found by an offset lookup and one binary search per part."""

    def __init__(self, parts: list[Part], columns: list[EncodedColumn]) -> None:
        self.parts = parts
        codes = [column.codes for column in columns]
        valid = np.ones(len(codes[0]), dtype=bool)
        for column, part_codes in zip(columns, codes, strict=True):
            valid &= part_codes != column.null_code
        rows = np.flatnonzero(valid).astype(np.int32)
        # lexsort is stable, so records with one key stay in pool order.
        order = np.lexsort([c[rows] for c in reversed(codes)])
        self.rows = rows[order]
        first = codes[0][self.rows]
        self.offsets = np.searchsorted(first, np.arange(columns[0].null_code + 1)).astype(np.int64)
        self.rest = [c[self.rows] for c in codes[1:]]

    def lookup(self, codes: list[int | None]) -> np.ndarray:
        """Pool positions whose parts have `codes` (one per part; None: no record has it)."""
        if any(code is None for code in codes):
            return self.rows[:0]
        low, high = int(self.offsets[codes[0]]), int(self.offsets[codes[0] + 1])
        for sorted_codes, code in zip(self.rest, codes[1:], strict=True):
            segment = sorted_codes[low:high]
            low, high = (low + int(np.searchsorted(segment, code, "left")),
                         low + int(np.searchsorted(segment, code, "right")))  # fmt: skip
        return self.rows[low:high]


def rank_candidates(blocks: list[np.ndarray], limit: int) -> np.ndarray:
    """Distinct positions over all blocks, at most `limit`.

    Order: positions found by more rules first (a true match agrees on several: email, phone,
    name and birth date), then by the first rule that found them (rules are most specific
    first), then pool order. Below the limit this keeps every candidate; above it, it keeps the
    likeliest matches instead of whichever came first.
    """
    found = [block for block in blocks if len(block)]
    if not found:
        return np.empty(0, dtype=np.int32)
    if len(found) == 1:
        return found[0][:limit]
    stacked = np.concatenate(found)
    positions, first, counts = np.unique(stacked, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts)) if len(positions) > limit else np.argsort(first)
    return positions[order[:limit]]


def parse_blocking_rule(rule: dict) -> list[Part]:
    """The equalities of a Splink blocking rule (`l.x = r.x`, `SUBSTRING(l.x, 1, 2) = ...`,
    joined by AND); anything else is refused rather than approximated."""
    import sqlglot
    from sqlglot import expressions as exp

    from features.errors import ContractError

    sql = rule["blocking_rule"]
    if set(rule) - {"blocking_rule", "sql_dialect"}:
        raise ContractError(f"real-time matching cannot use blocking rule options in {rule}")

    def part(node: exp.Expression, table: str) -> Part | None:
        if isinstance(node, exp.Column) and node.table == table:
            return Part(node.name)
        if isinstance(node, exp.Substring) and isinstance(node.this, exp.Column):
            start, length = node.args.get("start"), node.args.get("length")
            if (
                node.this.table == table
                and isinstance(start, exp.Literal)
                and isinstance(length, exp.Literal)
            ):
                return Part(node.this.name, int(start.this), int(length.this))
        return None

    parts = []
    for node in _conjuncts(sqlglot.parse_one(sql, read="duckdb")):
        found = isinstance(node, exp.EQ) and part(node.this, "l")
        if not found or found != part(node.expression, "r"):
            raise ContractError(f"real-time matching cannot use blocking rule {sql!r}")
        parts.append(found)
    return parts


def _conjuncts(node) -> list:
    """The terms of a chain of ANDs, parentheses dropped."""
    from sqlglot import expressions as exp

    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]
