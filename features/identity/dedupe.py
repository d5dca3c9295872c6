"""Collapse records that are identical in every matching attribute before linkage.

A person with twenty guest orders under the same name, email and address is one record for
matching purposes. Scoring the copies costs comparisons for nothing, and worse, it breaks the
assumption behind u estimation (that random pairs are non-matches): with many copies, random
pairs often are the same person, which inflates u for strong identifiers such as email and
makes an exact email match look weaker than it is.
"""

from __future__ import annotations

import pandas as pd

_SEPARATOR = "\x1f"  # stands for a missing value; cannot occur in normalised values


def collapse_identical(
    records: pd.DataFrame, columns: list[str], id_column: str = "record_id"
) -> tuple[pd.DataFrame, pd.Series]:
    """Return (one representative per distinct attribute tuple, record id -> representative id).

    The representative is the smallest id of its group, so the choice is deterministic.
    """
    values = records[columns].astype(object).where(records[columns].notna(), _SEPARATOR)
    # One 64-bit hash per row of the values (pandas' own row hashing); a collision would need
    # two distinct records to agree on 64 bits, about 1e-8 at a billion records.
    digest = pd.util.hash_pandas_object(values.astype(str), index=False)
    keyed = pd.DataFrame({"digest": digest.to_numpy(), "id": records[id_column].to_numpy()})
    first = keyed.sort_values("id", kind="stable").drop_duplicates("digest")
    representative = keyed["digest"].map(first.set_index("digest")["id"])
    mapping = pd.Series(representative.to_numpy(), index=records[id_column].to_numpy())
    kept = records[records[id_column].to_numpy() == representative.to_numpy()]
    return kept.reset_index(drop=True), mapping
