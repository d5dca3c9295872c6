"""The suppression rules as SQL over the online store, and the addresses activation may send.

Everything is read from the store's event log at the moment `at`, so an event applied in real
time (a purchase, a consent, an email send) changes the next audience at once.

Consent (`consented_sql`). Consent is recorded per identifier by the system that collected it
(an email's subscription, a shop account's sign-up questions, a cookie's banner, a phone
call). For each identifier of a profile and each purpose, its latest choice before `at`
counts. The profile's status is the most restrictive of them unless a newer explicit grant
says otherwise (issue #7's rule): a profile may be contacted for a purpose only when
- at least one identifier of the profile alone (not shared with another profile, such as a
  household landline or a placeholder email) has granted it as its latest choice, and
- that grant is newer than every refusal standing on any identifier of the profile, shared or
  not; a cookie or device counts as the profile's for a refusal as soon as the profile's
  account logged in on it, even when stitching left it unlinked (claimed by two accounts).
So a person who never answered is not contactable for marketing (no consent is not
consent), a refusal is overridden only by a later explicit grant of the person's own, and a
grant on a value shared with someone else overrides nothing. Consent emails are compared as
ingest normalises emails (trimmed, lower case, no spaces); cookies and devices count from the
moment they were linked.

Identifiers sent out (`load_identifiers`): emails and phones of the identity index that belong
to this profile alone and are not placeholders (features.identity.canonical: test@test.com,
+10000000000, ...). A value shared by several profiles would reach someone else.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable

from features.definitions import DAY_US
from features.identity.canonical import JUNK_IDENTIFIERS, canonical_email, is_junk_phone
from serving.activation.hashing import Platform, normalise_email, normalise_phone

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL_VALUE = (
    "CASE WHEN identifier_type = 'email' THEN LOWER(REPLACE(identifier_value, ' ', '')) "
    "ELSE TRIM(identifier_value) END"
)
_SHARED = (
    "EXISTS (SELECT 1 FROM identifiers o WHERE o.identifier_type = i.identifier_type "
    "AND o.identifier_value = i.identifier_value AND o.entity_id <> i.entity_id)"
)


def consented_sql(purposes: list[str]) -> tuple[str, dict[str, object]]:
    """SELECT profile_id of every profile that may be contacted for all `purposes` at :at."""
    names = {f"purpose_{n}": p for n, p in enumerate(purposes)}
    marks = ", ".join(f":{k}" for k in names)
    junk = ", ".join(f"'{v}'" for v in sorted(JUNK_IDENTIFIERS))
    linked = "(i.linked_at IS NULL OR i.linked_at < :at)"
    sql = f"""
        WITH latest AS (
            SELECT identifier_type, value, purpose, status, t FROM (
                SELECT identifier_type, {_EMAIL_VALUE} AS value, purpose, status, t,
                       ROW_NUMBER() OVER (PARTITION BY identifier_type, {_EMAIL_VALUE}, purpose
                                          ORDER BY t DESC, event_id DESC) AS newest
                FROM log_consents WHERE purpose IN ({marks}) AND t < :at
            ) WHERE newest = 1
        ), granted AS (
            SELECT i.entity_id AS profile_id, l.purpose, l.t FROM latest l
            JOIN identifiers i ON i.identifier_type = l.identifier_type
                 AND i.identifier_value = l.value
            WHERE l.status = 'granted' AND {linked} AND NOT {_SHARED}
        ), revoked AS (
            SELECT i.entity_id AS profile_id, l.purpose, l.t FROM latest l
            JOIN identifiers i ON i.identifier_type = l.identifier_type
                 AND i.identifier_value = l.value
            WHERE l.status = 'revoked' AND {linked}
            UNION
            -- A refusal on a cookie or device binds everyone who logged in on it, even when
            -- stitching left it unlinked (claimed by two accounts, say).
            SELECT i.entity_id, l.purpose, l.t FROM latest l
            JOIN claims c ON c.identifier_type = l.identifier_type
                 AND c.identifier_value = l.value AND c.first_at < :at
            JOIN identifiers i ON i.identifier_type = c.known_type
                 AND i.identifier_value = c.known_value
            WHERE l.status = 'revoked' AND LOWER(TRIM(l.value)) NOT IN ({junk})
        )
        SELECT profile_id FROM (
            -- One sort, not a probe of `revoked` per grant (CTEs carry no index).
            SELECT profile_id, purpose, MAX(CASE WHEN grant = 1 THEN t END) AS granted_at,
                   MAX(CASE WHEN grant = 0 THEN t END) AS revoked_at
            FROM (SELECT profile_id, purpose, t, 1 AS grant FROM granted
                  UNION ALL SELECT profile_id, purpose, t, 0 FROM revoked)
            GROUP BY profile_id, purpose
        ) WHERE granted_at IS NOT NULL AND (revoked_at IS NULL OR granted_at > revoked_at)
        GROUP BY profile_id HAVING COUNT(*) = {len(purposes)}
    """
    return sql, names


def bought_sql(
    product_id: str | None, category: str | None, within_days: int | None, at_us: int
) -> tuple[str, dict[str, object]]:
    """SELECT profile_id of every buyer (a line with a positive quantity; a return does not
    undo having bought) of the product or category before :at, optionally in the last N days;
    once per line (for `IN`: a DISTINCT would read the table through the entity index)."""
    column, value = ("product_id", product_id) if product_id is not None else ("category", category)
    since = -(2**62) if within_days is None else at_us - within_days * DAY_US
    sql = (
        f"SELECT entity_id AS profile_id FROM log_purchases WHERE {column} = :bought "
        "AND quantity > 0 AND t < :at AND t >= :bought_since"
    )
    return sql, {"bought": value, "bought_since": since}


def contacted_sql(channel: str, cap_days: int, at_us: int) -> tuple[str, dict[str, object]]:
    """SELECT profile_id of everyone contacted on `channel` in the last `cap_days` before :at:
    recorded exports on the channel and, for email, the email engine's own sends."""
    sql = (
        "SELECT profile_id FROM act.activations WHERE channel = :channel "
        "AND activated_at >= :cap_from AND activated_at < :at"
    )
    if channel == "email":
        sql += (
            " UNION SELECT entity_id FROM log_email WHERE type = 'send' "
            "AND t >= :cap_from AND t < :at"
        )
    return sql, {"channel": channel, "cap_from": at_us - cap_days * DAY_US}


