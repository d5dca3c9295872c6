"""API keys: who may call the service, and in which role.

A key is `cdp_<key_id>_<secret>`: the id finds the row, the secret (32 random bytes) is checked
against its SHA-256 in constant time. Only the hash is stored (in `CDP_HOME/keys.sqlite`), the
key itself is shown once when it is made, and neither is ever logged: logs and the audit trail
name a key by its id. A plain hash suffices because the secret is random, not a password.

Roles: `agent` (call-center lookups), `marketer` (scores, audiences, suppression lists; hashed
identifiers only), `admin` (everything, including events and erasures).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from features.errors import ConfigError, ForbiddenError, NotFoundError, UnauthorizedError
from features.settings import Settings

ROLES: dict[str, frozenset[str]] = {
    "agent": frozenset({"next_best_offer", "profile", "match"}),
    "marketer": frozenset({"propensity", "audience", "suppression"}),
    "admin": frozenset({"next_best_offer", "profile", "match", "propensity", "audience",
                        "suppression", "events", "forget"}),
}  # fmt: skip
_KEY = re.compile(r"^cdp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
)"""


@dataclass(frozen=True)
class Caller:
    """The holder of a verified key."""

    key_id: str
    name: str
    role: str

    def require(self, action: str) -> None:
        """Raise ForbiddenError unless this caller's role may do `action`."""
        if action not in ROLES[self.role]:
            raise ForbiddenError(f"role {self.role!r} may not call {action}")


def keys_path(settings: Settings) -> Path:
    """Where the key hashes live."""
    return settings.home / "keys.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute(_SCHEMA)
    return con


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def add_key(settings: Settings, role: str, name: str | None = None) -> tuple[str, str]:
    """Make a key for `role`; return (name, key). The key is not stored and cannot be shown
    again."""
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    key_id = secrets.token_hex(6)
    name = name or f"{role}-{key_id}"
    if not _NAME.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '_', '.', '-' (at most 64)")
    secret = secrets.token_urlsafe(32)
    with _connect(keys_path(settings)) as con:
        try:
            con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                        (key_id, name, role, _digest(secret), _now()))  # fmt: skip
        except sqlite3.IntegrityError:
            raise ConfigError(f"a key named {name!r} exists; choose another --name") from None
    return name, f"cdp_{key_id}_{secret}"


def list_keys(settings: Settings) -> list[dict[str, object]]:
    """Every key's id, name, role, creation and revocation time (never the secret)."""
    with _connect(keys_path(settings)) as con:
        rows = con.execute("SELECT key_id, name, role, created_at, revoked_at FROM api_keys "
                           "ORDER BY created_at, name").fetchall()  # fmt: skip
    names = ("key_id", "name", "role", "created_at", "revoked_at")
    return [dict(zip(names, row, strict=True)) for row in rows]


def revoke_key(settings: Settings, name: str) -> dict[str, object]:
    """Revoke the key called `name` (by name or key id); it stops working at once."""
    with _connect(keys_path(settings)) as con:
        updated = con.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE (name = ? OR key_id = ?) "
            "AND revoked_at IS NULL", (_now(), name, name)
        ).rowcount  # fmt: skip
    if not updated:
        raise NotFoundError(f"no active key named {name!r}; see `cdp keys list`")
    return {"name": name, "revoked": True}


class KeyRing:
    """Verifies bearer keys against the store. One instance per process; thread-safe (every
    check reads the store, so a revocation takes effect on the next request)."""

    def __init__(self, settings: Settings) -> None:
        self._con = _connect(keys_path(settings))
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> Caller:
        """The caller behind an `Authorization: Bearer KEY` header; 401 otherwise."""
        if not authorization:
            raise UnauthorizedError("missing Authorization header; send 'Bearer <key>'")
        scheme, _, key = authorization.partition(" ")
        match = _KEY.match(key.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            raise UnauthorizedError("Authorization must be 'Bearer <key>' with a cdp_ key")
        key_id, secret = match.groups()
        with self._lock:
            row = self._con.execute(
                "SELECT name, role, secret_sha256 FROM api_keys WHERE key_id = ? "
                "AND revoked_at IS NULL", (key_id,)
            ).fetchone()  # fmt: skip
        # Compare even when the id is unknown, so timing does not tell ids apart.
        expected = row[2] if row else _digest("")
        if not hmac.compare_digest(expected, _digest(secret)) or row is None:
            raise UnauthorizedError("unknown or revoked API key")
        return Caller(key_id, row[0], row[1])

    def close(self) -> None:
        """Close the store connection."""
        self._con.close()
