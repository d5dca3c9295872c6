"""Delete one person's rows from each store, one transaction per store; counts per table.

`Person` holds what identifies them: the profile id, the identity records' keys and every
erasable identifier value by type (values no other profile holds, junk excluded). The SQL reads
those from a temporary table `erase_values(kind, value)` so a person with hundreds of cookies
costs one statement per table.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from features.identity.stitching import EVIDENCE_TABLE

KINDS = ("customer_id", "contact_id", "subscriber_id", "order_id", "email", "phone",
         "anonymous_id", "device_id", "profile_id", "record_key")  # fmt: skip


@dataclass
class Person:
    """Everything that points at one profile, as stored."""

    profile_id: str
    values: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    def add(self, kind: str, value: object) -> None:
        """Record one identifier value (None ignored)."""
        if value is not None and kind in self.values:
            self.values[kind].add(str(value))

    def frame(self) -> pd.DataFrame:
        """(kind, value) rows of every value, for SQL."""
        rows = [(k, v) for k in KINDS for v in sorted(self.values[k])]
        return pd.DataFrame(rows, columns=["kind", "value"], dtype="object")

    def identifiers(self) -> list[tuple[str, str]]:
        """Every (type, value) to block (record keys are warehouse internals, not blocked)."""
        return [(k, v) for k in KINDS if k != "record_key" for v in sorted(self.values[k])]


def _in(kind: str) -> str:
    return f"(SELECT value FROM erase_values WHERE kind = '{kind}')"


# (table, WHERE) per warehouse table; a table absent from the warehouse is skipped.
WAREHOUSE_DELETES = (
    ("shop_customers", f"customer_id IN {_in('customer_id')} OR email IN {_in('email')} "
                       f"OR phone IN {_in('phone')}"),
    ("crm_contacts", f"contact_id IN {_in('contact_id')} OR email IN {_in('email')} "
                     f"OR phone IN {_in('phone')}"),
    ("email_subscribers", f"subscriber_id IN {_in('subscriber_id')} OR email IN {_in('email')}"),
    ("order_lines", f"order_id IN {_in('order_id')}"),
    ("orders", f"order_id IN {_in('order_id')}"),
    ("web_events", f"user_id IN {_in('customer_id')} OR subscriber_id IN {_in('subscriber_id')} "
                   f"OR anonymous_id IN {_in('anonymous_id')} OR device_id IN {_in('device_id')}"),
    ("app_events", f"user_id IN {_in('customer_id')} OR subscriber_id IN {_in('subscriber_id')} "
                   f"OR anonymous_id IN {_in('anonymous_id')} OR device_id IN {_in('device_id')}"),
    ("email_events", f"subscriber_id IN {_in('subscriber_id')}"),
    ("call_center_interactions", f"contact_id IN {_in('contact_id')} OR phone IN {_in('phone')} "
                                 f"OR order_id IN {_in('order_id')}"),
    ("consents", "identifier_value IN (SELECT value FROM erase_values)"),
    ("identity_records", f"key IN {_in('record_key')} OR profile_id IN {_in('profile_id')}"),
    ("identity_match_records", f"key IN {_in('record_key')} OR profile_id IN {_in('profile_id')}"),
    ("identity_record_digests", f"key IN {_in('record_key')}"),
    ("identity_pins", f"key IN {_in('record_key')} OR profile_id IN {_in('profile_id')} "
                      f"OR separated_from IN {_in('record_key')}"),
    ("profiles", f"profile_id IN {_in('profile_id')}"),
    ("identity_index", f"profile_id IN {_in('profile_id')} "
                       "OR identifier_value IN (SELECT value FROM erase_values)"),
    ("anonymous_links", f"profile_id IN {_in('profile_id')} "
                        "OR identifier_value IN (SELECT value FROM erase_values)"),
    ("stitching_audit", "identifier_value IN (SELECT value FROM erase_values)"),
    ("profile_lineage", f"from_profile_id IN {_in('profile_id')} "
                        f"OR to_profile_id IN {_in('profile_id')}"),
    ("profile_ids_issued", f"profile_id IN {_in('profile_id')}"),
)  # fmt: skip

ONLINE_DELETES = (
    ("online_features", f"entity_id IN {_in('profile_id')}"),
    ("log_purchases", f"entity_id IN {_in('profile_id')} OR order_id IN {_in('order_id')}"),
    ("log_behaviour", f"user_entity_id IN {_in('profile_id')} OR anonymous_id IN "
                      f"{_in('anonymous_id')} OR device_id IN {_in('device_id')}"),
    ("log_email", f"entity_id IN {_in('profile_id')}"),
    ("log_calls", f"entity_id IN {_in('profile_id')}"),
    ("log_records", f"entity_id IN {_in('profile_id')}"),
    ("log_consents", "identifier_value IN (SELECT value FROM erase_values)"),
    ("identifiers", f"entity_id IN {_in('profile_id')} "
                    "OR identifier_value IN (SELECT value FROM erase_values)"),
    ("claims", "identifier_value IN (SELECT value FROM erase_values) "
               "OR known_value IN (SELECT value FROM erase_values)"),
    ("profiles", f"profile_id IN {_in('profile_id')}"),
    ("propensity_scores", f"profile_id IN {_in('profile_id')}"),
)  # fmt: skip


def add_orders(con: duckdb.DuckDBPyConnection, person: Person) -> None:
    """Every order of the person (account orders and guest orders by their email), so their
    lines, calls and purchase log rows go with them."""
    con.register("erase_values", person.frame())
    try:
        tables = _duck_tables(con)
        if "orders" in tables:
            for (order_id,) in con.execute(
                f"SELECT order_id FROM orders WHERE customer_id IN {_in('customer_id')} "
                f"OR guest_email IN {_in('email')}"
            ).fetchall():
                person.add("order_id", order_id)
    finally:
        con.unregister("erase_values")


def delete_warehouse(con: duckdb.DuckDBPyConnection, person: Person) -> dict[str, int]:
    """Delete the person from every warehouse table in one transaction; rows per table."""
    tables = _duck_tables(con)
    counts: dict[str, int] = {}
    con.register("erase_frame", person.frame())
    con.begin()
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE erase_values AS SELECT * FROM erase_frame")
        for table, where in WAREHOUSE_DELETES:
            if table in tables:
                counts[table] = con.execute(f"DELETE FROM {table} WHERE {where}").fetchone()[0]
        if "quarantine" in tables:
            counts["quarantine"] = _delete_quarantine(con, person)
        if EVIDENCE_TABLE in tables:
            # A summary of events: an event erased for one of its identifiers also counted
            # towards the row of its other identifier, which the person's values may not name.
            # Dropped whole; the next resolve run builds it again from the events left.
            counts[EVIDENCE_TABLE] = con.execute(
                f"SELECT COUNT(*) FROM {EVIDENCE_TABLE} WHERE identifier_value IN "
                "(SELECT value FROM erase_values) "
                "OR known_value IN (SELECT value FROM erase_values)"
            ).fetchall()[0][0]
            con.execute(f"DROP TABLE {EVIDENCE_TABLE}")
        con.execute("DROP TABLE erase_values")
        con.commit()
    except Exception:
        con.rollback()
        raise
    finally:
        con.unregister("erase_frame")
    return counts


def _delete_quarantine(con: duckdb.DuckDBPyConnection, person: Person) -> int:
    # Quarantined rows keep raw values as JSON text, possibly un-normalised (" Jane@X.COM"):
    # compared case-insensitively; short values (under 6 characters) would match by chance.
    values = sorted({v.lower() for k, vs in person.values.items() if k != "record_key"
                     for v in vs if len(v) >= 6})  # fmt: skip
    removed = 0
    for value in values:
        removed += con.execute(
            "DELETE FROM quarantine WHERE contains(lower(record), ?)", [value]
        ).fetchone()[0]
    return removed


def delete_sqlite(path: Path, person: Person, deletes: tuple) -> dict[str, int]:
    """Delete the person from one SQLite file's tables (those present) in one transaction."""
    if not path.exists():
        return {}
    con = sqlite3.connect(str(path), timeout=30)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.execute("CREATE TEMP TABLE erase_values (kind TEXT, value TEXT)")
        con.executemany("INSERT INTO erase_values VALUES (?, ?)",
                        person.frame().itertuples(index=False, name=None))  # fmt: skip
        counts: dict[str, int] = {}
        with con:
            for table, where in deletes:
                if table in tables:
                    counts[table] = con.execute(f"DELETE FROM {table} WHERE {where}").rowcount
    finally:
        con.close()
    return counts


ACTIVATION_DELETES = (("activations", f"profile_id IN {_in('profile_id')}"),)


def _duck_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_catalog = current_database()").fetchall()}  # fmt: skip
