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

import hashlib

import duckdb
import pandas as pd

from features.identity.collect import SOURCE_TRUST


def _new_id(seed_key: str, issued: set[str]) -> str:
    attempt = 0
    while True:
        text = seed_key if attempt == 0 else f"{seed_key}#{attempt}"
        candidate = "prf_" + hashlib.sha1(text.encode()).hexdigest()[:16]
        if candidate not in issued:
            issued.add(candidate)
            return candidate
        attempt += 1


def assign_profile_ids(
    clusters: pd.DataFrame, previous: pd.DataFrame | None, issued: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each cluster a profile id by the rules above.

    `clusters`: key, cluster_id. `previous`: key, profile_id of the last run (or None).
    `issued`: every profile id ever issued -> the run it was first issued in (updated in place
    with new ids, issue order = len(issued)). Returns (key -> profile_id, lineage rows).
    """
    frame = clusters[["key", "cluster_id"]].copy()
    if previous is not None and len(previous):
        frame = frame.merge(previous[["key", "profile_id"]], on="key", how="left")
    else:
        frame["profile_id"] = None
    known = frame.dropna(subset=["profile_id"])[["cluster_id", "profile_id"]].drop_duplicates()
    parts = known.groupby("profile_id")["cluster_id"].nunique()
    split = set(parts[parts > 1].index)
    keepable = known[~known["profile_id"].isin(split)].copy()
    keepable["order"] = keepable["profile_id"].map(issued).fillna(0)
    keepable = keepable.sort_values(["cluster_id", "order", "profile_id"], kind="stable")
    keepers = keepable.drop_duplicates("cluster_id").set_index("cluster_id")["profile_id"]
    merged = keepable[~keepable["profile_id"].isin(set(keepers))]
    lineage = [
        ("merged", other, keepers[cluster_id])
        for cluster_id, other in zip(merged["cluster_id"], merged["profile_id"], strict=True)
    ]
    chosen: dict[str, str] = keepers.to_dict()
    taken = set(issued)
    origins = known[known["profile_id"].isin(split)].sort_values(["cluster_id", "profile_id"])
    origins_by_cluster = origins.groupby("cluster_id")["profile_id"].agg(list).to_dict()
    for cluster_id in sorted(set(frame["cluster_id"]) - set(chosen)):
        new = _new_id(cluster_id, taken)
        chosen[cluster_id] = new
        lineage += [("split", origin, new) for origin in origins_by_cluster.get(cluster_id, [])]
    for profile_id in sorted(set(chosen.values()) - set(issued)):
        issued[profile_id] = len(issued) + 1
    out = pd.DataFrame({"key": frame["key"], "profile_id": frame["cluster_id"].map(chosen)})
    return out, pd.DataFrame(lineage, columns=["kind", "from_profile_id", "to_profile_id"])


def golden_records_sql(table: str) -> str:
    """SQL for one row per profile from the display records in `table` (key, source,
    profile_id, attributes, seen_at): window functions only, no engine-specific aggregates."""
    trust = " ".join(f"WHEN '{s}' THEN {t}" for s, t in SOURCE_TRUST.items())

    def first_by(column: str, order: str, *, alias: str | None = None, extra: str = "") -> str:
        return (
            f"(SELECT profile_id, {column}{extra} FROM (SELECT profile_id, {column}{extra},"
            f" ROW_NUMBER() OVER (PARTITION BY profile_id ORDER BY {order}) AS rn"
            f" FROM ranked WHERE {column} IS NOT NULL) AS t WHERE rn = 1) AS {alias or column}_pick"
        )

    def most_frequent(column: str) -> str:
        return (
            f"(SELECT profile_id, {column} FROM (SELECT profile_id, {column}, ROW_NUMBER() OVER"
            f" (PARTITION BY profile_id ORDER BY COUNT(*) DESC, MAX(seen_at) DESC, {column})"
            f" AS rn FROM ranked WHERE {column} IS NOT NULL GROUP BY profile_id, {column}) AS t"
            f" WHERE rn = 1) AS {column}_pick"
        )

    by_trust = "trust, seen_at DESC, key"
    address = first_by("address_line", "seen_at DESC, key", alias="address",
                       extra=", city, postcode")  # fmt: skip
    return f"""
        WITH ranked AS (
            SELECT *, CASE source {trust} ELSE 9 END AS trust FROM {table}
        ),
        base AS (
            SELECT profile_id, COUNT(*) AS record_count, MIN(seen_at) AS first_seen_at,
                   MAX(seen_at) AS last_seen_at
            FROM ranked GROUP BY profile_id
        ),
        labels AS (
            SELECT profile_id, STRING_AGG(source, ',' ORDER BY source) AS sources
            FROM (SELECT DISTINCT profile_id, source FROM ranked) AS d GROUP BY profile_id
        )
        SELECT base.profile_id, record_count, first_seen_at, last_seen_at, sources,
               first_name_pick.first_name, last_name_pick.last_name, phone_pick.phone,
               email_pick.email, date_of_birth_pick.date_of_birth,
               address_pick.address_line, address_pick.city, address_pick.postcode
        FROM base
        JOIN labels USING (profile_id)
        LEFT JOIN {first_by("first_name", by_trust)} USING (profile_id)
        LEFT JOIN {first_by("last_name", by_trust)} USING (profile_id)
        LEFT JOIN {first_by("phone", by_trust)} USING (profile_id)
        LEFT JOIN {most_frequent("email")} USING (profile_id)
        LEFT JOIN {most_frequent("date_of_birth")} USING (profile_id)
        LEFT JOIN {address} USING (profile_id)
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
