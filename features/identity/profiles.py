"""Unified profiles: stable ids, golden records by survivorship, and the identity index.

Stable ids (rules, applied to a new clustering given the previous run's record -> profile map):
- a cluster whose known records all had profile P keeps P; new records joining P keep P;
- a cluster joining records of several previous profiles keeps the oldest (first issued, then
  smallest id); the others are recorded as merged into it;
- a previous profile whose records now sit in several clusters is split: none of its parts
  keeps its id, each gets a new one, recorded as split from it;
- a cluster of only new records gets a new id.
New ids are a hash of the cluster's smallest record key, so a first run on the same data always
issues the same ids; an id once issued is never reused for another profile.

Golden record (per attribute): names and phone from the most trusted source (shop, CRM,
subscriber, guest order), most recent first; email the most frequent, most recent on ties; date
of birth the most frequent; address, postcode and city together from the most recent record
that has an address.
"""

from __future__ import annotations

from collections.abc import Container, MutableMapping

import duckdb
import numpy as np
import pandas as pd

from features.identity.collect import SOURCE_TRUST
from features.identity.issued import candidate_id


def _new_id(seed_key: str, issued: Container[str], fresh: set[str]) -> str:
    attempt = 0
    while True:
        candidate = candidate_id(seed_key, attempt)
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
    # Integer codes instead of strings: a million keys through pandas string joins, groupbys
    # and sorts cost seconds. Codes of sorted uniques order as the strings do.
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
    pair_cluster, pair_profile = pairs // width, pairs % width  # sorted by cluster, profile
    split = np.bincount(pair_profile, minlength=len(profile_ids)) > 1
    keep = ~split[pair_profile]
    kept_cluster, kept_profile = pair_cluster[keep], pair_profile[keep]
    order = np.array([issued.get(p, 0) for p in profile_ids], dtype=np.float64)
    by = np.lexsort((kept_profile, order[kept_profile], kept_cluster))
    kept_cluster, kept_profile = kept_cluster[by], kept_profile[by]
    first = np.ones(len(kept_cluster), dtype=bool)
    first[1:] = kept_cluster[1:] != kept_cluster[:-1]
    keeper = np.full(len(cluster_ids), -1, dtype=np.int64)
    keeper[kept_cluster[first]] = kept_profile[first]
    merged = ~first  # each kept profile sits in one cluster: not its keeper means merged into it
    lineage = [
        ("merged", profile_ids[p], profile_ids[keeper[c]])
        for c, p in zip(kept_cluster[merged], kept_profile[merged], strict=True)
    ]
    chosen = np.empty(len(cluster_ids), dtype=object)
    chosen[keeper >= 0] = profile_ids[keeper[keeper >= 0]]
    origins: dict[int, list[str]] = {}
    for c, p in zip(pair_cluster[~keep], pair_profile[~keep], strict=True):
        origins.setdefault(int(c), []).append(profile_ids[p])
    fresh: set[str] = set()
    for c in np.flatnonzero(keeper < 0):  # in the clusters' string order
        new = _new_id(cluster_ids[c], issued, fresh)
        chosen[c] = new
        lineage += [("split", origin, new) for origin in origins.get(int(c), [])]
    kept = {p for p in set(chosen.tolist()) - fresh if p not in issued}  # not issued before
    for profile_id in sorted(fresh | kept):
        issued[profile_id] = len(issued) + 1
    out = pd.DataFrame({"key": clusters["key"].to_numpy(), "profile_id": chosen[cluster_codes]})
    return out, pd.DataFrame(lineage, columns=["kind", "from_profile_id", "to_profile_id"])


