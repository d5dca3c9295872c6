"""Erase one person everywhere: raw sources, identity, online store, activation, block list.

`erase_person(settings, identifier_type, value)`:

1. find the profile behind the identifier (warehouse identity index, or the online store's
   identifiers, which real-time stitching keeps current); unknown and never erased: NotFoundError;
   on the block list already: a no-op receipt (forgetting twice is safe);
2. gather everything that points at the profile: its identity records, every identifier the
   index, the stitching links and the online store hold for it, and its orders. Values another
   profile also holds (a household landline) stay: erasing or blocking them would erase someone
   else; the receipt counts them (`shared_identifiers_kept`). Junk values (`test@test.com`,
   cookie `null`) identify nobody and are neither erased by value nor blocked;
3. block first (salted hashes in privacy.sqlite), so a concurrent ingest or event cannot slip
   the person back in between the deletes; then delete, one transaction per store (warehouse,
   online store, activation file);
4. mark the registered models trained before now for retraining; store the receipt and append
   it (counts only) to the audit log.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from features.errors import CdpError, ContractError, NotFoundError
from features.identity.canonical import canonical_email, is_junk_identifier, is_junk_phone
from features.privacy.audit import append_audit
from features.privacy.blocklist import (
    add_blocked,
    connect_privacy,
    hash_value,
    normalise_value,
    read_salt,
)
from features.privacy.models import mark_models_for_retraining
from features.privacy.receipts import Receipt
from features.privacy.stores import (
    ACTIVATION_DELETES,
    ONLINE_DELETES,
    Person,
    add_orders,
    delete_sqlite,
    delete_warehouse,
)
from features.settings import Settings
from features.warehouse import warehouse

IDENTIFIER_TYPES = ("email", "phone", "profile_id", "anonymous_id", "device_id", "customer_id",
                    "contact_id", "subscriber_id", "order_id")  # fmt: skip


class AmbiguousErasureError(CdpError):
    """The identifier belongs to several profiles: erase by profile_id instead."""

    exit_code = 3
    http_status = 409


def erase_person(
    settings: Settings, identifier_type: str, value: str, *, actor: str = "cli"
) -> Receipt:
    """Erase the person behind (identifier_type, value) from every store; return the receipt.

    `actor` is who asked (an API key id, or "cli"); it goes to the audit log with the counts.
    Raises NotFoundError (404) for an identifier nobody has and that was never erased,
    AmbiguousErasureError (409) for one several profiles share, ContractError for a bad type.
    """
    started = time.perf_counter()
    if identifier_type not in IDENTIFIER_TYPES:
        raise ContractError(f"identifier.type: one of {', '.join(IDENTIFIER_TYPES)}")
    value = normalise_value(identifier_type, value, settings.phone_region)
    salt = read_salt(settings.home, create=True)
    profiles = find_profiles(settings, identifier_type, value)
    if not profiles:
        receipt = _previous(settings, hash_value(salt, value), identifier_type)
        append_audit(settings, actor, "forget", receipt.audit_counts())
        return receipt
    if len(profiles) > 1:
        raise AmbiguousErasureError(
            f"this {identifier_type} belongs to {len(profiles)} profiles; forget by profile_id"
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    erased_at = now.isoformat()
    erasure_id = "era_" + hash_value(salt, f"{profiles[0]}|{erased_at}")[:16]
    person, shared = gather_person(settings, profiles[0])
    receipt = Receipt(erasure_id, erased_at, identifier_type, shared_identifiers_kept=shared,
                      profile_id=profiles[0])  # fmt: skip

    privacy = connect_privacy(settings.home)
    try:
        with privacy:
            add_blocked(privacy, salt, person.identifiers(), erasure_id, erased_at)
        receipt.blocked = _count_by_type(privacy, erasure_id)
        receipt.removed = _delete_everywhere(settings, person)
        receipt.models_marked = mark_models_for_retraining(
            settings, erasure_id, int(now.replace(tzinfo=UTC).timestamp() * 1000)
        )
        receipt.seconds = round(time.perf_counter() - started, 3)
        with privacy:
            privacy.execute(
                "INSERT INTO erasures VALUES (?, ?, ?, ?, ?)",
                (erasure_id, erased_at, identifier_type, hash_value(salt, profiles[0]),
                 json.dumps(receipt.to_dict(), sort_keys=True)),
            )  # fmt: skip
    finally:
        privacy.close()
    append_audit(settings, actor, "forget", receipt.audit_counts())
    return receipt


def find_profiles(settings: Settings, identifier_type: str, value: str) -> list[str]:
    """Profile ids holding the identifier in the warehouse or the online store."""
    found: set[str] = set()
    if settings.warehouse_path.exists():
        with warehouse(settings, read_only=True) as con:
            tables = _tables(con)
            if identifier_type == "profile_id":
                for table in ("profiles", "identity_records"):
                    if table in tables:
                        found |= _column(con, f"SELECT profile_id FROM {table} "
                                              "WHERE profile_id = ?", [value])  # fmt: skip
            else:
                for table in ("identity_index", "anonymous_links"):
                    if table in tables:
                        found |= _column(con, f"SELECT profile_id FROM {table} WHERE "
                                              "identifier_type = ? AND identifier_value = ?",
                                         [identifier_type, value])  # fmt: skip
    for path in (settings.online_store_path,):
        if path.exists():
            con = _sqlite(path)
            try:
                if identifier_type == "profile_id":
                    sql = (
                        "SELECT entity_id FROM online_features WHERE entity_id = ? UNION "
                        "SELECT profile_id FROM profiles WHERE profile_id = ?"
                    )
                    args: tuple = (value, value)
                else:
                    sql = (
                        "SELECT entity_id FROM identifiers WHERE identifier_type = ? "
                        "AND identifier_value = ?"
                    )
                    args = (identifier_type, value)
                found |= {r[0] for r in con.execute(sql, args).fetchall()}
            finally:
                con.close()
    return sorted(found)


def gather_person(settings: Settings, profile_id: str) -> tuple[Person, int]:
    """Everything pointing at the profile, and how many values were kept as shared."""
    person = Person(profile_id)
    person.add("profile_id", profile_id)
    candidates: set[tuple[str, str]] = set()
    others: set[str] = set()  # values some other profile holds
    if settings.warehouse_path.exists():
        with warehouse(settings, read_only=True) as con:
            tables = _tables(con)
            if "identity_records" in tables:
                for key, source, record_id in con.execute(
                    "SELECT key, source, record_id FROM identity_records WHERE profile_id = ?",
                    [profile_id],
                ).fetchall():
                    person.add("record_key", key)
                    candidates.add((_RECORD_TYPE.get(source, source), record_id))
            for table in ("identity_index", "anonymous_links"):
                if table in tables:
                    candidates |= set(con.execute(
                        f"SELECT identifier_type, identifier_value FROM {table} "
                        "WHERE profile_id = ?", [profile_id]).fetchall())  # fmt: skip
            values = sorted({v for _, v in candidates})
            for table in ("identity_index", "anonymous_links"):
                if table in tables and values:
                    others |= _column(con, f"SELECT identifier_value FROM {table} WHERE "
                                           "profile_id <> ? AND identifier_value IN "
                                           "(SELECT UNNEST(?))", [profile_id, values])  # fmt: skip
    if settings.online_store_path.exists():
        con = _sqlite(settings.online_store_path)
        try:
            candidates |= set(con.execute(
                "SELECT identifier_type, identifier_value FROM identifiers WHERE entity_id = ?",
                (profile_id,)).fetchall())  # fmt: skip
            for kind, item in sorted(candidates):
                sql = (
                    "SELECT identifier_value FROM identifiers WHERE identifier_type = ? "
                    "AND identifier_value = ? AND entity_id <> ?"
                )
                others |= {r[0] for r in con.execute(sql, (kind, item, profile_id))}
        finally:
            con.close()
    shared = 0
    for kind, item in sorted(candidates):
        if item in others:
            shared += 1
        elif not _junk(kind, item):
            person.add(kind, item)
    if settings.warehouse_path.exists():
        with warehouse(settings, read_only=True) as con:
            add_orders(con, person)
    return person, shared


_RECORD_TYPE = {"shop_customers": "customer_id", "crm_contacts": "contact_id",
                "email_subscribers": "subscriber_id", "orders": "order_id"}  # fmt: skip


def _delete_everywhere(settings: Settings, person: Person) -> dict[str, dict[str, int]]:
    removed: dict[str, dict[str, int]] = {}
    if settings.warehouse_path.exists():
        with warehouse(settings) as con:
            removed["warehouse"] = delete_warehouse(con, person)
    removed["online"] = delete_sqlite(settings.online_store_path, person, ONLINE_DELETES)
    removed["activation"] = delete_sqlite(
        settings.home / "activation.sqlite", person, ACTIVATION_DELETES
    )
    return {store: {t: n for t, n in tables.items()} for store, tables in removed.items()}


def _previous(settings: Settings, digest: str, identifier_type: str) -> Receipt:
    """The no-op receipt of an identifier erased before; NotFoundError if it never was."""
    con = connect_privacy(settings.home)
    try:
        row = con.execute(
            "SELECT e.erasure_id, e.erased_at FROM blocked_identifiers b JOIN erasures e "
            "USING (erasure_id) WHERE b.identifier_hash = ?", (digest,)
        ).fetchone()  # fmt: skip
    finally:
        con.close()
    if row is None:
        raise NotFoundError(f"no profile has this {identifier_type}")
    return Receipt(row[0], row[1], identifier_type, already_erased=True)


def _count_by_type(con, erasure_id: str) -> dict[str, int]:
    return dict(con.execute(
        "SELECT identifier_type, COUNT(*) FROM blocked_identifiers WHERE erasure_id = ? "
        "GROUP BY identifier_type ORDER BY 1", (erasure_id,)).fetchall())  # fmt: skip


def _junk(kind: str, value: str) -> bool:
    if kind == "email":
        return canonical_email(value) is None
    if kind == "phone":
        return is_junk_phone(value)
    return is_junk_identifier(value)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def _column(con: duckdb.DuckDBPyConnection, sql: str, args: list) -> set[str]:
    return {r[0] for r in con.execute(sql, args).fetchall()}


def _sqlite(path: Path):
    import sqlite3

    return sqlite3.connect(str(path), timeout=30)