def fill_erased(con: sqlite3.Connection) -> None:
    """temp.erased_ids: profiles on the block list, by profile id or by identifier digest."""
    con.execute("DROP TABLE IF EXISTS temp.erased_ids")
    con.execute(
        "CREATE TEMP TABLE erased_ids AS "
        "SELECT profile_id FROM act.erasures WHERE profile_id IS NOT NULL "
        "UNION SELECT i.entity_id FROM identifiers i "
        "WHERE i.identifier_type IN (SELECT identifier_type FROM act.erasures "
        "WHERE identifier_sha256 IS NOT NULL) "
        "AND sha256_hex(i.identifier_value) IN (SELECT identifier_sha256 FROM act.erasures "
        "WHERE identifier_type = i.identifier_type)"
    )


def fill_ids(con: sqlite3.Connection, name: str, ids: Iterable[str]) -> None:
    """A temporary table of profile ids."""
    con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute(f"CREATE TEMP TABLE {name} (profile_id TEXT PRIMARY KEY) WITHOUT ROWID")
    con.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((p,) for p in ids))


def load_identifiers(
    con: sqlite3.Connection, table: str, platform: Platform, region: str
) -> dict[str, tuple[list[str], list[str]]]:
    """Per profile of temp.`table`: its sendable emails and phones, normalised for `platform`
    (sorted, without duplicates). Profiles without any are absent."""
    rows = con.execute(
        f"SELECT i.entity_id, i.identifier_type, i.identifier_value FROM temp.{table} t "
        "JOIN identifiers i ON i.entity_id = t.profile_id "
        f"WHERE i.identifier_type IN ('email', 'phone') AND NOT {_SHARED}"
    ).fetchall()
    found: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for profile, kind, value in rows:
        if kind == "email":
            normal = normalise_email(value, platform) if canonical_email(value) else None
            if normal is not None:
                found[profile][0].add(normal)
        elif not is_junk_phone(value):
            normal = _stored_phone(value, platform) or normalise_phone(value, platform, region)
            if normal is not None:
                found[profile][1].add(normal)
    return {p: (sorted(e), sorted(ph)) for p, (e, ph) in found.items()}


def _stored_phone(value: str, platform: Platform) -> str | None:
    """A phone ingest already wrote as E.164 (only after phonenumbers found it a possible
    number), in the platform's form without parsing it again; None for anything else."""
    if not _E164.match(value):
        return None
    return value if platform == "google" else value[1:]


def load_channel_ids(
    con: sqlite3.Connection, table: str, id_type: str, source: str
) -> dict[str, str]:
    """Per profile of temp.`table`: the channel system's id of it, the newest record of
    `source` (e.g. the latest subscription) when a person has several; ties by id."""
    rows = con.execute(
        f"SELECT i.entity_id, i.identifier_value FROM temp.{table} t "
        "JOIN identifiers i ON i.entity_id = t.profile_id AND i.identifier_type = ? "
        "LEFT JOIN log_records r ON r.event_id = ? || i.identifier_value "
        "ORDER BY i.entity_id, COALESCE(r.t, -1) DESC, i.identifier_value",
        (id_type, f"{source}:"),
    ).fetchall()
    chosen: dict[str, str] = {}
    for profile, value in rows:
        chosen.setdefault(profile, value)
    return chosen
