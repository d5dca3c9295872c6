"""Blocking-rule pair counts from group sizes equal Splink's own counts by join."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from splink import DuckDBAPI, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from features.identity.model import count_rule_pairs

RULES = [
    ("email",),
    ("first_name", "last_name"),
    ("substr(first_name, 1, 2)", "substr(last_name, 1, 2)", "dob"),
]


def _frame(rows: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def pick(values: list, missing: float) -> list:
        chosen = rng.choice(values, rows).tolist()
        return [None if rng.random() < missing else v for v in chosen]

    return pd.DataFrame({
        "unique_id": [f"{prefix}{i}" for i in range(rows)],
        "first_name": pick(["anna", "anne", "bob", "bobby", "carl"], 0.1),
        "last_name": pick(["smith", "smyth", "jones", "jonas"], 0.2),
        "dob": pick(["1980-01-01", "1990-05-05", "1975-12-31"], 0.3),
        "email": pick([f"p{i}@x.com" for i in range(40)], 0.4),
    })  # fmt: skip


@pytest.mark.parametrize("link_type", ["dedupe_only", "link_and_dedupe", "link_only"])
def test_counts_equal_splinks_counts_by_join(link_type: str) -> None:
    con = duckdb.connect()
    api = DuckDBAPI(connection=con)
    frames = [_frame(300, 1, "a")] if link_type == "dedupe_only" else [
        _frame(300, 1, "a"), _frame(200, 2, "b")
    ]  # fmt: skip
    tables = [
        api.register(f, dataset_display_name=f"t{i}", table_name=f"t{i}")
        for i, f in enumerate(frames)
    ]
    for rule in RULES:
        [expected] = count_comparisons_from_blocking_rules(
            tables if len(tables) > 1 else tables[0],
            blocking_rules=[block_on(*rule)],
            link_type=link_type,
            unique_id_column_name="unique_id",
            record_sample_proportion=1.0,
        )
        ours = count_rule_pairs(con, tables, rule, link_type == "link_only")
        assert ours == int(expected["marginal_comparison_count"]) > 0, rule
