"""Stable profile ids: which profile id each new cluster gets, and the lineage it leaves.

Rules, applied to a new clustering given the previous run's record -> profile map:
- a cluster whose known records all had profile P keeps P; new records joining P keep P;
- a cluster joining records of several previous profiles keeps the oldest (first issued, then
  smallest id); the others are recorded as merged into it;
- a previous profile whose records now sit in several clusters is split: none of its parts
  keeps its id, each gets a new one, recorded as split from it;
- a cluster of only new records gets a new id.
New ids are a hash of the cluster's smallest record key, so a first run on the same data always
issues the same ids; an id once issued is never reused for another profile.

Two entry points share one rule engine (`_name_clusters`, on integer codes): `assign_profile_ids`
over pandas frames (an incremental run's few thousand records), and `assign_profile_ids_sql`,
which leaves the joins, sorts and distinct pairs of a full run's million keys to the warehouse
(in pandas they were seconds of string hashing and sorting) and reads back only the distinct
(cluster, previous profile) pairs.
"""

from __future__ import annotations

from collections.abc import Container, MutableMapping

import duckdb
import numpy as np
import pandas as pd

from features.identity.issued import TABLE as ISSUED_TABLE
from features.identity.issued import IssuedIds, candidate_id

LINEAGE_COLUMNS = ["kind", "from_profile_id", "to_profile_id"]


def _new_id(
    seed_key: str, issued: Container[str], fresh: set[str], first: str | None = None
) -> str:
    """The first candidate id of `seed_key` not issued yet (`first`: its attempt 0, if known)."""
    attempt = 0
    while True:
        candidate = first if attempt == 0 and first else candidate_id(seed_key, attempt)
        if candidate not in issued and candidate not in fresh:
            fresh.add(candidate)
            return candidate
        attempt += 1


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize(values, sort=True), sorting only the distinct values (values not null)."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def assign_profile_ids(
    clusters: pd.DataFrame, previous: pd.DataFrame | None, issued: MutableMapping[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each cluster a profile id by the rules above.

    `clusters`: key, cluster_id. `previous`: key, profile_id of the last run (or None).
    `issued`: every profile id ever issued -> the run it was first issued in (updated in place
    with new ids, issue order = len(issued)); a dict, or an IssuedIds that reads only the ids
    asked about (features.identity.issued). Returns (key -> profile_id, lineage rows).
    """
    # Integer codes instead of strings; codes of sorted uniques order as the strings do.
    cluster_codes, cluster_ids = _sorted_codes(clusters["cluster_id"])
    profile_of_key = np.full(len(clusters), -1, dtype=np.int64)
    profile_ids = np.array([], dtype=object)
    if previous is not None and len(previous):
        codes, profile_ids = _sorted_codes(previous["profile_id"])
        at = pd.Index(previous["key"]).get_indexer(clusters["key"])
        profile_of_key = np.where(at >= 0, codes[at], -1)
    profile_ids = np.asarray(profile_ids, dtype=object)
    width = max(len(profile_ids), 1)
    has = profile_of_key >= 0
    pairs = np.unique(cluster_codes[has].astype(np.int64) * width + profile_of_key[has])
    orders = np.array([issued.get(p, 0) for p in profile_ids], dtype=np.float64)
    keeper, lineage, origins = _keep_previous_ids(
        len(cluster_ids), pairs // width, pairs % width, profile_ids, orders
    )
    chosen = _issue_new_ids(cluster_ids, keeper, profile_ids, orders, origins, issued, lineage)
    out = pd.DataFrame({"key": clusters["key"].to_numpy(), "profile_id": chosen[cluster_codes]})
    return out, pd.DataFrame(lineage, columns=LINEAGE_COLUMNS)


def assign_profile_ids_sql(
    con: duckdb.DuckDBPyConnection, clusters: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """`assign_profile_ids` for table `clusters` (key, cluster_id, ...) against the previous
    run's `identity_records` and the issued ids, in the warehouse. Creates temp table
    `profile_of_cluster` (cluster_id, profile_id). Returns (lineage rows, the ids this call
    issued -> issue order)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ids_clusters AS SELECT cluster_id, "
        f"row_number() OVER (ORDER BY cluster_id) - 1 AS code FROM (SELECT DISTINCT cluster_id "
        f"FROM {clusters})"
    )
    # The keys are joined to their previous profiles once; the rest works on the distinct
    # (cluster, previous profile) pairs.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ids_pairs AS SELECT DISTINCT c.cluster_id, r.profile_id "
        f"FROM {clusters} c JOIN identity_records r USING (key) WHERE r.profile_id IS NOT NULL"
    )
    # The previous profiles of the keys still present, with their issue order (0: never
    # issued, as `issued.get(p, 0)` has it for an id from before ids were recorded).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE ids_previous AS SELECT profile_id, row_number() OVER "
        "(ORDER BY profile_id) - 1 AS code, COALESCE(i.issue_order, 0) AS issue_order FROM "
        "(SELECT DISTINCT profile_id FROM ids_pairs) LEFT JOIN (SELECT profile_id, "
        f"MIN(issue_order) AS issue_order FROM {ISSUED_TABLE} GROUP BY profile_id) i "
        "USING (profile_id)"
    )
    pairs = con.execute(
        "SELECT k.code AS cluster_code, p.code AS profile_code FROM ids_pairs x "
        "JOIN ids_clusters k USING (cluster_id) JOIN ids_previous p USING (profile_id) "
        "ORDER BY 1, 2"
    ).fetchnumpy()
    cluster_ids = con.execute("SELECT cluster_id FROM ids_clusters ORDER BY code").fetchnumpy()
    previous = con.execute("SELECT profile_id, issue_order FROM ids_previous ORDER BY code")
    previous = previous.fetchnumpy()
    cluster_ids = np.asarray(cluster_ids["cluster_id"], dtype=object)
    profile_ids = np.asarray(previous["profile_id"], dtype=object)
    orders = np.asarray(previous["issue_order"], dtype=np.float64)
    keeper, lineage, origins = _keep_previous_ids(
        len(cluster_ids), np.asarray(pairs["cluster_code"], dtype=np.int64),
        np.asarray(pairs["profile_code"], dtype=np.int64), profile_ids, orders,
    )  # fmt: skip
    # The first candidate id of each cluster needing one, computed once: asked of the
    # warehouse in one query, then tried first.
    need = np.flatnonzero(keeper < 0)
    firsts = {int(c): candidate_id(cluster_ids[c]) for c in need}
    issued = IssuedIds(con, list(firsts.values()), [])
    chosen = _issue_new_ids(
        cluster_ids, keeper, profile_ids, orders, origins, issued, lineage, firsts
    )
    con.register("ids_chosen", pd.DataFrame({"code": np.arange(len(chosen)), "profile_id": chosen}))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE profile_of_cluster AS SELECT k.cluster_id, c.profile_id "
            "FROM ids_clusters k JOIN ids_chosen c USING (code)"
        )
    finally:
        con.unregister("ids_chosen")
        con.execute("DROP TABLE IF EXISTS ids_clusters")
        con.execute("DROP TABLE IF EXISTS ids_previous")
        con.execute("DROP TABLE IF EXISTS ids_pairs")
    return pd.DataFrame(lineage, columns=LINEAGE_COLUMNS), issued.new


