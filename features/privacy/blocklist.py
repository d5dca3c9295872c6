"""The block list of erased identifiers: salted SHA-256, nothing reversible.

Each home has its own random salt (`CDP_HOME/privacy_salt`, 32 bytes, created on first erasure,
mode 0600, never logged or printed): an unsalted SHA-256 of an email or phone can be reversed by
hashing a list of candidates, a per-home salt makes that useless without the home's file.
Values are hashed in the form the warehouse holds them (ingest's normalisation: lower-cased
trimmed emails, E.164 phones, ids trimmed), without their type, so a customer id blocks the
same value whether it arrives as `customer_id` or as an event's `user_id`.

Tables in `CDP_HOME/privacy.sqlite`: `blocked_identifiers(identifier_hash, identifier_type,
erasure_id, blocked_at)` and `erasures(erasure_id, erased_at, identifier_type, profile_hash,
receipt_json)`. The profile id is kept hashed too: it is the person's key in models and exports.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from features.errors import ContractError
from features.normalize import phone_to_e164
from features.settings import Settings

SALT_FILE = "privacy_salt"
PRIVACY_FILE = "privacy.sqlite"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blocked_identifiers (identifier_hash TEXT PRIMARY KEY, "
    "identifier_type TEXT NOT NULL, erasure_id TEXT NOT NULL, blocked_at TEXT NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS erasures (erasure_id TEXT PRIMARY KEY, erased_at TEXT NOT NULL, "
    "identifier_type TEXT NOT NULL, profile_hash TEXT, receipt_json TEXT NOT NULL)",
)
# Source columns that carry a person's identifier, by the identifier type they hold.
IDENTIFIER_COLUMNS = {
    "customer_id": "customer_id", "user_id": "customer_id", "contact_id": "contact_id",
    "subscriber_id": "subscriber_id", "order_id": "order_id", "email": "email",
    "guest_email": "email", "phone": "phone", "anonymous_id": "anonymous_id",
    "device_id": "device_id", "identifier_value": "identifier",
}  # fmt: skip
_SALTS: dict[Path, bytes] = {}


def normalise_value(identifier_type: str, value: str, phone_region: str = "US") -> str:
    """The identifier as the warehouse holds it; ContractError for an empty value."""
    value = str(value).strip()
    if not value:
        raise ContractError("identifier.value: empty")
    if identifier_type == "email":
        return value.lower()
    if identifier_type == "phone":
        return phone_to_e164(value, phone_region)
    return value


def read_salt(home: Path, *, create: bool = False) -> bytes | None:
    """The home's salt; None when no erasure ever happened (nothing can be blocked)."""
    home = Path(home)
    cached = _SALTS.get(home.resolve())
    if cached is not None:
        return cached
    path = home / SALT_FILE
    if not path.exists():
        if not create:
            return None
        home.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two first erasures at once must not write two salts.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
        except FileExistsError:
            pass
    salt = path.read_bytes()
    _SALTS[home.resolve()] = salt
    return salt


def hash_value(salt: bytes, value: object) -> str:
    """Salted SHA-256 (hex) of one normalised identifier value."""
    return hashlib.sha256(salt + str(value).encode("utf-8")).hexdigest()


def connect_privacy(home: Path) -> sqlite3.Connection:
    """The privacy file of a home, its tables present (WAL)."""
    Path(home).mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(Path(home) / PRIVACY_FILE), timeout=30)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    with con:
        for sql in SCHEMA:
            con.execute(sql)
    return con


class Blocklist:
    """The home's blocked hashes, loaded once; `blocked(values)` tells which are erased."""

    def __init__(self, home: Path) -> None:
        self.salt = read_salt(home)
        self.hashes: frozenset[str] = frozenset()
        if self.salt is not None and (Path(home) / PRIVACY_FILE).exists():
            con = connect_privacy(home)
            try:
                rows = con.execute("SELECT identifier_hash FROM blocked_identifiers").fetchall()
            finally:
                con.close()
            self.hashes = frozenset(r[0] for r in rows)

    @classmethod
    def of(cls, settings: Settings) -> Blocklist:
        """The block list of `settings.home`."""
        return cls(settings.home)

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def is_blocked(self, value: object) -> bool:
        """True if the normalised `value` was erased."""
        if not self.hashes or value is None:
            return False
        return hash_value(self.salt, value) in self.hashes  # type: ignore[arg-type]

    def any_blocked(self, values: Iterable[object]) -> bool:
        """True if any of `values` was erased."""
        return any(self.is_blocked(v) for v in values)

    def blocked_mask(self, values: Iterable[object]) -> list[bool]:
        """One flag per value; each distinct value is hashed once (a column repeats ids)."""
        seen: dict[object, bool] = {}
        flags = []
        for value in values:
            if value not in seen:
                seen[value] = self.is_blocked(value)
            flags.append(seen[value])
        return flags


