"""The profile ids issued so far, read from the warehouse only where a run asks about them.

A profile id is issued once and never reused (features.identity.profiles). An incremental run
names a few thousand profiles, yet reading every id ever issued (half a million at a million
records) and building a dict of them cost more than naming them. `IssuedIds` answers the
questions `assign_profile_ids` asks: the issue order of the previous ids in scope, whether a
candidate id is taken, and how many were issued; it reads the orders and the first candidates
in two queries and asks the warehouse again only for a candidate it did not foresee.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, MutableMapping

import duckdb
import pandas as pd

TABLE = "profile_ids_issued"


def candidate_id(seed_key: str, attempt: int = 0) -> str:
    """The id a new profile seeded by `seed_key` gets, at the given attempt (collisions)."""
    text = seed_key if attempt == 0 else f"{seed_key}#{attempt}"
    return "prf_" + hashlib.sha1(text.encode()).hexdigest()[:16]


class IssuedIds(MutableMapping[str, int]):
    """Issued profile id -> issue order, for `assign_profile_ids`, backed by TABLE.

    `known`: ids whose order will be asked (the previous profile ids of the scope); `seeds`:
    keys that may seed a new profile. Ids issued by this run are added in memory (`new`) and
    written by the caller.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, known: Iterable[str], seeds: Iterable[str]
    ) -> None:
        self._con = con
        known = pd.unique(pd.Series(list(known), dtype=object))
        # Seeds repeat (one per record of a cluster): hash each distinct seed once.
        distinct = pd.unique(pd.Series(list(seeds), dtype=object))
        candidates = pd.unique(pd.Series([candidate_id(s) for s in distinct], dtype=object))
        asked = pd.DataFrame({"profile_id": pd.concat([pd.Series(known), pd.Series(candidates)])})
        con.register("issued_asked", asked.astype(object))
        try:
            found = con.execute(
                f"SELECT profile_id, issue_order FROM {TABLE} "
                "WHERE profile_id IN (SELECT profile_id FROM issued_asked)"
            ).fetchall()
            [(self._count,)] = con.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchall()
        finally:
            con.unregister("issued_asked")
        self._orders = dict(found)
        self._free = set(asked["profile_id"]) - set(self._orders)
        self.new: dict[str, int] = {}

    def _order(self, profile_id: str) -> int | None:
        if profile_id in self.new:
            return self.new[profile_id]
        if profile_id in self._orders:
            return self._orders[profile_id]
        if profile_id in self._free:
            return None
        rows = self._con.execute(
            f"SELECT issue_order FROM {TABLE} WHERE profile_id = ?", [profile_id]
        ).fetchall()
        if rows:
            self._orders[profile_id] = rows[0][0]
            return rows[0][0]
        self._free.add(profile_id)
        return None

    def __getitem__(self, profile_id: str) -> int:
        order = self._order(profile_id)
        if order is None:
            raise KeyError(profile_id)
        return order

    def __contains__(self, profile_id: object) -> bool:
        return isinstance(profile_id, str) and self._order(profile_id) is not None

    def __setitem__(self, profile_id: str, order: int) -> None:
        self.new[profile_id] = order
        self._free.discard(profile_id)

    def __delitem__(self, profile_id: str) -> None:
        raise TypeError("an issued profile id is never withdrawn")

    def __len__(self) -> int:
        return self._count + len(self.new)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("IssuedIds is not read whole: ask for ids")
