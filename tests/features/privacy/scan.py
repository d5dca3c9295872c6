"""Scan every store of a home (and any files) for a set of values: where does each one occur?

Every table of the warehouse (DuckDB) and of every SQLite file in the home is read row by row
as text, lower-cased, and searched for each value as a substring, so an identifier hidden in a
JSON column (quarantine records, receipts) counts as a hit too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb


def scan_home(home: Path, values: set[str], files: list[Path] = ()) -> dict[str, int]:
    """{"store.table" or file name: hits} for every place holding any of `values`."""
    needles = sorted({v.lower() for v in values if v})
    hits: dict[str, int] = {}
    warehouse = home / "warehouse.duckdb"
    if warehouse.exists():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
            con.execute("CREATE TEMP TABLE needles (v VARCHAR)")
            con.executemany("INSERT INTO needles VALUES (?)", [[n] for n in needles])
            for table in tables:
                n = con.execute(
                    f"SELECT COUNT(*) FROM {table} t, needles "
                    "WHERE contains(lower(CAST(t AS VARCHAR)), needles.v)"
                ).fetchone()[0]
                if n:
                    hits[f"warehouse.{table}"] = n
        finally:
            con.close()
    for path in sorted(home.glob("*.sqlite")) + sorted(home.glob("*.db")):
        con = sqlite3.connect(str(path))
        try:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                n = 0
                for row in con.execute(f'SELECT * FROM "{table}"'):
                    text = "\x1f".join("" if c is None else str(c) for c in row).lower()
                    n += sum(needle in text for needle in needles)
                if n:
                    hits[f"{path.name}.{table}"] = n
        finally:
            con.close()
    for path in files:
        text = Path(path).read_bytes().decode("utf-8", "replace").lower()
        n = sum(needle in text for needle in needles)
        if n:
            hits[Path(path).name] = n
    return hits


def pick_person(warehouse_path: Path, truth_dir: Path) -> tuple[str, str]:
    """(person_id, profile_id) of a person with an email, a phone, a shop account and stitched
    cookies or devices, resolved into exactly one profile that holds nobody else, none of whose
    identifiers another profile shares: erasing them must leave no trace."""
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        con.execute(f"CREATE TEMP VIEW tr AS SELECT * FROM '{truth_dir}/records.parquet'")
        row = con.execute(
            """
            WITH rp AS (SELECT t.person_id, i.profile_id FROM tr t JOIN identity_records i
                        ON i.source = t.source AND i.record_id = t.record_id),
            whole AS (SELECT person_id, ANY_VALUE(profile_id) AS p FROM rp GROUP BY 1
                      HAVING COUNT(DISTINCT profile_id) = 1),
            pure AS (SELECT profile_id FROM rp GROUP BY 1 HAVING COUNT(DISTINCT person_id) = 1),
            ids AS (SELECT identifier_type, identifier_value, profile_id FROM identity_index
                    UNION ALL SELECT identifier_type, identifier_value, profile_id
                    FROM anonymous_links),
            shared AS (SELECT DISTINCT a.profile_id FROM ids a JOIN ids b
                       ON a.identifier_value = b.identifier_value AND a.profile_id <> b.profile_id),
            kinds AS (SELECT profile_id, COUNT(DISTINCT identifier_type) AS k, COUNT(*) AS n,
                        BOOL_OR(identifier_type = 'email') AS e,
                        BOOL_OR(identifier_type = 'phone') AS ph,
                        BOOL_OR(identifier_type = 'customer_id') AS c,
                        BOOL_OR(identifier_type IN ('anonymous_id', 'device_id')) AS d
                      FROM ids GROUP BY 1)
            SELECT w.person_id, w.p FROM whole w JOIN pure ON pure.profile_id = w.p
            JOIN kinds ON kinds.profile_id = w.p
            WHERE e AND ph AND c AND d AND w.p NOT IN (SELECT profile_id FROM shared)
            ORDER BY k DESC, n DESC, w.p LIMIT 1
            """
        ).fetchone()
    finally:
        con.close()
    assert row is not None, "no person fits; the world changed"
    return row[0], row[1]


def identifiers_of(home: Path, profile_id: str, person_id: str, world: Path) -> set[str]:
    """Every value that points at the person: what the warehouse's identity tables and the
    online store hold for the profile, the profile id, their source records' ids, and the raw
    emails and phones of those records as the source files wrote them."""
    import pandas as pd

    values = {profile_id}
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for table in ("identity_index", "anonymous_links"):
            sql = f"SELECT identifier_value FROM {table} WHERE profile_id = ?"
            values |= {r[0] for r in con.execute(sql, [profile_id]).fetchall()}
    finally:
        con.close()
    online = sqlite3.connect(str(home / "online.sqlite"))
    try:
        sql = "SELECT identifier_value FROM identifiers WHERE entity_id = ?"
        values |= {r[0] for r in online.execute(sql, (profile_id,))}
    finally:
        online.close()
    truth = pd.read_parquet(world / "truth" / "records.parquet")
    mine = truth[truth["person_id"] == person_id]
    values |= set(mine["record_id"])
    keys = {"shop_customers": "customer_id", "crm_contacts": "contact_id",
            "email_subscribers": "subscriber_id", "orders": "order_id"}  # fmt: skip
    for source, key in keys.items():
        frame = pd.read_parquet(world / f"{source}.parquet")
        rows = frame[frame[key].isin(mine.loc[mine["source"] == source, "record_id"])]
        if source == "orders":  # their account orders too, not only guest orders
            accounts = mine.loc[mine["source"] == "shop_customers", "record_id"]
            rows = frame[frame[key].isin(rows[key]) | frame["customer_id"].isin(accounts)]
            values |= set(rows[key])
        for column in ("email", "guest_email", "phone"):
            if column in rows:
                values |= {str(v).strip() for v in rows[column].dropna() if str(v).strip()}
    return {v for v in values if len(v) >= 6}
