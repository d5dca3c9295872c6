"""Re-stitching in an incremental run: the cookies and devices whose links may have changed.

A link or refusal depends only on an identifier's claims and on the claimers' profile ids, so
an incremental run re-stitches the identifiers with a claiming event loaded since the last run
and those claimed by a record whose profile id changed or that was removed, and no other.
Their claims come from the evidence the runs keep (features.identity.stitching.EVIDENCE_TABLE)
rather than from every event, and the identity index is read once, for both the claimed known
ids' profiles and the identifiers' own entries.
"""

from __future__ import annotations

import duckdb

from features.identity.stitching import (
    EVIDENCE_TABLE,
    SCOPED_EVIDENCE_SQL,
    add_fresh_evidence,
    stitch_devices,
)
from features.warehouse import create_temp_table

_ID = "identifier_type, identifier_value"
_ENTRY = f"{_ID}, profile_id"
ANONYMOUS_TYPES = "('anonymous_id', 'device_id')"  # identifiers stitched to a profile
# The identifiers re-stitched and the known ids events claim (features.identity.stitching).
_READ_TYPES = "('anonymous_id', 'device_id', 'customer_id', 'subscriber_id')"


def restitch(con: duckdb.DuckDBPyConnection, run_id: int, since: int, claimers: str) -> int:
    """Re-stitch, inside the caller's transaction and from the identity index it has written,
    the identifiers with claiming events of loads after `since` or claimed by a record whose
    key is in `claimers` (a table, or a parenthesised query, with column key): their
    anonymous_links, stitching_audit and identity_index rows. Adds the fresh events' evidence
    to EVIDENCE_TABLE. Returns how many identifiers were re-stitched."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_claimers AS SELECT split_part(key, ':', 1) AS source, "
        f"substr(key, strpos(key, ':') + 1) AS known FROM {claimers}"
    )
    # Events that claim no known id are no evidence, so they cannot change a link. The fresh
    # events' evidence is read from their own row groups (loads are appended in order); the
    # claimers' identifiers from the evidence kept by the runs, not from every event.
    fresh = add_fresh_evidence(con, since)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE inc_ids AS SELECT {_ID} FROM {fresh} UNION SELECT {_ID} "
        f"FROM {EVIDENCE_TABLE} WHERE (known_type = 'customer_id' AND known_value IN "
        "(SELECT known FROM inc_claimers WHERE source = 'shop_customers')) OR "
        "(known_type = 'subscriber_id' AND known_value IN "
        "(SELECT known FROM inc_claimers WHERE source = 'email_subscribers'))"
    )
    [(count,)] = con.execute("SELECT COUNT(*) FROM inc_ids").fetchall()
    if not count:
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE scope_evidence AS "
        + SCOPED_EVIDENCE_SQL.format(scope="inc_ids")
    )
    # One pass over the index for the entries of the claimed known ids and of the identifiers
    # themselves (a superset: every entry of those types holding one of those values), with
    # their row ids. The index is written sorted by type, so the other types' row groups are
    # skipped.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE inc_index_read AS SELECT rowid AS row_id, {_ENTRY} "
        f"FROM identity_index WHERE identifier_type IN {_READ_TYPES} AND identifier_value IN "
        "(SELECT identifier_value FROM inc_ids UNION SELECT known_value FROM scope_evidence)"
    )
    same = (
        "USING inc_ids i WHERE t.identifier_type = i.identifier_type "
        "AND t.identifier_value = i.identifier_value"
    )
    con.execute(f"DELETE FROM anonymous_links t {same}")
    con.execute(f"DELETE FROM stitching_audit t {same}")
    links, audit = stitch_devices(
        con, scope="inc_ids", evidence="scope_evidence", index="inc_index_read"
    )
    create_temp_table(con, "inc_links", links)
    create_temp_table(con, "inc_audit", audit.assign(run_id=run_id))
    con.execute("INSERT INTO anonymous_links BY NAME SELECT * FROM inc_links")
    con.execute("INSERT INTO stitching_audit BY NAME SELECT * FROM inc_audit")
    # The index entries of the identifiers re-stitched: only those that changed are rewritten
    # (most keep their profile, as the records' entries in features.identity.incremental).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_index_old AS SELECT * FROM inc_index_read "
        f"SEMI JOIN inc_ids USING ({_ID}) WHERE identifier_type IN {ANONYMOUS_TYPES}"
    )
    con.execute(
        "DELETE FROM identity_index WHERE rowid IN (SELECT row_id FROM inc_index_old "
        f"ANTI JOIN inc_links USING ({_ENTRY}))"
    )
    con.execute(
        f"INSERT INTO identity_index SELECT {_ENTRY} FROM inc_links "
        f"ANTI JOIN inc_index_old USING ({_ENTRY})"
    )
    return count
