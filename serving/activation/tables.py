"""Where activation keeps its state, and the erasure block list.

- `propensity_scores` lives in the online store (CDP_HOME/online.sqlite) beside the features it
  is computed from: `cdp features materialize` builds a new store file, and scores of the old
  features go with it (score again after materialising).
- What must outlive a rebuilt store is in CDP_HOME/activation.sqlite, attached to the store's
  connection as `act`: `activation_runs` (one row per recorded export: the request, counts,
  model version), `activations` (one row per member of a recorded export: the frequency cap
  reads it) and `erasures` (the block list issue #7 fills).

No table holds a raw email or phone: exports record profile ids, erasures a profile id or the
SHA-256 of the identifier.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from features.errors import ContractError
from features.event_log import from_us, to_us
from features.online.store import OnlineStore, now_us
from serving.activation.hashing import sha256_hex

ACTIVATION_FILE = "activation.sqlite"
SCORES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS propensity_scores (target TEXT NOT NULL, profile_id TEXT NOT "
    "NULL, score REAL NOT NULL, model_version TEXT NOT NULL, scored_at INTEGER NOT NULL, "
    "PRIMARY KEY (target, profile_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS propensity_scores_profile ON propensity_scores(profile_id)",
    # The model version the whole table is of: checked on every partial re-score, which a scan
    # of the scores would make cost more than the scoring itself.
    "CREATE TABLE IF NOT EXISTS propensity_meta (key TEXT PRIMARY KEY, value TEXT)",
)
ACTIVATION_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS act.activation_runs (activation_id TEXT PRIMARY KEY, "
    "channel TEXT, target TEXT, format TEXT, platform TEXT, model_version TEXT, members "
    "INTEGER, request_json TEXT, counts_json TEXT, generated_at INTEGER)",
    "CREATE TABLE IF NOT EXISTS act.activations (activation_id TEXT, profile_id TEXT, "
    "channel TEXT, activated_at INTEGER)",
    "CREATE INDEX IF NOT EXISTS act.activations_channel ON activations(channel, activated_at)",
    "CREATE TABLE IF NOT EXISTS act.erasures (erasure_id TEXT PRIMARY KEY, profile_id TEXT, "
    "identifier_type TEXT, identifier_sha256 TEXT, erased_at INTEGER)",
    "CREATE INDEX IF NOT EXISTS act.erasures_profile ON erasures(profile_id)",
)


def activation_path(store: OnlineStore) -> Path:
    """The activation file beside the store (same CDP_HOME)."""
    return store.path.with_name(ACTIVATION_FILE)


def prepare_store(store: OnlineStore) -> sqlite3.Connection:
    """The store's connection with `act` attached and every activation table present."""
    con = store.con
    attached = {row[1] for row in con.execute("PRAGMA database_list").fetchall()}
    if "act" in attached:  # prepared before on this connection: nothing to write
        return con
    con.execute("ATTACH DATABASE ? AS act", (str(activation_path(store)),))
    con.execute("PRAGMA act.journal_mode = WAL")
    # Erasures by identifier are matched on the digest of each stored identifier.
    con.create_function("sha256_hex", 1, _digest, deterministic=True)
    with con:
        for sql in (*SCORES_SCHEMA, *ACTIVATION_SCHEMA):
            con.execute(sql)
    return con


def _digest(value: str | None) -> str | None:
    return None if value is None else sha256_hex(value)


def record_erasure(
    store: OnlineStore,
    *,
    profile_id: str | None = None,
    identifier_type: str | None = None,
    identifier_value: str | None = None,
    erased_at: object | None = None,
) -> str:
    """Add a person to the erasure block list; return the erasure id.

    By profile id, or by an identifier (type and value as the identity index holds them:
    ingest's lower-case email, E.164 phone, source ids) kept only as its SHA-256, so the block
    list still applies if a later identity run gives the person another profile id. Nobody on
    the list is ever in an audience or a suppression list.
    """
    if profile_id is None and (identifier_type is None or identifier_value is None):
        raise ContractError("an erasure needs a profile_id or an identifier type and value")
    at_us = now_us() if erased_at is None else to_us(erased_at)
    digest = None if identifier_value is None else sha256_hex(identifier_value)
    erasure_id = "era_" + sha256_hex(f"{profile_id}|{identifier_type}|{digest}|{at_us}")[:16]
    con = prepare_store(store)
    with con:
        con.execute(
            "INSERT OR IGNORE INTO act.erasures VALUES (?, ?, ?, ?, ?)",
            (erasure_id, profile_id, identifier_type, digest, at_us),
        )
    return erasure_id


def read_score_status(store: OnlineStore) -> dict[str, object]:
    """What the scores table holds: rows and profiles per target, versions, oldest/newest."""
    con = prepare_store(store)
    rows = con.execute(
        "SELECT target, COUNT(*), MIN(scored_at), MAX(scored_at), "
        "GROUP_CONCAT(DISTINCT model_version) FROM propensity_scores GROUP BY target"
    ).fetchall()
    return {
        "targets": {r[0]: r[1] for r in rows},
        "model_versions": sorted({v for r in rows for v in (r[4] or "").split(",") if v}),
        "scored_at": [from_us(min((r[2] for r in rows), default=None)),
                      from_us(max((r[3] for r in rows), default=None))],
    }  # fmt: skip
