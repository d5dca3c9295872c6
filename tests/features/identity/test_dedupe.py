"""Records identical in every matching attribute collapse to their smallest id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.identity.dedupe import collapse_identical


def test_each_distinct_tuple_keeps_its_smallest_id_and_every_id_maps_to_it() -> None:
    rng = np.random.default_rng(3)
    records = pd.DataFrame({
        "record_id": [f"r{i:04d}" for i in rng.permutation(500)],
        "name": rng.choice(["ann", "bob", None], 500),
        "dob": rng.choice([1980, 1990], 500),
    })  # fmt: skip
    kept, mapping = collapse_identical(records, ["name", "dob"])

    expected = (
        records.fillna({"name": "<missing>"}).groupby(["name", "dob"])["record_id"].transform("min")
    )
    assert mapping.loc[records["record_id"]].tolist() == expected.tolist()
    assert sorted(kept["record_id"]) == sorted(set(expected))
    assert len(kept) == len(records.drop_duplicates(["name", "dob"])) == 6


def test_no_records_give_empty_results() -> None:
    kept, mapping = collapse_identical(pd.DataFrame({"record_id": [], "name": []}), ["name"])
    assert kept.empty and mapping.empty
