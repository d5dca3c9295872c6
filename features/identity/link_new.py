"""Link new records to the records a full run scored, with that run's saved Splink model.

The incremental resolve does not retrain. New records are prepared and collapsed exactly as a
full run prepares them (features.identity.neighbours); the pairs the model's own blocking rules
generate between the new records and (the existing records plus the new ones) are found in the
warehouse with the rules' own SQL, and scored with the model's m, u and prior as Splink's
predict would score them: the levels' own SQL in the warehouse, the weights in numpy
(features.identity.score_pairs; Splink's fixed cost of building a linker and its SQL was most
of the time for this many pairs). Only existing records sharing a blocking key with a new
record take part, and term frequencies come from the whole pool plus the new records, so a
value weighs what a full run over the same records would make it weigh. Exact-email edges are
added as in a full run (features.identity.clusters.consistent_identifier_edges).

Working tables (DuckDB temp tables of the warehouse connection): NEW, the new records'
representatives typed like the pool; CANDIDATES, the pool records they are compared with;
SCORED, both, NEW first.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from features.identity.clusters import consistent_identifier_edges
from features.identity.collect import has_enough_evidence
from features.identity.dedupe import collapse_identical
from features.identity.neighbours import collect_changed_records
from features.identity.pipeline import KEY_SEPARATOR
from features.identity.score_pairs import score_pairs

POOL = "identity_match_records"  # the records the model scored, with their profile ids
NEW = "inc_new"
CANDIDATES = "inc_candidates"
SCORED = "inc_scored"  # NEW, then CANDIDATES: the records whose pairs are scored
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
    scored = score_blocked_pairs(con, model, threshold, excluded)
    with_email = (
        f"SELECT key AS record_id, email, first_name, last_name FROM {NEW} "
        f"WHERE email IS NOT NULL UNION ALL SELECT key, email, first_name, last_name "
        f"FROM {CANDIDATES} WHERE email IN (SELECT email FROM {NEW})"
    )
    email = consistent_identifier_edges(with_email, "email", con)
    # Only the edges touching a new record.
    fresh = {k for (k,) in con.execute(f"SELECT key FROM {NEW}").fetchall()}
    email = email[email["unique_id_l"].isin(fresh) | email["unique_id_r"].isin(fresh)]
    edges = pd.concat([scored, email.assign(strength=2.0)], ignore_index=True)
    return edges[EDGE_COLUMNS], len(scored)


def blocked_pairs_sql(con: duckdb.DuckDBPyConnection, model: dict) -> str:
    """SQL giving (l, r), positions (`pos`) in SCORED: every pair of a record of NEW (left) and
    any other record of SCORED that one of the model's blocking rules joins, each pair once."""
    [(new,)] = con.execute(f"SELECT COUNT(*) FROM {NEW}").fetchall()
    return " UNION ".join(
        f"SELECT l.pos AS l, r.pos AS r FROM {SCORED} l JOIN {SCORED} r "
        f"ON ({rule}) AND l.pos < {new} AND l.pos <> r.pos"
        for rule in covering_rules(_prediction_rules(model))
    )


def _prediction_rules(model: dict) -> list[str]:
    return [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]


def covering_rules(rules: list[str]) -> list[str]:
    """The rules whose union joins the same pairs as all of `rules`: a rule whose equalities
    include every equality of another rule only finds pairs that other rule finds (last name
    and birth date within birth date alone), and is dropped, as are duplicates. A rule that is
    not a plain conjunction is kept whole."""
    terms = [_conjuncts(rule) for rule in rules]
    kept = []
    for i, mine in enumerate(terms):
        covered = any(
            other < mine or (other == mine and j < i)
            for j, other in enumerate(terms) if j != i
        )  # fmt: skip
        if not covered:
            kept.append(rules[i])
    return kept


def _conjuncts(rule: str) -> frozenset[str]:
    """The AND-ed terms of a blocking rule, each without its outer parentheses."""
    if " OR " in rule.upper():
        return frozenset([rule])
    return frozenset(_unwrap(term.strip()) for term in rule.split(" AND "))


def _unwrap(term: str) -> str:
    """`term` without parentheses enclosing all of it (not those of '(a) = (b)')."""
    while term.startswith("(") and term.endswith(")"):
        depth = 0
        for position, char in enumerate(term):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and position < len(term) - 1:
                return term
        term = term[1:-1].strip()
    return term


