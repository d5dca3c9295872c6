"""Known-person records from the warehouse: shop accounts, CRM contacts, subscribers, guests.

Each source's columns are mapped to the roles of `features.identity.records`, so the warehouse
goes through the very same preparation as a bring-your-own table. `unique_id` is
'<source>:<record_id>', the key of every identity table.

Guest orders' buyer names and names read from emails: features.identity.buyers.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.buyers import attribute_buyer_names, names_from_emails
from features.identity.records import prepare_records

# Which source system is trusted most for a person's name and contact details; used by the
# golden record's survivorship rules (lower = more trusted).
SOURCE_TRUST = {"shop_customers": 0, "crm_contacts": 1, "email_subscribers": 2, "orders": 3}

# Per source: its name, its record id column, and its person records in the roles' columns.
_SOURCES = (
    (
        "shop_customers",
        "customer_id",
        """
SELECT 'shop_customers' AS source, customer_id AS record_id, first_name, last_name,
       CAST(date_of_birth AS VARCHAR) AS dob, email, phone, postcode, city,
       address_line AS address, COALESCE(updated_at, created_at) AS seen_at, _load_id
FROM shop_customers WHERE TRUE""",
    ),
    (
        "crm_contacts",
        "contact_id",
        """
SELECT 'crm_contacts', contact_id, first_name, last_name, CAST(date_of_birth AS VARCHAR), email,
       phone, postcode, city, address_line, COALESCE(updated_at, created_at), _load_id
FROM crm_contacts WHERE TRUE""",
    ),
    (
        "email_subscribers",
        "subscriber_id",
        """
SELECT 'email_subscribers', subscriber_id, first_name, last_name, NULL, email, NULL, postcode,
       NULL, NULL, subscribed_at, _load_id
FROM email_subscribers WHERE TRUE""",
    ),
    (
        "orders",
        "order_id",
        """
SELECT 'orders', order_id, ship_first_name, ship_last_name, NULL, guest_email, NULL,
       ship_postcode, ship_city, ship_address_line, ordered_at, _load_id
FROM orders WHERE customer_id IS NULL""",
    ),
)


def _person_records_sql(keys: str | None = None) -> str:
    """Every source's person records; only those whose key is in table `keys`, if given. The
    key filter is a semi-join on each table's own id column: filtering the union on the
    concatenated key would build the key of every record of every table first."""
    branches = []
    for source, id_column, sql in _SOURCES:
        if keys is not None:
            sql += (
                f" AND {id_column} IN (SELECT substr(key, {len(source) + 2}) FROM {keys} "
                f"WHERE starts_with(key, '{source}:'))"
            )
        branches.append(sql)
    return "\nUNION ALL".join(branches)


_SQL = _person_records_sql()


ROLES = {
    "record_id": "record_id", "first_name": "first_name", "last_name": "last_name", "dob": "dob",
    "email": "email", "phone": "phone", "postcode": "postcode", "city": "city",
    "address": "address",
}  # fmt: skip


def display_sql(keys: str | None = None) -> str:
    """SQL of the display records (values as ingest normalised them) with the key of every
    identity table; only those whose key is in table or view `keys` (column `key`), if given."""
    sql = f"""
        SELECT source, record_id, first_name, last_name, dob AS date_of_birth, email, phone,
               postcode, city, address AS address_line, seen_at,
               source || ':' || record_id AS key
        FROM ({_person_records_sql(keys)}) AS person_records"""
    return sql


def collect_person_records(
    con: duckdb.DuckDBPyConnection, phone_region: str
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(display records, prepared records per source) of every known-person record.

    Display records keep the values as ingest normalised them (for golden records and the
    identity index); prepared records hold the matching forms. (An incremental run prepares
    only some records: features.identity.neighbours.)
    """
    display = con.execute(display_sql()).df()
    prepared = prepare_display_records(display, phone_region)
    attribute_buyer_names(prepared)
    names_from_emails(prepared)
    return display, prepared


def prepare_display_records(display: pd.DataFrame, phone_region: str) -> dict[str, pd.DataFrame]:
    """Display records in matching form, per source (no names attributed yet)."""
    matching = display.rename(columns={"date_of_birth": "dob", "address_line": "address"})
    return {
        source: prepare_records(
            part.reset_index(drop=True),
            ROLES,
            phone_region=phone_region,
            source_name=source,
            phones_in_e164=True,
        )
        for source, part in matching.groupby("source", sort=True)
    }


def read_display_records(con: duckdb.DuckDBPyConnection, keys: str) -> pd.DataFrame:
    """Display records (no matching forms) of the keys in table or view `keys`."""
    return con.execute(display_sql(keys)).df()


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
    """SQL of (key, digest) of the records loaded after ingest load `since` (the filter reaches
    each table's scan, which skips the row groups of older loads)."""
    return f"SELECT {_DIGEST} FROM ({_SQL}) WHERE _load_id > {int(since)}"


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
