"""Link new records to the records a full run scored, with that run's saved Splink model.

The incremental resolve does not retrain. New records are prepared and collapsed exactly as a
full run prepares them; the model JSON of the last full run is loaded into a Splink `Linker`,
and Splink 5's `predict_between` scores the pairs the model's own blocking rules generate
between the new records and (the existing records plus the new ones), with the model's m, u
and prior. Only existing records sharing a blocking key with a new record are handed to
Splink (selected in the warehouse with the same rules' SQL), and term frequencies are
registered from the whole pool plus the new records, so a value weighs what a full run over
the same records would make it weigh. Exact-email edges are added as in a full run
(features.identity.clusters.consistent_identifier_edges).

Working tables (DuckDB temp tables of the warehouse connection): NEW, the new records'
representatives typed like the pool; CANDIDATES, the pool records they are compared with.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd
import pyarrow as pa

from features.identity.clusters import consistent_identifier_edges
from features.identity.collect import has_enough_evidence
from features.identity.dedupe import collapse_identical
from features.identity.neighbours import collect_changed_records
from features.identity.pipeline import KEY_SEPARATOR

POOL = "identity_match_records"  # the records the model scored, with their profile ids
NEW = "inc_new"
CANDIDATES = "inc_candidates"
EDGE_COLUMNS = ["unique_id_l", "unique_id_r", "strength"]


def stage_new_records(
    con: duckdb.DuckDBPyConnection, keys: str, phone_region: str, pinned: set[str]
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Prepare the records whose key is in table `keys` and create NEW from them.

    Returns (display records, key -> representative key of the records with enough evidence,
    keys of those without). Identical records collapse to their smallest key, except pinned
    ones, which stay their own representative as in a full run.
    """
    display, prepared = collect_changed_records(con, phone_region, keys)
    frames, loners = [], []
    for source, frame in prepared.items():
        enough = has_enough_evidence(frame)
        kept = frame[enough]
        frames.append(kept.assign(record_id=source + KEY_SEPARATOR + kept["record_id"]))
        loners += [f"{source}{KEY_SEPARATOR}{r}" for r in frame.loc[~enough, "record_id"]]
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {POOL})").fetchall())
    columns = [c for c in types if c not in ("key", "profile_id")]
    union = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    union = union.reindex(columns=["record_id", *columns]).astype({"record_id": object})
    union["pin"] = union["record_id"].where(union["record_id"].isin(pinned), "")
    matching = [c for c in columns if c != "first_name_aliases"]
    reps, to_rep = collapse_identical(union, [*matching, "pin"])
    con.register("new_frame", reps.drop(columns="pin").astype(object).where(reps.notna(), None))
    casts = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {NEW} AS SELECT CAST(record_id AS VARCHAR) AS key, "
        f"{casts} FROM new_frame ORDER BY key"
    )
    con.unregister("new_frame")
    return display, to_rep, loners


def link_new_records(
    con: duckdb.DuckDBPyConnection, model: dict, threshold: float, excluded: str
) -> tuple[pd.DataFrame, int]:
    """Edges (unique_id_l, unique_id_r, strength) touching a record of NEW: scored pairs at or
    above `threshold`, and exact-email edges (strength 2). Pool records whose key is in table
    `excluded` take no part (they are being re-linked or were removed). Creates CANDIDATES.
    Returns (edges, how many of them were scored by the model)."""
    select_candidates(con, excluded, model)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW inc_scored AS SELECT * FROM {NEW} UNION ALL "
        f"SELECT * EXCLUDE (profile_id) FROM {CANDIDATES}"
    )
    tf = term_frequencies(con, excluded, "inc_scored", tf_columns(model))
    new = con.sql(f"SELECT * FROM {NEW} ORDER BY key").to_arrow_table()
    existing = con.sql(
        f"SELECT * EXCLUDE (profile_id) FROM {CANDIDATES} ORDER BY key"
    ).to_arrow_table()
    scored = score_new_records(model, new, existing, tf, threshold)
    with_email = con.execute(
        f"SELECT key AS record_id, email, first_name, last_name, TRUE AS new FROM {NEW} "
        f"WHERE email IS NOT NULL UNION ALL SELECT key, email, first_name, last_name, FALSE "
        f"FROM {CANDIDATES} WHERE email IN (SELECT email FROM {NEW})"
    ).df()
    fresh = set(with_email.loc[with_email["new"], "record_id"])
    email = consistent_identifier_edges(with_email, "email")
    email = email[email["unique_id_l"].isin(fresh) | email["unique_id_r"].isin(fresh)]
    edges = pd.concat([scored, email.assign(strength=2.0)], ignore_index=True)
    return edges[EDGE_COLUMNS], len(scored)


