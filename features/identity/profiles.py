"""Unified profiles: stable ids, golden records by survivorship, and the identity index.

Stable ids: features.identity.stable_ids.

Golden record (per attribute): names and phone from the most trusted source (shop, CRM,
subscriber, guest order), most recent first; email the most frequent, most recent on ties; date
of birth the most frequent; address, postcode and city together from the most recent record
that has an address.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.collect import SOURCE_TRUST


def golden_records_sql(table: str, *, low_evidence: bool = False) -> str:
    """SQL for one row per profile from the display records in `table` (key, source,
    profile_id, attributes, seen_at), in profile id order; with `low_evidence`, also whether
    all of the profile's records are (`table` then has that flag).

    Each pick is an ordered aggregate, `first(x ORDER BY ...)`: one grouping pass instead of a
    sorted window per attribute (half the time at a million records, same rows; a window
    numbering the rows for `arg_min` was slower too). Elsewhere the same is
    `(array_agg(x ORDER BY ...))[1]` (Postgres) or `min_by(x, struct(...))` (Spark).
    """
    trust = " ".join(f"WHEN '{s}' THEN {t}" for s, t in SOURCE_TRUST.items())
    # The sources in name order, as STRING_AGG(DISTINCT source ORDER BY source) lists them:
    # display records come from the four sources of SOURCE_TRUST only, and an ordered
    # aggregate would cost a third of the statement at a million records.
    sources = ", ".join(
        f"CASE WHEN BOOL_OR(source = '{s}') THEN '{s}' END" for s in sorted(SOURCE_TRUST)
    )
    flag = (
        ("BOOL_AND(low_evidence) AS low_evidence,", ", low_evidence") if low_evidence else ("", "")
    )

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
                   CONCAT_WS(',', {sources}) AS sources, {flag[0]}
               {picks}
            FROM ranked GROUP BY profile_id
        )
        SELECT base.profile_id, record_count, first_seen_at, last_seen_at, sources,
               first_name, last_name, phone, email_pick.email, date_of_birth_pick.date_of_birth,
               place.address_line, place.city, place.postcode{flag[1]}
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
    # A record id is unique within its source, so only emails and phones, which records of
    # one profile share, need making distinct.
    parts = [
        f"SELECT CASE source {source_ids} END AS identifier_type, record_id AS identifier_value,"
        f" profile_id FROM {table}",
        *[
            f"SELECT DISTINCT '{kind}', {column}, profile_id FROM {table}"
            f" WHERE {column} IS NOT NULL"
            for kind, column in IDENTIFIER_COLUMNS.items()
        ],
    ]
    return (
        f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS ids"
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
