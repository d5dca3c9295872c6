"""Known-person records from the warehouse: shop accounts, CRM contacts, subscribers, guests.

Each source's columns are mapped to the roles of `features.identity.records`, so the warehouse
goes through the very same preparation as a bring-your-own table. `unique_id` is
'<source>:<record_id>', the key of every identity table.

A guest order's shipping name is its recipient's, who is not always the buyer (a gift to a
partner). It is still used as the buyer's name: dropping it lost more true links than it saved
false ones (pairwise F1 0.83 vs 0.89 on the default world; see docs/identity.md).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.records import prepare_records

# Which source system is trusted most for a person's name and contact details; used by the
# golden record's survivorship rules (lower = more trusted).
SOURCE_TRUST = {"shop_customers": 0, "crm_contacts": 1, "email_subscribers": 2, "orders": 3}

_SQL = """
SELECT 'shop_customers' AS source, customer_id AS record_id, first_name, last_name,
       CAST(date_of_birth AS VARCHAR) AS dob, email, phone, postcode, city,
       address_line AS address, COALESCE(updated_at, created_at) AS seen_at
FROM shop_customers
UNION ALL
SELECT 'crm_contacts', contact_id, first_name, last_name, CAST(date_of_birth AS VARCHAR), email,
       phone, postcode, city, address_line, COALESCE(updated_at, created_at)
FROM crm_contacts
UNION ALL
SELECT 'email_subscribers', subscriber_id, first_name, last_name, NULL, email, NULL, postcode,
       NULL, NULL, subscribed_at
FROM email_subscribers
UNION ALL
SELECT 'orders', order_id, ship_first_name, ship_last_name, NULL, guest_email, NULL,
       ship_postcode, ship_city, ship_address_line, ordered_at
FROM orders WHERE customer_id IS NULL
"""

ROLES = {
    "record_id": "record_id", "first_name": "first_name", "last_name": "last_name", "dob": "dob",
    "email": "email", "phone": "phone", "postcode": "postcode", "city": "city",
    "address": "address",
}  # fmt: skip


def _select_sql(keys: str | None) -> str:
    if keys is None:
        return _SQL
    return f"SELECT * FROM ({_SQL}) WHERE source || ':' || record_id IN (SELECT key FROM {keys})"


def collect_person_records(
    con: duckdb.DuckDBPyConnection, phone_region: str, keys: str | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(display records, prepared records per source) for every known-person record, or only
    for those whose key is in the table or view named `keys` (column `key`).

    Display records keep the values as ingest normalised them (for golden records and the
    identity index); prepared records hold the matching forms.
    """
    display = con.execute(_select_sql(keys)).df()
    display["key"] = display["source"] + ":" + display["record_id"]
    prepared = {
        source: prepare_records(
            part.reset_index(drop=True), ROLES, phone_region=phone_region, source_name=source
        )
        for source, part in display.groupby("source", sort=True)
    }
    display = display.rename(columns=_DISPLAY_NAMES)
    return display, prepared


_DISPLAY_NAMES = {"dob": "date_of_birth", "address": "address_line"}


def read_display_records(con: duckdb.DuckDBPyConnection, keys: str) -> pd.DataFrame:
    """Display records (no matching forms) of the keys in table or view `keys`."""
    display = con.execute(_select_sql(keys)).df()
    display["key"] = display["source"] + ":" + display["record_id"]
    return display.rename(columns=_DISPLAY_NAMES)


# One digest per record of everything resolve reads from it: a record whose digest differs
# from the one stored at the last run has changed since (ingest upserts rows by key).
_DIGEST = (
    "source || ':' || record_id AS key, hash(first_name, last_name, dob, email, phone, postcode, "
    "city, address, seen_at) AS digest"
)
DIGESTS_SQL = f"SELECT {_DIGEST} FROM ({_SQL})"
# Keys of every current record, and of those loaded after ingest load {since}: ingest stamps
# each row it inserts or upserts with its load id (`_load_id`), so only those can have changed.
KEYS_SQL = (
    "SELECT 'shop_customers:' || customer_id AS key FROM shop_customers WHERE {where} "
    "UNION ALL SELECT 'crm_contacts:' || contact_id FROM crm_contacts WHERE {where} "
    "UNION ALL SELECT 'email_subscribers:' || subscriber_id FROM email_subscribers WHERE {where} "
    "UNION ALL SELECT 'orders:' || order_id FROM orders WHERE customer_id IS NULL AND {where}"
)


def changed_digests_sql(since: int) -> str:
    """SQL of (key, digest) of the records loaded after ingest load `since`."""
    fresh = KEYS_SQL.format(where=f"_load_id > {int(since)}")
    return f"SELECT {_DIGEST} FROM ({_SQL}) WHERE source || ':' || record_id IN ({fresh})"


def save_record_digests(con: duckdb.DuckDBPyConnection) -> None:
    """Store the digest of every current person record (`identity_record_digests`)."""
    con.execute(f"CREATE OR REPLACE TABLE identity_record_digests AS {DIGESTS_SQL}")


def has_enough_evidence(prepared: pd.DataFrame) -> pd.Series:
    """True where a record can be matched at all: an email or a phone, or a full name with a
    birth date or a place. Anything less stays a singleton profile, flagged as such."""

    def present(column: str) -> pd.Series:
        if column not in prepared.columns:
            return pd.Series(False, index=prepared.index)
        return prepared[column].notna()

    full_name = present("first_name") & present("last_name")
    anchored = present("dob") | present("address") | present("postcode")
    return present("email") | present("phone") | (full_name & anchored)
