"""Unmerge: take a wrongly merged record out of its profile, and keep it out.

The decision is pinned in `identity_pins` as cannot-link pairs (the record and every record it
shared the profile with); every later `cdp resolve` honours them in clustering. The record is
detached and re-linked at once by an incremental run (features.identity.incremental), which
re-clusters the detached record, the rest of its profile and the profiles they touch, honouring
the pins: the rest of the profile keeps its id while the record gets a new profile (or joins
another one it truly matches); lineage records 'unmerged'. Where an incremental run cannot
build on the last one (no full run yet, its model file gone), that run is a full one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from features.errors import ContractError, NotFoundError
from features.identity.incremental import resolve_incremental
from features.identity.resolve import PINS_SQL
from features.settings import Settings
from features.warehouse import warehouse


def unmerge_record(settings: Settings, profile_id: str, record_key: str) -> dict[str, object]:
    """Move `record_key` ('<source>:<record_id>') out of `profile_id`; returns what happened."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with warehouse(settings) as con:
        con.execute(PINS_SQL)
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        if "identity_records" not in tables:
            raise ContractError("no profiles yet; run `cdp resolve` first")
        row = con.execute(
            "SELECT profile_id FROM identity_records WHERE key = ?", [record_key]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no record {record_key!r} (expected SOURCE:RECORD_ID)")
        if row[0] != profile_id:
            raise NotFoundError(f"record {record_key!r} is not in profile {profile_id!r}")
        others = [
            key
            for (key,) in con.execute(
                "SELECT key FROM identity_records WHERE profile_id = ? AND key <> ? ORDER BY key",
                [profile_id, record_key],
            ).fetchall()
        ]
        if not others:
            raise ContractError(f"{record_key!r} is the only record of {profile_id!r}")
        con.begin()
        con.executemany(
            "INSERT INTO identity_pins VALUES (?, ?, ?, ?)",
            [(record_key, other, profile_id, now) for other in others],
        )
        con.execute("UPDATE identity_records SET profile_id = NULL WHERE key = ?", [record_key])
        con.commit()
    # A detached record is re-linked like a new one, with the rest of its profile; at a
    # million records that takes seconds where a full re-resolve takes a minute.
    report = resolve_incremental(settings)
    with warehouse(settings) as con:
        [(new_profile,)] = con.execute(
            "SELECT profile_id FROM identity_records WHERE key = ?", [record_key]
        ).fetchall()
        con.execute(
            "INSERT INTO profile_lineage VALUES (?, 'unmerged', ?, ?, ?)",
            [report.run_id, profile_id, new_profile, now],
        )
    return {
        "record": record_key,
        "from_profile_id": profile_id,
        "to_profile_id": new_profile,
        "separated_from": len(others),
        "run_id": report.run_id,
        "mode": report.mode,
    }
