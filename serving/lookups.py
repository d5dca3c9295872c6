"""From an identifier to a profile, and what an agent sees of it.

Identifiers are normalised as the pipeline normalised them (emails lower-cased and trimmed, with
the identity step's canonical form — gmail dots and +tags — as a second try; phones to E.164 in
the installation's region), then looked up in the online store's `identifiers` table, which
real-time events keep current. Cookies and devices count only once stitched (`linked_at` set
and passed). Junk values never identify anyone.
"""

from __future__ import annotations

from features.errors import CdpError, ContractError, NotFoundError
from features.event_log import from_us
from features.identity.canonical import canonical_email, is_junk_identifier, is_junk_phone
from features.normalize import phone_to_e164
from features.online.store import PROFILE_COLUMNS, OnlineStore, now_us

PURPOSES = ("email_marketing", "advertising", "personalization", "profiling")
_STATUS = {1: "granted", 0: "withdrawn", None: "unknown"}


class AmbiguousIdentifierError(CdpError):
    """One identifier belongs to several profiles; the caller must choose."""

    http_status = 409


def normalise_identifier(kind: str, value: str, phone_region: str) -> str:
    """The identifier in the form the stores hold it; ContractError (422) for junk."""
    value = value.strip()
    if kind == "email":
        value = value.lower().replace(" ", "")
        if "@" not in value or canonical_email(value) is None:
            raise ContractError(f"identifier.value: {kind} is not a usable email address")
    elif kind == "phone":
        value = phone_to_e164(value, phone_region)
        if is_junk_phone(value) or not value.startswith("+"):
            raise ContractError("identifier.value: not a usable phone number")
    elif is_junk_identifier(value):
        raise ContractError(f"identifier.value: a placeholder {kind} identifies nobody")
    return value


def resolve_identifier(store: OnlineStore, kind: str, value: str, phone_region: str) -> str:
    """The profile_id behind (kind, value); NotFoundError (404) or AmbiguousIdentifierError."""
    value = normalise_identifier(kind, value, phone_region)
    if kind == "profile_id":
        found = store.con.execute(
            "SELECT entity_id FROM online_features WHERE entity_id = ? UNION "
            "SELECT profile_id FROM profiles WHERE profile_id = ?", (value, value)
        ).fetchall()  # fmt: skip
    else:
        found = _lookup(store, kind, value)
        if not found and kind == "email":
            found = _lookup_canonical_email(store, value)
    profiles = sorted({row[0] for row in found})
    if not profiles:
        raise NotFoundError(f"no profile has {kind} {_mask(kind, value)}")
    if len(profiles) > 1:
        raise AmbiguousIdentifierError(
            f"{kind} {_mask(kind, value)} belongs to {len(profiles)} profiles "
            f"({', '.join(profiles[:10])}); look up by profile_id"
        )
    return profiles[0]


def _lookup(store: OnlineStore, kind: str, value: str) -> list[tuple]:
    return store.con.execute(
        "SELECT entity_id FROM identifiers WHERE identifier_type = ? AND identifier_value = ? "
        "AND (linked_at IS NULL OR linked_at <= ?)", (kind, value, now_us())
    ).fetchall()  # fmt: skip


def _lookup_canonical_email(store: OnlineStore, value: str) -> list[tuple]:
    # Same mailbox written another way (Jane.Doe+shop@gmail.com): compare canonical forms among
    # the few stored emails of the same domain and local-part start.
    canonical = canonical_email(value)
    local, _, domain = canonical.partition("@")
    domains = ("gmail.com", "googlemail.com") if domain == "gmail.com" else (domain,)
    marks = ", ".join("?" * len(domains))
    rows = store.con.execute(
        "SELECT identifier_value, entity_id FROM identifiers WHERE identifier_type = 'email' "
        f"AND substr(identifier_value, instr(identifier_value, '@') + 1) IN ({marks}) "
        "AND substr(identifier_value, 1, 1) = ?", (*domains, local[:1])
    ).fetchall()  # fmt: skip
    return [(entity,) for stored, entity in rows if canonical_email(stored) == canonical]


def _mask(kind: str, value: str) -> str:
    """Enough of an identifier to recognise it in an error, never the whole of an email or
    phone (error bodies can end up in logs)."""
    if kind in ("email", "phone"):
        return f"{value[:2]}***{value[-2:]}" if len(value) > 4 else "***"
    return value


def golden_record(store: OnlineStore, profile_id: str) -> dict[str, object]:
    """The profile's golden record (empty for bring-your-own customers)."""
    columns = ", ".join(PROFILE_COLUMNS)
    row = store.con.execute(
        f"SELECT {columns} FROM profiles WHERE profile_id = ?", (profile_id,)
    ).fetchone()
    if row is None:
        return {"profile_id": profile_id}
    record = dict(zip(PROFILE_COLUMNS, row, strict=True))
    record["sources"] = record["sources"].split(",") if record["sources"] else []
    record["low_evidence"] = bool(record["low_evidence"])
    return record


def consents(values: dict[str, object]) -> dict[str, str]:
    """Latest consent per purpose from the online features: granted, withdrawn or unknown."""
    return {p: _STATUS.get(values.get(f"consent__{p}__all")) for p in PURPOSES}


def identifiers_of(store: OnlineStore, profile_id: str) -> list[dict[str, object]]:
    """Every identifier linked to the profile, stitched cookies and devices with their time."""
    rows = store.con.execute(
        "SELECT identifier_type, identifier_value, linked_at FROM identifiers "
        "WHERE entity_id = ? ORDER BY identifier_type, identifier_value", (profile_id,)
    ).fetchall()  # fmt: skip
    return [{"type": t, "value": v, "linked_at": None if at is None else str(from_us(at))}
            for t, v, at in rows]  # fmt: skip


def recent_activity(store: OnlineStore, profile_id: str, limit: int) -> list[dict[str, object]]:
    """The newest events of the profile across purchases, behaviour, email and calls."""
    if limit == 0:
        return []
    rows = store.con.execute(
        """
        SELECT * FROM (
            SELECT 'purchase' AS kind, t, product_id AS item, category, quantity AS detail
            FROM log_purchases WHERE entity_id = ?1
            UNION ALL
            SELECT b.source || ':' || b.type, b.t, b.product_id, b.category, NULL
            FROM log_behaviour b WHERE b.user_entity_id = ?1
               OR b.anonymous_id IN (SELECT identifier_value FROM identifiers
                                     WHERE identifier_type = 'anonymous_id' AND entity_id = ?1)
            UNION ALL
            SELECT 'email:' || type, t, NULL, category, NULL FROM log_email WHERE entity_id = ?1
            UNION ALL
            SELECT 'call', t, NULL, reason, duration_seconds FROM log_calls WHERE entity_id = ?1
        ) ORDER BY t DESC LIMIT ?2
        """,
        (profile_id, limit),
    ).fetchall()
    names = ("kind", "at", "product_id", "category", "detail")
    out = [dict(zip(names, r, strict=True)) for r in rows]
    for item in out:
        item["at"] = str(from_us(item["at"]))
    return out