def tf_columns(model: dict) -> list[str]:
    """Columns whose exact matches the model adjusts by term frequency, in model order."""
    found: list[str] = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in found:
                found.append(column)
    return found


def select_candidates(con: duckdb.DuckDBPyConnection, excluded: str, model: dict) -> None:
    """Create CANDIDATES: pool records sharing a blocking key of the model (or an email) with a
    record of NEW, except those whose key is in table `excluded`."""
    rules = [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]
    rules.append('l."email" = r."email"')  # exact-email edges need these even if unblocked
    # Row ids, not keys: deduplicating the hits of every rule is then an integer operation.
    hits = " UNION ".join(f"SELECT r.rowid FROM {NEW} l JOIN {POOL} r ON {rule}" for rule in rules)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS SELECT * FROM {POOL} "
        f"WHERE rowid IN ({hits}) AND key NOT IN (SELECT key FROM {excluded})"
    )


def term_frequencies(
    con: duckdb.DuckDBPyConnection, excluded: str, wanted: str, columns: list[str]
) -> dict[str, pa.Table]:
    """Splink's tf table per column over the pool (less `excluded`) plus NEW, for the values
    present in table `wanted` only (the records about to be scored)."""
    tables = {}
    for column in columns:
        q = f'"{column}"'
        tables[column] = con.sql(
            f"WITH base AS (SELECT {q} FROM {POOL} WHERE key NOT IN (SELECT key FROM {excluded})"
            f" UNION ALL SELECT {q} FROM {NEW}) "
            f"SELECT {q}, CAST(COUNT(*) AS DOUBLE) / (SELECT COUNT({q}) FROM base) AS "
            f'"tf_{column}" FROM base WHERE {q} IN (SELECT {q} FROM {wanted}) GROUP BY {q}'
        ).to_arrow_table()
    return tables


def score_new_records(
    model: dict, new: pa.Table, existing: pa.Table, tf_tables: dict[str, pa.Table], threshold: float
) -> pd.DataFrame:
    """(unique_id_l, unique_id_r, strength) of every blocked pair new x existing and new x new
    (each once, smaller id left) whose match probability is at least `threshold`. `new` and
    `existing` are Arrow tables of prepared records keyed by `key`, with one schema."""
    from splink import DuckDBAPI, Linker

    if new.num_rows == 0:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    db_api = DuckDBAPI(connection=duckdb.connect())
    left = db_api.register(_keyed(new), table_name="new_records")
    # One call instead of predict_within + predict_between: Splink's fixed cost per call (SQL
    # generation and parsing) is most of its time at this size.
    right = db_api.register(_keyed(pa.concat_tables([new, existing])), table_name="all_records")
    # Only the probabilities are read, so Splink need not carry every column through; and the
    # model was validated by the Splink that trained it. Both save a third of the time.
    lean = {**model, "retain_matching_columns": False,
            "retain_intermediate_calculation_columns": False}  # fmt: skip
    linker = Linker(left, lean, log_level=logging.ERROR, validate_settings=False)
    for column, table in tf_tables.items():
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


def _keyed(table: pa.Table) -> pa.Table:
    return table.rename_columns(["unique_id" if n == "key" else n for n in table.schema.names])
