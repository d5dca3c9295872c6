"""The online store: the latest features per profile in SQLite (WAL), and the event log behind them.

Tables: `online_features` (one row per profile: every feature, `computed_at` and `expires_at`),
the event log (`log_*`, `identifiers`, the same relations the offline build reads, see
features.event_log), `claims` (who logged in on which cookie or device, for stitching),
`category_prices`, `products` and `meta` (the catalogue's spec and when it was materialised).

A stored row is the features as of `computed_at` and stays exact until `expires_at`: the next
moment at which a value would change with no new event (a row leaving a window, a row becoming
known, midnight for whole-day counters). A read before `expires_at` is one primary-key lookup;
a read after it recomputes the profile from its events with the catalogue's SQL, at the read's
moment, and stores the result. So a value is never served past its window.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from features.compile import compile_expiry, compile_features, compile_owned_products, parameters
from features.definitions import DAY_US, Catalogue
from features.errors import NotFoundError, WarehouseError
from features.event_log import LOG_TABLES, from_us, to_us
from features.settings import Settings
from features.views import build_catalogue

_SQLITE_TYPES = {"VARCHAR": "TEXT", "BIGINT": "INTEGER"}
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS {t}_event ON {t}(event_id)",
    "CREATE INDEX IF NOT EXISTS log_purchases_entity ON log_purchases(entity_id)",
    "CREATE INDEX IF NOT EXISTS log_behaviour_user ON log_behaviour(user_entity_id)",
    "CREATE INDEX IF NOT EXISTS log_behaviour_cookie ON log_behaviour(anonymous_id)",
    "CREATE INDEX IF NOT EXISTS log_behaviour_device ON log_behaviour(device_id)",
    "CREATE INDEX IF NOT EXISTS log_email_entity ON log_email(entity_id)",
    "CREATE INDEX IF NOT EXISTS log_calls_entity ON log_calls(entity_id)",
    "CREATE INDEX IF NOT EXISTS log_records_entity ON log_records(entity_id)",
    "CREATE INDEX IF NOT EXISTS log_consents_identifier "
    "ON log_consents(identifier_type, identifier_value)",
    "CREATE UNIQUE INDEX IF NOT EXISTS identifiers_key ON identifiers"
    "(identifier_type, identifier_value, entity_id)",
    "CREATE INDEX IF NOT EXISTS identifiers_entity ON identifiers(entity_id)",
)
AUX_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE products (product_id TEXT PRIMARY KEY, category TEXT)",
    "CREATE TABLE category_prices (category TEXT, valid_from INTEGER, valid_to INTEGER, "
    "ref_price_cents INTEGER)",
    "CREATE TABLE claims (identifier_type TEXT, identifier_value TEXT, known_type TEXT, "
    "known_value TEXT, first_at INTEGER, "
    "PRIMARY KEY (identifier_type, identifier_value, known_type, known_value)) WITHOUT ROWID",
    # The golden records of features.identity.profiles, for the service's lookups.
    "CREATE TABLE profiles (profile_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, "
    "email TEXT, phone TEXT, date_of_birth TEXT, address_line TEXT, city TEXT, postcode TEXT, "
    "first_seen_at TEXT, last_seen_at TEXT, sources TEXT, record_count INTEGER, "
    "low_evidence INTEGER) WITHOUT ROWID",
)
PROFILE_COLUMNS = ("profile_id", "first_name", "last_name", "email", "phone", "date_of_birth",
                   "address_line", "city", "postcode", "first_seen_at", "last_seen_at",
                   "sources", "record_count", "low_evidence")  # fmt: skip


def connect(path: Path) -> sqlite3.Connection:
    """Open a store file in WAL mode (readers never block the writer)."""
    con = sqlite3.connect(str(path), timeout=30)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    # Feature queries build small temporary b-trees (GROUP BY, COUNT DISTINCT); on disk they
    # cost 8x the query itself.
    con.execute("PRAGMA temp_store = MEMORY")
    return con


def create_schema(con: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Create every table of an empty store (indexes come after the bulk load)."""
    for table, columns in LOG_TABLES.items():
        body = ", ".join(f"{name} {_SQLITE_TYPES[kind]}" for name, kind in columns)
        con.execute(f"CREATE TABLE {table} ({body})")
    for sql in AUX_TABLES:
        con.execute(sql)
    # Untyped columns keep each value's own type (an integer count stays an integer).
    features = ", ".join(f'"{c}"' for c in catalogue.columns)
    con.execute(
        "CREATE TABLE online_features (entity_id TEXT PRIMARY KEY, computed_at INTEGER, "
        f"expires_at INTEGER, {features}) WITHOUT ROWID"
    )


def create_indexes(con: sqlite3.Connection) -> None:
    """Indexes serving one-profile queries and idempotent appends."""
    for sql in INDEXES:
        if "{t}" in sql:
            for table in LOG_TABLES:
                if table != "identifiers":
                    con.execute(sql.format(t=table))
        else:
            con.execute(sql)


