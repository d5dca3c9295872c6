"""Prepare the records an incremental run re-links, with only the linked records they read.

A full run prepares every record together, and three steps read records other than the one
being prepared (features.identity.collect): a guest order's buyer is voted on by every record
holding its email; a housemate at its address (same postcode and address) can name the buyer;
and a name read from an email is trusted only if no other record holds that email. An
incremental run prepares those "neighbours" too, as voters that are never edited, and only
them. The scored pool holds every record's matching form, except copies collapsed into an
identical record: so the neighbours are the pool records sharing a matching email with a
re-linked record (of those that can be voted on or named), or a place with a re-linked guest
order, found by equality instead of by scanning every record's raw values; the records of
their profiles missing from the pool (the copies, which count as votes too); and the
low-evidence records (in no pool either; a few, and without an email, so they only ever name
a housemate). Selecting by raw postcode alone, as before, prepared a fifth of the warehouse
at 100,000 people.

Which words are given names and which are surnames (for reading names in email user parts) is
counted over the whole pool plus the re-linked records, as a full run counts it over every
record, rather than over a sample of neighbours.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.buyers import attribute_buyer_names, names_from_emails
from features.identity.collect import ROLES, display_sql
from features.identity.records import prepare_records
from features.normalize import normalise_identifier

POOL = "identity_match_records"  # the records the last runs scored, in matching form
VOTER_ROLES = {r: c for r, c in ROLES.items() if r in ("record_id", "first_name", "last_name",
                                                      "email", "postcode", "address")}  # fmt: skip


def collect_changed_records(
    con: duckdb.DuckDBPyConnection, phone_region: str, keys: str
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(display records, prepared records per source) of the records whose key is in table
    `keys` (column `key`), prepared as a full run over every record would prepare them."""
    display = con.execute(display_sql(keys)).df()
    if display.empty:
        return display, {}
    prepared = _prepare(display, phone_region)
    _neighbour_keys(con, keys, prepared)
    neighbours = con.execute(display_sql("inc_neighbour_keys")).df()
    # Voters are read for names, emails and places only.
    voters = _prepare(neighbours, phone_region, VOTER_ROLES) if len(neighbours) else {}
    firsts, lasts = _name_counts(con, keys, prepared)
    attribute_buyer_names(prepared, voters=voters or None, name_counts=(firsts, lasts))
    vocabulary = (set(firsts.index), set(lasts.index))
    names_from_emails(prepared, others=voters or None, vocabulary=vocabulary)
    return display, prepared


def _prepare(
    display: pd.DataFrame, phone_region: str, roles: dict[str, str] = ROLES
) -> dict[str, pd.DataFrame]:
    """Display records in matching form per source, as collect.prepare_display_records gives
    them, in one call (pandas' fixed cost per call is most of the cost at this size): keyed
    by `key`, which is unique across sources, then given back their record ids."""
    matching = display.rename(columns={"date_of_birth": "dob", "address_line": "address"})
    prepared = prepare_records(
        matching, {**roles, "record_id": "key"}, phone_region=phone_region,
        source_name="person records", phones_in_e164=True,
    )  # fmt: skip
    prepared["record_id"] = normalise_identifier(matching["record_id"]).to_numpy(dtype=object)
    return {
        source: frame.reset_index(drop=True)
        for source, frame in prepared.groupby(matching["source"].to_numpy(), sort=True)
    }


def _frame_column(prepared: dict[str, pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f[columns] for f in prepared.values() if set(columns) <= set(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _neighbour_keys(
    con: duckdb.DuckDBPyConnection, keys: str, prepared: dict[str, pd.DataFrame]
) -> None:
    """Create temp table inc_neighbour_keys (see module docstring)."""
    # Votes are read for guest orders' emails only, and holders of an email for records
    # missing a name (the ones names_from_emails may name).
    held = _frame_column(prepared, ["email", "first_name", "last_name"])
    unnamed = held["first_name"].isna() | held["last_name"].isna()
    orders = prepared.get("orders", pd.DataFrame())
    asked = [held.loc[unnamed, "email"], orders.get("email", pd.Series(dtype=object))]
    emails = pd.concat(asked).dropna().drop_duplicates().to_frame("email")
    places = pd.DataFrame(columns=["postcode", "address"], dtype=object)
    if {"email", "postcode", "address"} <= set(orders.columns):
        placed = orders[orders["email"].notna() & orders["address"].notna()]
        places = placed[["postcode", "address"]].drop_duplicates()
    con.register("inc_emails", emails.astype(object))
    con.register("inc_places", places.astype(object))
    try:
        # Housemates are matched on the prepared postcode, NULL matching NULL (as pandas merges
        # them); the raw postcode is compared in its prepared form for the unscored records.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE inc_neighbour_keys AS WITH hits AS ("
            f"SELECT key, profile_id FROM {POOL} WHERE email IN (SELECT email FROM inc_emails) "
            f"UNION SELECT m.key, m.profile_id FROM {POOL} m JOIN inc_places p "
            "ON m.address = p.address AND m.postcode IS NOT DISTINCT FROM p.postcode "
            # Redundant, but a plain IN lets the scan skip other addresses' rows.
            "WHERE m.address IN (SELECT address FROM inc_places)), "
            "records AS (SELECT key, profile_id FROM identity_records WHERE profile_id IN "
            "(SELECT profile_id FROM hits)), "
            f"copies AS (SELECT key FROM records WHERE key NOT IN (SELECT key FROM {POOL} "
            "WHERE profile_id IN (SELECT profile_id FROM hits))), "
            "loners AS (SELECT key FROM identity_records WHERE low_evidence) "
            "SELECT key FROM (SELECT key FROM hits UNION SELECT key FROM copies UNION "
            f"SELECT key FROM loners) WHERE key NOT IN (SELECT key FROM {keys})"
        )
    finally:
        con.unregister("inc_emails")
        con.unregister("inc_places")


def _name_counts(
    con: duckdb.DuckDBPyConnection, keys: str, prepared: dict[str, pd.DataFrame]
) -> tuple[pd.Series, pd.Series]:
    """How many records carry each given name and each surname: the pool's records that are
    not being re-linked, plus the re-linked records as prepared."""
    counts = []
    for column in ("first_name", "last_name"):
        pooled = con.execute(
            f'SELECT "{column}", COUNT(*) AS n FROM {POOL} WHERE "{column}" IS NOT NULL AND key '
            f'NOT IN (SELECT key FROM {keys}) GROUP BY "{column}"'
        ).df()
        fresh = _frame_column(prepared, [column])[column].dropna().value_counts()
        total = pooled.set_index(column)["n"].add(fresh, fill_value=0)
        counts.append(total.astype("int64").rename_axis(None))
    return counts[0], counts[1]
