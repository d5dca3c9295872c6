"""The append-only audit log: who did what, with counts, never a person's data.

`CDP_HOME/audit.sqlite`, table `audit_log(at, actor_key_id, action, counts_json)`. Only
`append_audit` writes it and there is no update or delete API: an audit trail that can be edited
proves nothing. Callers pass counts and ids (an API key id, an erasure id), never an identifier
value: the log must stay shareable with an auditor. WAL, so the service's appends never wait on
a reader.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from features.settings import Settings

AUDIT_FILE = "audit.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_log (at TEXT NOT NULL, actor_key_id TEXT NOT NULL, "
    "action TEXT NOT NULL, counts_json TEXT NOT NULL)"
)


def audit_path(settings: Settings) -> Path:
    """Where the audit log lives."""
    return settings.home / AUDIT_FILE


def append_audit(settings: Settings, actor: str, action: str, counts: dict[str, object]) -> str:
    """Append one entry; return its time (ISO, UTC). `counts` must hold no PII."""
    at = datetime.now(UTC).replace(tzinfo=None).isoformat()
    settings.home.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(audit_path(settings)), timeout=30)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")  # an acknowledged action must be on disk
        con.execute(_SCHEMA)
        with con:
            con.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?, ?)",
                (at, actor, action, json.dumps(counts, sort_keys=True, default=str)),
            )
    finally:
        con.close()
    return at


def read_audit(settings: Settings, action: str | None = None) -> list[dict[str, object]]:
    """Every entry (optionally of one action), oldest first."""
    path = audit_path(settings)
    if not path.exists():
        return []
    con = sqlite3.connect(str(path), timeout=30)
    try:
        rows = con.execute(
            "SELECT at, actor_key_id, action, counts_json FROM audit_log "
            "WHERE ? IS NULL OR action = ? ORDER BY rowid",
            (action, action),
        ).fetchall()
    finally:
        con.close()
    return [{"at": r[0], "actor_key_id": r[1], "action": r[2], "counts": json.loads(r[3])}
            for r in rows]  # fmt: skip