def next_midnight(at_us: int) -> int:
    """The first microsecond of the next UTC day: when whole-day counters tick."""
    return (at_us // DAY_US + 1) * DAY_US


def now_us() -> int:
    """The current moment in microseconds since 1970 UTC."""
    return to_us(datetime.now(UTC))


@dataclass
class OnlineFeatures:
    """One profile's features at one moment, and where they came from."""

    entity_id: str
    at: datetime
    values: dict[str, object]
    computed_at: datetime
    expires_at: datetime
    served_from: str  # "store" (a stored row still exact) or "recomputed"

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return {"entity_id": self.entity_id, "at": self.at.isoformat(),
                "computed_at": self.computed_at.isoformat(),
                "expires_at": self.expires_at.isoformat(), "served_from": self.served_from,
                "features": self.values}  # fmt: skip


class OnlineStore:
    """Read and update one online store file. One instance per thread (sqlite3 rule)."""

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.path = path or settings.online_store_path
        self.home = settings.home  # where the erasure block list is (features.privacy)
        self.phone_region = settings.phone_region
        if not self.path.exists():
            raise WarehouseError(
                f"no online store at {self.path}; run `cdp features materialize` first"
            )
        self.con = connect(self.path)
        spec = self.con.execute("SELECT value FROM meta WHERE key = 'catalogue'").fetchone()
        self.catalogue = build_catalogue(**json.loads(spec[0]))
        self.columns = self.catalogue.columns
        self._features_sql = compile_features(self.catalogue, one_entity=True)
        self._expiry_sql = compile_expiry(self.catalogue, one_entity=True)
        self._owned_sql = compile_owned_products(self.catalogue, one_entity=True)
        quoted = ", ".join(f'"{c}"' for c in self.columns)
        self._read_sql = (
            f"SELECT computed_at, expires_at, {quoted} FROM online_features WHERE entity_id = ?"
        )
        marks = ", ".join("?" * (len(self.columns) + 3))
        self._write_sql = (
            f"INSERT OR REPLACE INTO online_features (entity_id, computed_at, expires_at, "
            f"{quoted}) VALUES ({marks})"
        )

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self) -> dict[str, str]:
        """What materialize recorded (catalogue spec, as_of, counts)."""
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    def get_online_features(self, entity_id: str, at: object | None = None) -> OnlineFeatures:
        """The features of `entity_id` at `at` (default now), exactly as offline at that moment.

        Raises NotFoundError when the profile has no history before `at`.
        """
        at_us = now_us() if at is None else to_us(at)
        row = self.con.execute(self._read_sql, (entity_id,)).fetchone()
        if row is not None and row[0] <= at_us < row[1]:
            values = dict(zip(self.columns, row[2:], strict=True))
            return OnlineFeatures(entity_id, from_us(at_us), values, from_us(row[0]),
                                  from_us(row[1]), "store")  # fmt: skip
        # Older than the stored row: answer, but keep the newer row.
        keep = row is None or at_us >= row[0]
        result = self.recompute(entity_id, at_us, store=keep)
        if result is None:
            raise NotFoundError(f"profile {entity_id} has no history before {from_us(at_us)}")
        return result

    def recompute(self, entity_id: str, at_us: int, *, store: bool = True) -> OnlineFeatures | None:
        """Compute one profile from its events at `at_us`; store it (or drop a row with no
        history). Returns None when the profile has no history before `at_us`."""
        row = self.con.execute(
            self._features_sql, parameters(self._features_sql, at_us, entity_id=entity_id)
        ).fetchone()
        change = self.con.execute(
            self._expiry_sql, parameters(self._expiry_sql, at_us, entity_id=entity_id)
        ).fetchone()
        expires = next_midnight(at_us)
        if change is not None and change[1] is not None:
            expires = min(expires, change[1])
        if row is None:
            if store:
                self.con.execute("DELETE FROM online_features WHERE entity_id = ?", (entity_id,))
                self.con.commit()
            return None
        values = dict(zip(self.columns, row[1:], strict=True))
        if store:
            self.con.execute(self._write_sql, (entity_id, at_us, expires, *row[1:]))
            self.con.commit()
        return OnlineFeatures(entity_id, from_us(at_us), values, from_us(at_us),
                              from_us(expires), "recomputed")  # fmt: skip

    def get_owned_products(self, entity_id: str, at: object | None = None) -> list[dict]:
        """Products owned and when (as build_owned_products offline), newest first."""
        at_us = now_us() if at is None else to_us(at)
        rows = self.con.execute(
            self._owned_sql, parameters(self._owned_sql, at_us, entity_id=entity_id)
        ).fetchall()
        names = ("entity_id", "product_id", "category", "first_bought_at", "last_bought_at",
                 "net_quantity", "orders")  # fmt: skip
        owned = [dict(zip(names, r, strict=True)) for r in rows]
        for item in owned:
            item.pop("entity_id")
            item["first_bought_at"] = from_us(item["first_bought_at"])
            item["last_bought_at"] = from_us(item["last_bought_at"])
        return sorted(owned, key=lambda i: (i["first_bought_at"], i["product_id"]), reverse=True)


@contextmanager
def borrowed_store(settings: Settings, store: OnlineStore | None) -> Iterator[OnlineStore]:
    """`store` if the caller has one open (the service's, per thread), else one opened here
    and closed on exit."""
    if store is not None:
        yield store
        return
    with OnlineStore(settings) as own:
        yield own


def get_online_features(
    settings: Settings, profile_id: str, at: object | None = None
) -> dict[str, object]:
    """One profile's features from the online store (opens and closes the store)."""
    with OnlineStore(settings) as store:
        return store.get_online_features(profile_id, at).values
