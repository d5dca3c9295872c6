"""The incremental run's own preparation gives what a full run gives.

On a copy of the resolved small world, a sample of the records is treated as if it had just
arrived: prepared with only its neighbours as voters against a full preparation of every record.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features.identity.collect import collect_person_records, prepare_display_records
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