def score_blocked_pairs(
    con: duckdb.DuckDBPyConnection, model: dict, threshold: float, excluded: str
) -> pd.DataFrame:
    """(unique_id_l, unique_id_r, strength) of every blocked pair new x existing and new x new
    (each once, smaller key left) whose match probability is at least `threshold`, scored as
    Splink's predict would score them (features.identity.score_pairs), from SCORED (made by
    `select_candidates`); term frequencies as in `term_frequencies`."""
    tf = term_frequencies(con, excluded, SCORED, tf_columns(model))
    # A new record is the left of the pair, as Splink's predict_between has it; two new
    # records are scored both ways and the stronger kept (a few levels are not symmetric).
    left, right, probability = score_pairs(con, model, SCORED, blocked_pairs_sql(con, model), tf)
    if not len(left):
        return pd.DataFrame(columns=EDGE_COLUMNS)
    keys = np.asarray(con.execute(f"SELECT key FROM {SCORED} ORDER BY pos").fetchnumpy()["key"])
    keep = probability >= threshold
    a, b = keys[left[keep]], keys[right[keep]]
    edges = pd.DataFrame(
        {"unique_id_l": np.where(a < b, a, b), "unique_id_r": np.where(a < b, b, a),
         "strength": probability[keep]}
    )  # fmt: skip
    edges = edges.sort_values(EDGE_COLUMNS, ascending=[True, True, False], kind="stable")
    return edges.drop_duplicates(EDGE_COLUMNS[:2]).reset_index(drop=True)


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
    """Create SCORED: the records of NEW, then the pool records sharing a blocking key of the
    model (or an email) with one of them, except those whose key is in table `excluded`; and
    CANDIDATES, a view of the latter with their profile ids."""
    rules = covering_rules([*_prediction_rules(model), 'l."email" = r."email"'])
    # Row ids, not keys: deduplicating the hits of every rule is then an integer operation.
    hits = " UNION ".join(f"SELECT r.rowid FROM {NEW} l JOIN {POOL} r ON {rule}" for rule in rules)
    # NEW first, then the candidates, each by key, numbered (`pos`): the warehouse connection
    # does not preserve insertion order, so a table larger than a row group may be read in any
    # order. The pool is copied once, into SCORED; CANDIDATES only reads it back.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {SCORED} AS SELECT * FROM (SELECT row_number() OVER "
        f"(ORDER BY key) - 1 AS pos, *, NULL::VARCHAR AS profile_id FROM {NEW}) UNION ALL BY NAME "
        f"SELECT * FROM (SELECT (SELECT COUNT(*) FROM {NEW}) + row_number() OVER (ORDER BY key) "
        f"- 1 AS pos, * FROM {POOL} WHERE rowid IN ({hits}) "
        f"AND key NOT IN (SELECT key FROM {excluded}))"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {CANDIDATES} AS SELECT * EXCLUDE (pos) FROM {SCORED} "
        f"WHERE pos >= (SELECT COUNT(*) FROM {NEW})"
    )


def term_frequencies(
    con: duckdb.DuckDBPyConnection, excluded: str, wanted: str, columns: list[str]
) -> dict[str, pa.Table]:
    """Splink's tf table per column over the pool (less `excluded`) plus NEW, for the values
    present in table `wanted` only (the records about to be scored)."""
    if not columns:
        return {}
    # Counts over the whole pool, less those of the few excluded records, plus NEW's: the same
    # integers as counting the pool without the excluded records, without matching every pool
    # record's key against them once per column.
    quoted = [f'"{c}"' for c in columns]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE inc_tf_gone AS SELECT {', '.join(quoted)} FROM {POOL} "
        f"WHERE key IN (SELECT key FROM {excluded})"
    )
    counts = ", ".join(
        f"(SELECT COUNT({q}) FROM {POOL}) - (SELECT COUNT({q}) FROM inc_tf_gone) "
        f"+ (SELECT COUNT({q}) FROM {NEW})"
        for q in quoted
    )
    [totals] = con.execute(f"SELECT {counts}").fetchall()
    tables = {}
    for column, q, total in zip(columns, quoted, totals, strict=True):
        found = " UNION ALL ".join(
            f"SELECT {q}, {sign}COUNT(*) AS n FROM {table} WHERE {q} IN (SELECT {q} FROM wanted) "
            f"GROUP BY {q}"
            for table, sign in ((POOL, ""), ("inc_tf_gone", "-"), (NEW, ""))
        )
        tables[column] = con.sql(
            f"WITH wanted AS (SELECT DISTINCT {q} FROM {wanted} WHERE {q} IS NOT NULL) "
            f'SELECT {q}, CAST(SUM(n) AS DOUBLE) / {int(total)} AS "tf_{column}" '
            f"FROM ({found}) GROUP BY {q} HAVING SUM(n) > 0"
        ).to_arrow_table()
    return tables
