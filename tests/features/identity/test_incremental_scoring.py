"""The incremental run's own scoring and preparation give what Splink and a full run give.

On a copy of the resolved small world, a sample of the records is treated as if it had just
arrived: scored in the warehouse with the levels' own SQL against Splink's predict_between on
the same pairs, and prepared with only its neighbours as voters against a full preparation of
every record.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from features.identity.collect import collect_person_records, prepare_display_records
from features.identity.link_new import (
    CANDIDATES,
    EDGE_COLUMNS,
    NEW,
    POOL,
    SCORED,
    score_blocked_pairs,
    select_candidates,
    term_frequencies,
    tf_columns,
)
from features.identity.neighbours import collect_changed_records


@pytest.fixture
def warehouse_copy(resolved, tmp_path):
    """(connection to a copy of the resolved warehouse, model, threshold)."""
    home, _ = resolved
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(home / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    [(report,)] = con.execute(
        "SELECT report FROM identity_runs ORDER BY run_id DESC LIMIT 1"
    ).fetchall()
    report = json.loads(report)
    model = json.loads(Path(report["model_path"]).read_text())
    yield con, model, float(report["threshold_match_probability"])
    con.close()


def _treat_as_new(con: duckdb.DuckDBPyConnection, share: int) -> None:
    """One pool record in `share` (by a hash of its key, so the same every run) becomes NEW."""
    con.execute(
        f"CREATE TEMP TABLE inc_excluded AS SELECT key FROM {POOL} WHERE hash(key) % {share} = 0"
    )
    con.execute(
        f"CREATE TEMP TABLE {NEW} AS SELECT * EXCLUDE (profile_id) FROM {POOL} "
        "WHERE key IN (SELECT key FROM inc_excluded) ORDER BY key"
    )


def _splink_edges(con, model: dict, threshold: float) -> pd.DataFrame:
    """The same pairs scored by Splink 5's predict_between, as the incremental run did before."""
    from splink import DuckDBAPI, Linker

    def keyed(table: pa.Table) -> pa.Table:
        return table.rename_columns(["unique_id" if n == "key" else n for n in table.schema.names])

    new = con.sql(f"SELECT * FROM {NEW} ORDER BY key").to_arrow_table()
    existing = con.sql(
        f"SELECT * EXCLUDE (profile_id) FROM {CANDIDATES} ORDER BY key"
    ).to_arrow_table()
    db_api = DuckDBAPI(connection=duckdb.connect())
    left = db_api.register(keyed(new), table_name="new_records")
    right = db_api.register(keyed(pa.concat_tables([new, existing])), table_name="all_records")
    linker = Linker(left, model, log_level=logging.ERROR)
    for column, table in term_frequencies(con, "inc_excluded", SCORED, tf_columns(model)).items():
        lookup = db_api.register(table, table_name=f"tf_lookup_{column}")
        linker.table_management.register_term_frequency_lookup(lookup, column)
    pairs = linker.inference.predict_between(
        left, right, threshold_match_probability=threshold, warning_mode="never"
    ).as_pandas_dataframe()
    ids = pairs[["unique_id_l", "unique_id_r"]]
    edges = pd.DataFrame(
        {"unique_id_l": ids.min(axis=1), "unique_id_r": ids.max(axis=1),
         "strength": pairs["match_probability"]}
    )  # fmt: skip
    edges = edges[(edges["unique_id_l"] != edges["unique_id_r"]) & (edges["strength"] >= threshold)]
    edges = edges.sort_values(EDGE_COLUMNS, ascending=[True, True, False], kind="stable")
    return edges.drop_duplicates(EDGE_COLUMNS[:2]).reset_index(drop=True)


def test_warehouse_scoring_links_the_pairs_splink_links_with_its_probabilities(warehouse_copy):
    con, model, threshold = warehouse_copy
    _treat_as_new(con, share=10)
    select_candidates(con, "inc_excluded", model)
    ours = score_blocked_pairs(con, model, threshold, "inc_excluded")
    splinks = _splink_edges(con, model, threshold)
    assert len(ours) > 100  # enough pairs, new x new among them, to say something
    both = ours.merge(splinks, on=EDGE_COLUMNS[:2], how="outer", suffixes=("", "_splink"))
    assert both["strength"].notna().all() and both["strength_splink"].notna().all(), both[
        both.isna().any(axis=1)
    ]
    assert (both["strength"] - both["strength_splink"]).abs().max() < 1e-6
    # Below the threshold nothing is linked by either; re-running gives the same edges.
    assert ours.equals(score_blocked_pairs(con, model, threshold, "inc_excluded"))


def test_no_new_records_scores_no_pairs(warehouse_copy):
    con, model, threshold = warehouse_copy
    _treat_as_new(con, share=10)
    con.execute(f"DELETE FROM {NEW}")
    select_candidates(con, "inc_excluded", model)
    assert score_blocked_pairs(con, model, threshold, "inc_excluded").empty


def test_records_prepared_with_their_neighbours_equal_a_full_preparation(warehouse_copy):
    """Buyer names voted on by the email's records and named by housemates, names read from
    emails: the same with only the neighbours as voters as with every record."""
    con, _, _ = warehouse_copy
    con.execute(
        "CREATE TEMP TABLE inc_loose AS SELECT key FROM identity_records "
        "WHERE hash(key) % 7 = 0 OR (key LIKE 'orders:%' AND hash(key) % 3 = 0)"
    )
    display, changed = collect_changed_records(con, "US", "inc_loose")
    _, everything = collect_person_records(con, "US")
    as_given = prepare_display_records(display, "US")  # before any name is attributed
    compared = ["record_id", "first_name", "last_name", "email", "postcode", "address"]
    renamed = 0
    for source, frame in changed.items():
        full = everything[source].set_index("record_id").loc[frame["record_id"]].reset_index()
        pd.testing.assert_frame_equal(
            frame[compared].reset_index(drop=True), full[compared], check_dtype=False
        )
        given = as_given[source]["first_name"].fillna("")
        renamed += int((frame["first_name"].fillna("") != given).sum())
    assert renamed >= 5  # the sample holds records whose names came from their neighbours
