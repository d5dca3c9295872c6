"""Collapse records that are identical in every matching attribute before linkage.

A person with twenty guest orders under the same name, email and address is one record for
matching purposes. Scoring the copies costs comparisons for nothing, and worse, it breaks the
assumption behind u estimation (that random pairs are non-matches): with many copies, random
pairs often are the same person, which inflates u for strong identifiers such as email and
makes an exact email match look weaker than it is.
"""

from __future__ import annotations

import pandas as pd

_SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in normalised values


def collapse_identical(
    records: pd.DataFrame, columns: list[str], id_column: str = "record_id"
) -> tuple[pd.DataFrame, pd.Series]:
    """Return (one representative per distinct attribute tuple, record id -> representative id).

    The representative is the smallest id of its group, so the choice is deterministic.
    """
    key = records[columns].astype(str).agg(_SEPARATOR.join, axis=1)
    representative = records.groupby(key, sort=False)[id_column].transform("min")
    mapping = pd.Series(representative.to_numpy(), index=records[id_column].to_numpy())
    kept = records[records[id_column].to_numpy() == representative.to_numpy()]
    return kept.reset_index(drop=True), mapping
