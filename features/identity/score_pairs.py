"""Score many record pairs with a saved Splink model in the warehouse: an incremental run's pairs.

An incremental run scores about a hundred thousand blocked pairs. Handing them to Splink costs
more in its fixed work (building a linker, generating and parsing its SQL, registering tables)
than in scoring. Here each comparison's level is chosen by one CASE over the pair's `_l` and
`_r` columns, built from the levels' own SQL as the saved model holds it (Splink's predict
builds the same CASE), so DuckDB's own string similarities decide. The weights then come from
Splink's level objects (features.identity.levels), with the term-frequency adjustment from the
lookups the caller gives, which Splink would have joined in.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from features.identity.levels import read_levels
from features.identity.realtime import match_probability


class _PairFrequencies:
    """Term frequencies of both records of each pair, from per-record arrays (NaN: none)."""

    def __init__(self, per_record: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray):
        self.per_record, self.left, self.right = per_record, left, right

    def frequencies(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        values = self.per_record[column]
        return values[self.left], values[self.right]


def score_pairs(
    con: duckdb.DuckDBPyConnection,
    model: dict,
    records: str,
    pairs: str,
    tf_tables: dict[str, pa.Table],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, match probability) of every pair the SQL query `pairs` gives, ordered by
    left then right.

    `pairs` yields columns l and r, each a `pos` of table `records`, whose other columns are the
    model's input columns (and `key`). `tf_tables` holds, per term-frequency column, Splink's
    (value, tf) lookup; a value missing from it has no adjustment, as Splink's left join gives.
    """
    prior, comparisons = read_levels(model)
    columns = [
        name
        for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {records})").fetchall()
        if name not in ("key", "pos", "profile_id")
    ]
    sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)
    cases = ", ".join(f"{c.case_sql()} AS gamma_{i}" for i, c in enumerate(comparisons))
    found = con.execute(
        f"WITH pairs AS ({pairs}), sides AS (SELECT p.l AS pair_l, p.r AS pair_r, {sides} "
        f"FROM pairs p JOIN {records} l ON l.pos = p.l JOIN {records} r ON r.pos = p.r) "
        f"SELECT pair_l, pair_r, {cases} FROM sides ORDER BY pair_l, pair_r"
    ).fetchnumpy()
    left, right = found["pair_l"].astype(np.int64), found["pair_r"].astype(np.int64)
    if not len(left):
        return left, right, np.zeros(0)
    per_record = _frequencies_per_record(con, records, tf_tables)
    frequencies = _PairFrequencies(per_record, left, right)
    total = np.full(len(left), prior)
    for i, comparison in enumerate(comparisons):
        gamma = np.asarray(found[f"gamma_{i}"], dtype=np.int8)
        total += comparison.weights(gamma, frequencies)
    return left, right, match_probability(total)


def _frequencies_per_record(
    con: duckdb.DuckDBPyConnection, records: str, tf_tables: dict[str, pa.Table]
) -> dict[str, np.ndarray]:
    """Per term-frequency column, the tf of each record of `records` indexed by its `pos`."""
    if not tf_tables:
        return {}
    joins, selected = [], []
    for i, (column, table) in enumerate(tf_tables.items()):
        con.register(f"score_tf_{i}", table)
        joins.append(f'LEFT JOIN score_tf_{i} t{i} ON t{i}."{column}" = s."{column}"')
        selected.append(f'CAST(t{i}."tf_{column}" AS DOUBLE) AS tf_{i}')
    try:
        found = con.execute(
            f"SELECT s.pos, {', '.join(selected)} FROM {records} s {' '.join(joins)}"
        ).fetchnumpy()
    finally:
        for i in range(len(tf_tables)):
            con.unregister(f"score_tf_{i}")
    positions = found["pos"].astype(np.int64)
    size = int(positions.max()) + 1 if len(positions) else 0
    per_record = {}
    for i, column in enumerate(tf_tables):
        values = np.full(size, np.nan)
        values[positions] = np.ma.filled(found[f"tf_{i}"].astype(float), np.nan)
        per_record[column] = values
    return per_record
