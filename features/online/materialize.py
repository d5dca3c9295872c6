"""`cdp features materialize`: the warehouse's features and event log into the online store.

The store is built in a new file beside the old one and swapped in at the end, so readers
never see half a store. Features are computed offline (DuckDB) at `as_of`; the event log is
copied whole, so a later read recomputes any profile from the same rows.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from features.compile import compile_expiry, parameters
from features.event_log import LOG_TABLES, columns_of, from_us, to_us
from features.online.store import (
    PROFILE_COLUMNS,
    connect,
    create_indexes,
    create_schema,
    next_midnight,
    now_us,
)
from features.relations import us
from features.settings import Settings

log = logging.getLogger("cdp.features")
CHUNK = 50_000

CLAIMS_SQL = f"""
WITH events AS (
    SELECT 'anonymous_id' AS identifier_type, anonymous_id AS identifier_value, user_id,
           subscriber_id, occurred_at FROM web_events
    UNION ALL
    SELECT 'anonymous_id', anonymous_id, user_id, subscriber_id, occurred_at FROM app_events
    UNION ALL
    SELECT 'device_id', device_id, user_id, subscriber_id, occurred_at FROM app_events
), claims AS (
    SELECT identifier_type, identifier_value, 'customer_id' AS known_type,
           user_id AS known_value, occurred_at
    FROM events WHERE user_id IS NOT NULL AND identifier_value IS NOT NULL
    UNION ALL
    SELECT identifier_type, identifier_value, 'subscriber_id', subscriber_id, occurred_at
    FROM events WHERE subscriber_id IS NOT NULL AND identifier_value IS NOT NULL
)
SELECT identifier_type, identifier_value, known_type, known_value,
       MIN({us("occurred_at")}) AS first_at
FROM claims GROUP BY identifier_type, identifier_value, known_type, known_value
"""


def _copy(duck, sqlite, select_sql: str, table: str, columns: list[str], params=None) -> int:
    # Arrow batches turned into tuples column by column: several times faster than fetchmany.
    reader = duck.sql(select_sql, params=params or None).to_arrow_reader(CHUNK)
    marks = ", ".join("?" * len(columns))
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    rows = 0
    for batch in reader:
        sqlite.executemany(insert, zip(*(c.to_pylist() for c in batch.columns), strict=True))
        rows += batch.num_rows
    return rows


def materialize(settings: Settings, as_of: object | None = None) -> dict[str, object]:
    """Build the online store from the warehouse at `as_of` (default now); return counts."""
    from features.offline import open_warehouse_source

    started = time.perf_counter()
    as_of_us = now_us() if as_of is None else to_us(as_of)
    final = settings.online_store_path
    building = final.with_name(final.name + ".building")
    _remove(building)
    counts: dict[str, int] = {}
    with open_warehouse_source(settings) as source:
        catalogue = source.catalogue
        sqlite = connect(building)
        try:
            # A failed build is simply discarded, so it needs no journal; a larger page cache
            # speeds up the index builds. WAL is switched on when the file is complete.
            sqlite.execute("PRAGMA journal_mode = OFF")
            sqlite.execute("PRAGMA synchronous = OFF")
            sqlite.execute("PRAGMA cache_size = -262144")
            create_schema(sqlite, catalogue)
            for table in LOG_TABLES:
                columns = columns_of(table)
                counts[table] = _copy(source.con, sqlite, f"SELECT {', '.join(columns)} FROM "
                                      f"{table}", table, columns)  # fmt: skip
            counts["products"] = _copy(source.con, sqlite,
                                       "SELECT product_id, category FROM products", "products",
                                       ["product_id", "category"])  # fmt: skip
            price_columns = ["category", "valid_from", "valid_to", "ref_price_cents"]
            _copy(source.con, sqlite, f"SELECT {', '.join(price_columns)} FROM category_prices",
                  "category_prices", price_columns)  # fmt: skip
            counts["claims"] = _copy(source.con, sqlite, CLAIMS_SQL, "claims",
                                     ["identifier_type", "identifier_value", "known_type",
                                      "known_value", "first_at"])  # fmt: skip
            counts["golden_records"] = _copy_profiles(source.con, sqlite)
            features_seconds = time.perf_counter()
            counts["profiles"] = _copy_features(source, sqlite, as_of_us)
            features_seconds = time.perf_counter() - features_seconds
            create_indexes(sqlite)
            meta = {
                "catalogue": json.dumps(catalogue.spec()),
                "as_of": str(from_us(as_of_us)),
                "materialized_at": str(from_us(now_us())),
                "counts": json.dumps(counts),
            }
            sqlite.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
            sqlite.commit()
            sqlite.execute("PRAGMA journal_mode = WAL")
        finally:
            sqlite.close()
    for suffix in ("-wal", "-shm"):
        _remove(final.with_name(final.name + suffix))
    os.replace(building, final)
    _remove(building.with_name(building.name + "-wal"))
    _remove(building.with_name(building.name + "-shm"))
    seconds = time.perf_counter() - started
    log.info("materialised %d profiles in %.1fs", counts["profiles"], seconds)
    return {
        "as_of": str(from_us(as_of_us)),
        "store": str(final),
        "features": len(catalogue.columns),
        "profiles": counts["profiles"],
        "log_rows": {t: counts[t] for t in LOG_TABLES},
        "features_seconds": round(features_seconds, 2),
        "seconds": round(seconds, 2),
    }


def _copy_features(source, sqlite, as_of_us: int) -> int:
    from features.offline import stage_features

    catalogue = source.catalogue
    features = stage_features(source, as_of_us)  # also creates the <relation>_all tables
    expiry = compile_expiry(catalogue, relations_ready=True)
    source.con.execute(f"CREATE OR REPLACE TEMP TABLE expiry AS {expiry}",
                       parameters(expiry, as_of_us))  # fmt: skip
    key = catalogue.entity_key
    midnight = next_midnight(as_of_us)
    sql = (
        f'SELECT f."{key}", {as_of_us} AS computed_at, CASE WHEN e.next_change < {midnight} '
        f"THEN e.next_change ELSE {midnight} END AS expires_at, "
        + ", ".join(f'f."{c}"' for c in catalogue.columns)
        + f'\nFROM ({features}) f\nLEFT JOIN expiry e ON e.entity_id = f."{key}"'
    )
    columns = ["entity_id", "computed_at", "expires_at"] + [f'"{c}"' for c in catalogue.columns]
    return _copy(source.con, sqlite, sql, "online_features", columns, parameters(sql, as_of_us))


def _copy_profiles(duck, sqlite) -> int:
    """The golden records, when identities were resolved (bring-your-own transactions have
    none)."""
    tables = {r[0] for r in duck.execute("SHOW TABLES").fetchall()}
    if "profiles" not in tables:
        return 0
    casts = {"first_seen_at": "CAST(first_seen_at AS VARCHAR)",
             "last_seen_at": "CAST(last_seen_at AS VARCHAR)",
             "low_evidence": "CAST(low_evidence AS INTEGER)"}  # fmt: skip
    select = ", ".join(casts.get(c, c) for c in PROFILE_COLUMNS)
    return _copy(duck, sqlite, f"SELECT {select} FROM profiles", "profiles",
                 list(PROFILE_COLUMNS))  # fmt: skip


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