def _keep_previous_ids(
    clusters: int,
    pair_cluster: np.ndarray,
    pair_profile: np.ndarray,
    profile_ids: np.ndarray,
    orders: np.ndarray,
) -> tuple[np.ndarray, list[tuple[str, str, str]], dict[int, list[str]]]:
    """Which previous profile each cluster keeps (its code, -1: none), from the distinct
    (cluster, previous profile) pairs sorted by cluster then profile, and the profiles' issue
    orders. Returns (keeper per cluster, 'merged' lineage, cluster -> profiles it was split
    from)."""
    split = np.bincount(pair_profile, minlength=len(profile_ids)) > 1
    keep = ~split[pair_profile]
    kept_cluster, kept_profile = pair_cluster[keep], pair_profile[keep]
    by = np.lexsort((kept_profile, orders[kept_profile], kept_cluster))
    kept_cluster, kept_profile = kept_cluster[by], kept_profile[by]
    first = np.ones(len(kept_cluster), dtype=bool)
    first[1:] = kept_cluster[1:] != kept_cluster[:-1]
    keeper = np.full(clusters, -1, dtype=np.int64)
    keeper[kept_cluster[first]] = kept_profile[first]
    merged = ~first  # each kept profile sits in one cluster: not its keeper means merged into it
    lineage = [
        ("merged", profile_ids[p], profile_ids[keeper[c]])
        for c, p in zip(kept_cluster[merged], kept_profile[merged], strict=True)
    ]
    origins: dict[int, list[str]] = {}
    for c, p in zip(pair_cluster[~keep], pair_profile[~keep], strict=True):
        origins.setdefault(int(c), []).append(profile_ids[p])
    return keeper, lineage, origins


def _issue_new_ids(
    cluster_ids: np.ndarray,
    keeper: np.ndarray,
    profile_ids: np.ndarray,
    orders: np.ndarray,
    origins: dict[int, list[str]],
    issued: MutableMapping[str, int],
    lineage: list[tuple[str, str, str]],
    firsts: dict[int, str] | None = None,
) -> np.ndarray:
    """The profile id of each cluster: its kept one, or a new one (with 'split' lineage
    appended to `lineage`). New ids, and kept ids never recorded as issued, are added to
    `issued` in id order. `firsts`: cluster -> its first candidate id, if already computed."""
    chosen = np.empty(len(cluster_ids), dtype=object)
    has = keeper >= 0
    chosen[has] = profile_ids[keeper[has]]
    fresh: set[str] = set()
    for c in np.flatnonzero(~has):  # in the clusters' string order
        new = _new_id(cluster_ids[c], issued, fresh, (firsts or {}).get(int(c)))
        chosen[c] = new
        lineage += [("split", origin, new) for origin in origins.get(int(c), [])]
    unrecorded = set(profile_ids[keeper[has][orders[keeper[has]] == 0]].tolist())
    kept = {p for p in unrecorded - fresh if p not in issued}  # not issued before
    for profile_id in sorted(fresh | kept):
        issued[profile_id] = len(issued) + 1
    return chosen