def golden_records_sql(table: str) -> str:
    """SQL for one row per profile from the display records in `table` (key, source,
    profile_id, attributes, seen_at).

    Each pick is an ordered aggregate, `first(x ORDER BY ...)`: one grouping pass instead of a
    sorted window per attribute (half the time at a million records, same rows). Elsewhere
    the same is `(array_agg(x ORDER BY ...))[1]` (Postgres) or `min_by(x, struct(...))` (Spark).
    """
    trust = " ".join(f"WHEN '{s}' THEN {t}" for s, t in SOURCE_TRUST.items())

    def first_by(value: str, order: str, *, when: str, alias: str) -> str:
        return f"first({value} ORDER BY {order}) FILTER (WHERE {when} IS NOT NULL) AS {alias}"

    def most_frequent(column: str) -> str:
        return (
            f"(SELECT profile_id, first({column} ORDER BY n DESC, last_seen DESC, {column})"
            f" AS {column} FROM (SELECT profile_id, {column}, COUNT(*) AS n,"
            f" MAX(seen_at) AS last_seen FROM ranked WHERE {column} IS NOT NULL"
            f" GROUP BY profile_id, {column}) AS counted GROUP BY profile_id) AS {column}_pick"
        )

    by_trust = "trust, seen_at DESC, key"
    picks = ",\n               ".join(
        [
            *(first_by(c, by_trust, when=c, alias=c) for c in ("first_name", "last_name", "phone")),
            first_by("struct_pack(address_line := address_line, city := city,"
                     " postcode := postcode)", "seen_at DESC, key", when="address_line",
                     alias="place"),
        ]
    )  # fmt: skip
    return f"""
        WITH ranked AS (
            SELECT *, CASE source {trust} ELSE 9 END AS trust FROM {table}
        ),
        base AS (
            SELECT profile_id, COUNT(*) AS record_count, MIN(seen_at) AS first_seen_at,
                   MAX(seen_at) AS last_seen_at,
                   STRING_AGG(DISTINCT source, ',' ORDER BY source) AS sources,
               {picks}
            FROM ranked GROUP BY profile_id
        )
        SELECT base.profile_id, record_count, first_seen_at, last_seen_at, sources,
               first_name, last_name, phone, email_pick.email, date_of_birth_pick.date_of_birth,
               place.address_line, place.city, place.postcode
        FROM base
        LEFT JOIN {most_frequent("email")} USING (profile_id)
        LEFT JOIN {most_frequent("date_of_birth")} USING (profile_id)
        ORDER BY base.profile_id
    """


def build_golden_records(
    records: pd.DataFrame, con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """One row per profile from display records, by the survivorship rules above."""
    con = con if con is not None else duckdb.connect()
    con.register("golden_input", records)
    try:
        return con.execute(golden_records_sql("golden_input")).df()
    finally:
        con.unregister("golden_input")


IDENTIFIER_COLUMNS = {"email": "email", "phone": "phone"}
SOURCE_ID_TYPES = {
    "shop_customers": "customer_id",
    "crm_contacts": "contact_id",
    "email_subscribers": "subscriber_id",
    "orders": "order_id",
}


def identity_index_sql(table: str) -> str:
    """SQL for (identifier_type, identifier_value, profile_id) of every email, phone and source
    id of the records in `table`."""
    source_ids = " ".join(f"WHEN '{s}' THEN '{t}'" for s, t in SOURCE_ID_TYPES.items())
    parts = [
        f"SELECT CASE source {source_ids} END AS identifier_type, record_id AS identifier_value,"
        f" profile_id FROM {table}",
        *[
            f"SELECT '{kind}', {column}, profile_id FROM {table} WHERE {column} IS NOT NULL"
            for kind, column in IDENTIFIER_COLUMNS.items()
        ],
    ]
    return (
        f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) AS ids"
        " ORDER BY identifier_type, identifier_value, profile_id"
    )


def build_identity_index(
    records: pd.DataFrame, con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """(identifier_type, identifier_value, profile_id) for every email, phone and source id."""
    con = con if con is not None else duckdb.connect()
    con.register("index_input", records)
    try:
        return con.execute(identity_index_sql("index_input")).df()
    finally:
        con.unregister("index_input")