def add_blocked(
    con: sqlite3.Connection,
    salt: bytes,
    identifiers: Iterable[tuple[str, str]],
    erasure_id: str,
    at: str,
) -> int:
    """Insert (type, value) pairs as hashes (in the caller's transaction); return how many
    were new."""
    rows = {(hash_value(salt, value), kind) for kind, value in identifiers if value is not None}
    before = con.total_changes
    con.executemany(
        "INSERT OR IGNORE INTO blocked_identifiers VALUES (?, ?, ?, ?)",
        [(h, kind, erasure_id, at) for h, kind in sorted(rows)],
    )
    return con.total_changes - before


def split_blocked(frame, blocklist: Blocklist):
    """(rows to keep, row numbers of rows holding an erased identifier) of a validated batch
    (a DataFrame with `_row_number`); every identifier column of the source is checked."""
    import numpy as np

    if not blocklist or frame.empty:
        return frame, []
    mask = np.zeros(len(frame), dtype=bool)
    for column in IDENTIFIER_COLUMNS:
        if column in frame.columns:
            # Each distinct value hashed once: event columns repeat the same ids many times.
            values = frame[column]
            hits = [v for v in values.dropna().unique() if blocklist.is_blocked(v)]
            if hits:
                mask |= values.isin(hits).to_numpy()
    if not mask.any():
        return frame, []
    dropped = frame.loc[mask, "_row_number"].astype("int64").tolist()
    return frame.loc[~mask].reset_index(drop=True), dropped


def mask_bad_records(
    reasons: list[str], records: list[str], blocklist: Blocklist, phone_region: str = "US"
) -> tuple[list[str], list[str | None]]:
    """Rows that failed validation keep their raw values in quarantine, unless they hold an
    erased identifier: then reason `erased` and no values."""
    import json

    if not blocklist or not records:
        return reasons, list(records)
    out_reasons, out_records = [], []
    for reason, record in zip(reasons, records, strict=True):
        values = json.loads(record)
        erased = False
        for column, kind in IDENTIFIER_COLUMNS.items():
            raw = values.get(column)
            if raw is None:
                continue
            try:
                erased = blocklist.is_blocked(normalise_value(kind, raw, phone_region))
            except Exception:  # an unparseable raw value: compare it as it came
                erased = blocklist.is_blocked(str(raw).strip())
            if erased:
                break
        out_reasons.append("erased" if erased else reason)
        out_records.append(None if erased else record)
    return out_reasons, out_records


_CURRENT: dict[Path, tuple[tuple, Blocklist]] = {}


def current_blocklist(home: Path) -> Blocklist:
    """The home's block list, re-read only when privacy.sqlite (or its WAL) changed, so the
    real-time event path pays a stat, not a query, per event; an erasure made by another
    process (the CLI beside the service) is seen at the next event."""
    path = Path(home) / PRIVACY_FILE
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None
        for p in (path, path.with_name(PRIVACY_FILE + "-wal"), Path(home) / SALT_FILE)
    )
    cached = _CURRENT.get(Path(home))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    blocklist = Blocklist(home)
    _CURRENT[Path(home)] = (stamp, blocklist)
    return blocklist


def event_blocked(blocklist: Blocklist, event: dict, phone_region: str = "US") -> bool:
    """True if any identifier of a source event (or of an order's lines) is erased."""
    if not blocklist:
        return False
    items = [event, *(event.get("lines") or [])]
    for item in items:
        for column, kind in IDENTIFIER_COLUMNS.items():
            raw = item.get(column)
            if raw is None:
                continue
            if column == "identifier_value":  # consents: typed by their own column
                kind = str(item.get("identifier_type") or "")
            try:
                value = normalise_value(kind, raw, phone_region)
            except Exception:  # unparseable: compare as it came
                value = str(raw).strip()
            if blocklist.is_blocked(value):
                return True
    return False
