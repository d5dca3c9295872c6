"""Many profiles' features at one moment from the online store, for batch scoring.

`get_online_features` serves one profile: its stored row while it is exact, else a recompute
from its events. Read one by one, a whole store costs about a millisecond a profile once the
rows have expired (every row expires at the next UTC midnight at the latest, when the whole-day
counters tick). `load_online_features` gives the same values for many profiles at once: rows
still exact are read as stored; the others are recomputed together by one set-based statement
(the compiled one-profile SQL, its `= $entity_id` filters turned into a join on a temporary
table of ids, so each relation is still read through its entity index) and stored, as a read of
each would have done.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from features.compile import compile_expiry, compile_features, parameters
from features.errors import WarehouseError
from features.event_log import to_us
from features.online.store import OnlineStore, next_midnight, now_us

_ONE = "= $entity_id"
_MANY = "IN (SELECT entity_id FROM temp.bulk_ids)"


def _many(sql: str) -> str:
    """The one-profile SQL for every profile in temp.bulk_ids."""
    if _ONE not in sql:  # the compiled text changed shape: fail loudly, never read everyone
        raise WarehouseError("the compiled one-profile SQL has no `= $entity_id` filter")
    return sql.replace(_ONE, _MANY)


def _fill_ids(store: OnlineStore, name: str, ids: Iterable[str]) -> None:
    con = store.con
    con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute(f"CREATE TEMP TABLE {name} (entity_id TEXT PRIMARY KEY) WITHOUT ROWID")
    con.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((str(i),) for i in ids))


def load_online_features(
    store: OnlineStore, at: object | None = None, entity_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Features of every profile (or of `entity_ids`) at `at` (default now), one row each.

    Equal to calling `store.get_online_features(id, at)` for each profile: a stored row is used
    while `computed_at <= at < expires_at`; any other profile is recomputed at `at` and its row
    stored (unless the store holds a newer one, as a read in the past would leave it). Profiles
    without history before `at` have no row. Columns: `entity_id`, then the catalogue's
    features; rows ordered by `entity_id`.
    """
    at_us = now_us() if at is None else to_us(at)
    con = store.con
    columns = ", ".join(f'"{c}"' for c in store.columns)
    wanted = "" if entity_ids is None else " AND entity_id IN (SELECT entity_id FROM temp.wanted)"
    with con:
        if entity_ids is not None:
            _fill_ids(store, "wanted", entity_ids)
        _fill_ids(store, "bulk_ids", ())
        con.execute(
            "INSERT INTO temp.bulk_ids SELECT entity_id FROM online_features "
            f"WHERE NOT (computed_at <= ? AND ? < expires_at){wanted}",
            (at_us, at_us),
        )
        if entity_ids is not None:  # asked for but not stored: may have history by now
            con.execute(
                "INSERT OR IGNORE INTO temp.bulk_ids SELECT w.entity_id FROM temp.wanted w "
                "WHERE NOT EXISTS (SELECT 1 FROM online_features o WHERE o.entity_id = "
                "w.entity_id)"
            )
        _recompute(store, at_us)
    cursor = con.execute(
        f"SELECT entity_id, {columns} FROM online_features WHERE computed_at <= :at "
        f"AND :at < expires_at AND entity_id NOT IN (SELECT entity_id FROM temp.bulk_ids)"
        f"{wanted} UNION ALL SELECT entity_id, {columns} FROM temp.bulk_features "
        "ORDER BY entity_id",
        {"at": at_us},
    )
    # Built from the rows as read: pandas' SQL reader costs more than the query for a few rows.
    return pd.DataFrame(cursor.fetchall(), columns=["entity_id", *store.columns])


def _recompute(store: OnlineStore, at_us: int) -> None:
    """Features and expiry of temp.bulk_ids at `at_us` into temp.bulk_features; stored rows
    replaced where the store holds nothing newer, rows without history dropped."""
    con = store.con
    con.execute("DROP TABLE IF EXISTS temp.bulk_features")
    con.execute("DROP TABLE IF EXISTS temp.bulk_expiry")
    names = ", ".join(f'"{c}"' for c in store.columns)
    if con.execute("SELECT 1 FROM temp.bulk_ids LIMIT 1").fetchone() is None:
        # Every row still exact (the usual case right after an event was applied): planning
        # the catalogue's query would cost more than anything else here.
        con.execute(f"CREATE TEMP TABLE bulk_features AS SELECT entity_id, {names} "
                    "FROM online_features WHERE 0")  # fmt: skip
        return
    features = _many(compile_features(store.catalogue, one_entity=True))
    expiry = _many(compile_expiry(store.catalogue, one_entity=True))
    # The features SELECT names the entity column after the catalogue's key; stored rows and
    # the store's own recompute call it entity_id.
    key = store.catalogue.entity_key
    picked = ", ".join(f'f."{c}"' for c in store.columns)
    con.execute(
        f'CREATE TEMP TABLE bulk_features AS SELECT "{key}" AS entity_id, {names} '
        f"FROM ({features})",
        parameters(features, at_us),
    )
    con.execute(f"CREATE TEMP TABLE bulk_expiry AS {expiry}", parameters(expiry, at_us))
    midnight = next_midnight(at_us)
    newer = "SELECT entity_id FROM online_features WHERE computed_at > ?"
    con.execute(
        f"INSERT OR REPLACE INTO online_features (entity_id, computed_at, expires_at, {names}) "
        f"SELECT f.entity_id, ?, CASE WHEN e.next_change < ? THEN e.next_change ELSE ? END, "
        f"{picked} "
        f"FROM temp.bulk_features f LEFT JOIN temp.bulk_expiry e ON e.entity_id = f.entity_id "
        f"WHERE f.entity_id NOT IN ({newer})",
        (at_us, midnight, midnight, at_us),
    )
    con.execute(
        "DELETE FROM online_features WHERE entity_id IN (SELECT entity_id FROM temp.bulk_ids) "
        "AND entity_id NOT IN (SELECT entity_id FROM temp.bulk_features) AND computed_at <= ?",
        (at_us,),
    )
