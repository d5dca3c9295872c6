"""Collapse records that are identical in every matching attribute before linkage.

A person with twenty guest orders under the same name, email and address is one record for
matching purposes. Scoring the copies costs comparisons for nothing, and worse, it breaks the
assumption behind u estimation (that random pairs are non-matches): with many copies, random
pairs often are the same person, which inflates u for strong identifiers such as email and
makes an exact email match look weaker than it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def collapse_identical(
    records: pd.DataFrame, columns: list[str], id_column: str = "record_id"
) -> tuple[pd.DataFrame, pd.Series]:
    """Return (one representative per distinct attribute tuple, record id -> representative id).

    The representative is the smallest id of its group, so the choice is deterministic.
    """
    # Exact grouping without hashing: each column's values become codes (missing -> -1), and
    # the tuple of codes is folded into one group number column by column; re-numbering after
    # each column keeps the number below the row count, so the product never overflows.
    group = np.zeros(len(records), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(records[column], use_na_sentinel=True)
        group, _ = pd.factorize(group * (len(uniques) + 1) + (codes + 1))
    ids = records[id_column].to_numpy()
    by_id = np.argsort(ids, kind="stable")
    groups_by_id = group[by_id]
    _, first = np.unique(groups_by_id, return_index=True)  # first occurrence = smallest id
    smallest = np.empty(len(first), dtype=np.int64)
    smallest[groups_by_id[first]] = by_id[first]
    chosen = smallest[group] if len(ids) else np.zeros(0, dtype=np.int64)
    mapping = pd.Series(ids[chosen], index=ids)
    kept = records[chosen == np.arange(len(ids))]  # rows, not id strings, compared
    kept.index = pd.RangeIndex(len(kept))  # in place: reset_index copied a million rows again
    return kept, mapping
