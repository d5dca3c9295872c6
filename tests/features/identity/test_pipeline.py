"""The clustering graph coded in the linker's DuckDB equals the graph coded from frames."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features.identity.clusters import Graph
from features.identity.pipeline import code_graph


def _edge_set(graph: Graph) -> set[tuple[str, str, float]]:
    return {
        (graph.ids[a], graph.ids[b], s)
        for a, b, s in zip(graph.left, graph.right, graph.strength, strict=True)
    }


def test_graph_coded_in_duckdb_equals_graph_coded_from_frames() -> None:
    rng = np.random.default_rng(5)
    # Keys in no sorted order, some sharing prefixes, one non-ASCII (byte order = code points).
    ids = [f"shop:{i}" for i in rng.permutation(40)] + ["orders:z9", "orders:é1", "crm:10"]
    records = pd.DataFrame({"record_id": ids})
    pairs = pd.DataFrame({
        "unique_id_l": rng.choice(ids, 60), "unique_id_r": rng.choice(ids, 60),
        "match_probability": rng.random(60).round(3),
    })  # fmt: skip
    email = pd.DataFrame({"unique_id_l": ids[:3], "unique_id_r": ids[3:6]})
    con = duckdb.connect()
    con.register("pairs_frame", pairs)
    con.execute("CREATE TABLE predictions AS SELECT * FROM pairs_frame")
    got = code_graph(con, records["record_id"], "predictions", 0.4, email)
    kept = pairs[pairs["match_probability"] >= 0.4].rename(
        columns={"match_probability": "strength"}
    )
    edges = pd.concat([kept, email.assign(strength=2.0)], ignore_index=True)
    expected = Graph.from_frames(records, edges)
    assert got.ids.tolist() == expected.ids.tolist() == sorted(ids)
    assert got.record_at.tolist() == expected.record_at.tolist()
    assert len(got.left) == len(edges)
    assert _edge_set(got) == _edge_set(expected)
    assert "graph_positions" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    # The email edges may also be a table of the same DuckDB (a full run's are found there).
    con.register("email_frame", email)
    con.execute("CREATE TEMP TABLE email_table AS SELECT * FROM email_frame")
    from_table = code_graph(con, records["record_id"], "predictions", 0.4, "email_table")
    assert _edge_set(from_table) == _edge_set(expected)
    assert from_table.record_at.tolist() == expected.record_at.tolist()
