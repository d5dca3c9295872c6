"""Score many record pairs with a saved Splink model, in numpy: an incremental run's pairs.

An incremental run scores a few thousand blocked pairs. Handing them to Splink costs more in
its fixed work (building a linker, generating and parsing its SQL, registering tables) than in
scoring; the real-time matcher's compiled levels (features.identity.levels: each level's own
SQL compiled to numpy, held equal to DuckDB by tests) score them directly, with the model's
weights and the term frequencies the caller gives, which Splink would have joined in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.identity.levels import Pairs, compile_model
from features.identity.pool import EncodedColumn, encode_columns
from features.identity.realtime import match_probability


class PairList(Pairs):
    """Pairs of records of one encoded table: left row i against right row i."""

    def __init__(
        self,
        columns: dict[str, EncodedColumn],
        left: np.ndarray,
        right: np.ndarray,
        frequencies: dict[str, np.ndarray],
    ) -> None:
        super().__init__({}, columns, right)
        self.left_rows = left
        self.term_frequencies = frequencies  # column -> frequency per code (NaN: none)
        self._left: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def left(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """The left records' values of `column` and where they are NULL."""
        return self._decode(column, self.left_rows, self._left)

    def frequencies(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Term frequencies of the left and of the right records' `column`."""
        codes = self.columns[column].codes
        table = self.term_frequencies[column]
        return table[codes[self.left_rows]], table[codes[self.rows]]


def frequency_per_code(column: EncodedColumn, lookup: pa.Table) -> np.ndarray:
    """Splink's tf of each distinct value of `column` from a (value, tf) table; NaN for a
    value it lacks and for NULL (the last code), as Splink's left join of the lookup gives."""
    values, tfs = lookup.column(0).to_pylist(), lookup.column(1).to_pylist()
    found = dict(zip(values, tfs, strict=True))
    table = np.full(column.null_code + 1, np.nan)
    table[: column.null_code] = [found.get(v, np.nan) for v in column.values[: column.null_code]]
    return table


def score_pairs(
    model: dict,
    types: dict[str, str],
    table: pa.Table,
    left: np.ndarray,
    right: np.ndarray,
    tf_tables: dict[str, pa.Table],
) -> np.ndarray:
    """Match probability of every pair (table row left[i], table row right[i]).

    `table` is a features.identity.pool.read_pool table of `types` (DuckDB types of the model's
    input columns); `tf_tables` holds, per term-frequency column, Splink's (value, tf) lookup.
    """
    prior, comparisons = compile_model(model, types)
    columns = encode_columns(table, types)
    frequencies = {c: frequency_per_code(columns[c], t) for c, t in tf_tables.items()}
    pairs = PairList(columns, left, right, frequencies)
    total = np.full(len(left), prior)
    for comparison in comparisons:
        total += comparison.weights(comparison.gammas(pairs), pairs)
    return match_probability(total)
