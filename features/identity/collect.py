"""Known-person records from the warehouse: shop accounts, CRM contacts, subscribers, guests.

Each source's columns are mapped to the roles of `features.identity.records`, so the warehouse
goes through the very same preparation as a bring-your-own table. `unique_id` is
'<source>:<record_id>', the key of every identity table.

A guest order's shipping name is its recipient's, who is not always the buyer (a gift to a
partner). Dropping it lost more true links than it saved false ones (pairwise F1 0.83 vs 0.89 on
the default world; see docs/identity.md), so it stays, except where the order's own email says
otherwise: when the records sharing that email agree on another name, that name is the buyer's
and replaces the shipping name (`attribute_buyer_names`).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.canonical import name_aliases
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


def display_sql(keys: str | None = None) -> str:
    """SQL of the display records (values as ingest normalised them) with the key of every
    identity table; only those whose key is in table or view `keys` (column `key`), if given."""
    sql = f"""
        SELECT source, record_id, first_name, last_name, dob AS date_of_birth, email, phone,
               postcode, city, address AS address_line, seen_at,
               source || ':' || record_id AS key
        FROM ({_SQL}) AS person_records"""
    if keys is not None:
        sql += f" WHERE source || ':' || record_id IN (SELECT key FROM {keys})"
    return sql


def collect_person_records(
    con: duckdb.DuckDBPyConnection, phone_region: str, keys: str | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(display records, prepared records per source) for every known-person record, or only
    for those whose key is in the table or view named `keys` (column `key`).

    Display records keep the values as ingest normalised them (for golden records and the
    identity index); prepared records hold the matching forms.
    """
    display = con.execute(display_sql(keys)).df()
    prepared = _prepare(display, phone_region)
    voters = None
    if keys is not None:
        # A buyer's name is voted on by every record under the order's email, not only by the
        # records being re-linked.
        neighbours = con.execute(
            f"SELECT * FROM ({display_sql(None)}) AS d WHERE email IN (SELECT email FROM"
            f" ({display_sql(keys)}) AS k) AND key NOT IN (SELECT key FROM {keys})"
        ).df()
        voters = _prepare(neighbours, phone_region) if len(neighbours) else None
    attribute_buyer_names(prepared, voters=voters)
    return display, prepared


def _prepare(display: pd.DataFrame, phone_region: str) -> dict[str, pd.DataFrame]:
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


def attribute_buyer_names(
    prepared: dict[str, pd.DataFrame],
    guest_source: str = "orders",
    voters: dict[str, pd.DataFrame] | None = None,
) -> int:
    """Give a guest order its buyer's name where the order's email names someone else.

    Every record holding an email votes for its (first, last) name, a record of an account
    source (shop, CRM, subscriber) counting twice a shipping name. An order whose shipping name
    has fewer votes under its own email than that email's leading name was shipped to someone
    else; the leading name is the buyer's. Edits `prepared[guest_source]` in place; returns how
    many orders were re-attributed. Ties keep the shipping name: no evidence either way.
    `voters` (same shape as `prepared`) vote without being edited: the records already linked,
    when only new ones are being prepared.
    """
    orders = prepared.get(guest_source)
    if orders is None or orders.empty or "email" not in orders.columns:
        return 0
    votes = []
    voting = [*prepared.items(), *(voters or {}).items()]
    for source, frame in voting:
        if "email" not in frame.columns or frame.empty:
            continue
        named = frame[frame["email"].notna() & frame["first_name"].notna()]
        weight = 1 if source == guest_source else 2
        votes.append(named[["email", "first_name", "last_name"]].assign(weight=weight))
    if not votes:
        return 0
    tally = (
        pd.concat(votes, ignore_index=True)
        .fillna({"last_name": ""})
        .groupby(["email", "first_name", "last_name"], sort=True)["weight"]
        .sum()
        .reset_index()
    )
    # The leading name per email: most votes, then alphabetical, so ties resolve the same way
    # on every run; a tie for the lead means no leader.
    tally = tally.sort_values(["email", "weight", "first_name", "last_name"],
                              ascending=[True, False, True, True])  # fmt: skip
    top = tally.groupby("email").nth(0).set_index("email")
    second = tally.groupby("email").nth(1).set_index("email")["weight"]
    top = top[top["weight"] > second.reindex(top.index).fillna(0)]
    shipped = orders[["email", "first_name", "last_name"]].fillna({"last_name": ""})
    shipped = shipped.merge(tally, on=["email", "first_name", "last_name"], how="left")
    leaders = shipped[["email"]].merge(top, left_on="email", right_index=True, how="left")
    replace = (
        orders["first_name"].notna().to_numpy()
        & leaders["weight"].notna().to_numpy()
        & (shipped["weight"].fillna(0).to_numpy() < leaders["weight"].fillna(0).to_numpy())
    )
    rows = orders.index[replace]
    orders.loc[rows, "first_name"] = leaders.loc[replace, "first_name"].to_numpy()
    orders.loc[rows, "last_name"] = leaders.loc[replace, "last_name"].replace("", None).to_numpy()
    orders.loc[rows, "first_name_aliases"] = pd.Series(
        [list(name_aliases(n)) for n in orders.loc[rows, "first_name"]], index=rows, dtype=object
    )
    return int(replace.sum())
