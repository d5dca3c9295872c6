"""Clusters from two kinds of evidence: Splink's scored pairs and exact shared identifiers.

Splink estimates u (how often different people agree) from random pairs, which assumes those
pairs are non-matches. For a near-unique identifier such as an email address that assumption
fails: most random pairs sharing an email are the same person, so u comes out far too high and
an exact email match alone never clears the prior. Commercial CDPs link on exact email
deterministically; we do too, but only where the data does not contradict it: an email whose
records carry first names that are neither equal nor nicknames of each other is a shared or
family address, and is left to the probabilistic model.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.identity.canonical import name_aliases
from features.identity.metrics import jaro_winkler


def consistent_identifier_edges(
    records: pd.DataFrame | str,
    column: str,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    into: str | None = None,
) -> pd.DataFrame | None:
    """Pairs (unique_id_l, unique_id_r) of records sharing `column`, for values whose records'
    names agree two by two (`names_compatible`: equal, nicknames, a typo, or first and last
    name swapped on one side; missing names ignored).

    `records` (record_id, `column`, first_name and, if known, last_name) is a frame, or the SQL
    of a query on `con` (records already in a DuckDB: an incremental run's in the warehouse, a
    full run's in the linkage model's). Grouping runs in DuckDB; only values carrying two or
    more distinct names (a few per thousand) are checked in Python. With `into`, the pairs are
    left in that temp table of `con` (for SQL that reads them there) and None is returned.
    """
    own = con is None
    con = duckdb.connect() if own else con
    registered = ["conflicting"]
    if isinstance(records, pd.DataFrame):
        registered.append("shared_input")
        if "last_name" not in records.columns:
            records = records.assign(last_name=None)
        con.register("shared_input", records[["record_id", column, "first_name", "last_name"]])
        source = "shared_input"
    else:
        source = f"({records})"
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE shared_ids AS
            SELECT record_id, {column} AS value, first_name,
                   CAST(last_name AS VARCHAR) AS last_name,
                   MIN(record_id) OVER (PARTITION BY {column}) AS anchor,
                   COUNT(*) OVER (PARTITION BY {column}) AS n
            FROM {source} AS input WHERE {column} IS NOT NULL"""
        )
        suspects = con.execute(
            "SELECT value, LIST(DISTINCT [first_name, last_name]) AS names FROM shared_ids"
            " WHERE n > 1 AND first_name IS NOT NULL GROUP BY value"
            " HAVING COUNT(DISTINCT [first_name, last_name]) > 1"
        ).fetchall()
        conflicting = [value for value, names in suspects if not _all_compatible(names)]
        con.register("conflicting", pd.DataFrame({"value": pd.Series(conflicting, dtype=object)}))
        edges = (
            "SELECT anchor AS unique_id_l, record_id AS unique_id_r FROM shared_ids"
            " WHERE n > 1 AND record_id <> anchor"
            " AND value NOT IN (SELECT value FROM conflicting)"
        )
        if into is None:
            return con.execute(f"{edges} ORDER BY anchor, record_id").df()
        con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {edges}")  # SQL orders, if needed
        return None
    finally:
        if own:
            con.close()
        else:
            con.execute("DROP TABLE IF EXISTS shared_ids")
            for name in registered:
                con.unregister(name)


def _all_compatible(names: list) -> bool:
    """Whether every two of these (first, last) names could be one person's."""
    pairs = [(first, last) for first, last in names]
    return all(names_compatible(a, b) for i, a in enumerate(pairs) for b in pairs[i + 1 :])


def is_nickname(a: str, b: str) -> bool:
    """One given name is a nickname of the other (bill, william), as the model's nickname level:
    two names that only share a nickname (melissa and elizabeth: lisa) are two names."""
    return b in name_aliases(a) or a in name_aliases(b)


NAME_SIMILARITY = 0.75


def _similar(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if a == b or is_nickname(a, b):
        return True
    return jaro_winkler(a, b) >= NAME_SIMILARITY


def names_compatible(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    """Two (first, last) names could be one person: the given names equal, nicknames of each
    other or similar (a typo, OCR or phonetic error), or the names swapped on one side (each
    half again allowing for a nickname or typo; a missing surname does not contradict)."""
    first_a, last_a = a
    first_b, last_b = b
    if _similar(first_a, first_b):
        return True
    if _similar(first_a, last_b) and (not last_a or _similar(last_a, first_b)):
        return True
    return _similar(last_a, first_b) and (not last_b or _similar(first_a, last_b))


def dates_compatible(a, b) -> bool:
    """Birth dates that differ in at most one of year, month, day (one typo)."""
    return sum(x != y for x, y in ((a.year, b.year), (a.month, b.month), (a.day, b.day))) <= 1


RELIABLE_BELOW = 0.01  # an attribute contradicting in < 1% of sure matches is a hard fact


def reliable_attributes(confident_pairs: pd.DataFrame) -> dict[str, float]:
    """How often sure matches contradict on first name and on birth date.

    `confident_pairs` holds first_name_l/_r, last_name_l/_r and dob_l/_r of pairs the model is
    very sure of. Returns the contradiction rate per attribute among pairs where both sides have
    it; an attribute is used as a hard constraint only when that rate is below RELIABLE_BELOW,
    so a data set whose duplicates carry replaced names or dates (FEBRL) does not get them.
    """
    rates: dict[str, float] = {}
    if {"first_name_l", "first_name_r"} <= set(confident_pairs.columns):
        both = confident_pairs.dropna(subset=["first_name_l", "first_name_r"])
        last_l = both.get("last_name_l", pd.Series(None, index=both.index))
        last_r = both.get("last_name_r", pd.Series(None, index=both.index))
        bad = [
            not names_compatible((a, la if isinstance(la, str) else None),
                                 (b, lb if isinstance(lb, str) else None))
            for a, b, la, lb in zip(both["first_name_l"], both["first_name_r"], last_l, last_r,
                                    strict=True)
        ]  # fmt: skip
        rates["first_name"] = float(np.mean(bad)) if bad else 1.0
    if {"dob_l", "dob_r"} <= set(confident_pairs.columns):
        both = confident_pairs.dropna(subset=["dob_l", "dob_r"])
        bad = [
            not dates_compatible(a, b) for a, b in zip(both["dob_l"], both["dob_r"], strict=True)
        ]
        rates["dob"] = float(np.mean(bad)) if bad else 1.0
    return rates


def constrained_union(
    records: pd.DataFrame,
    edges: pd.DataFrame,
    trusted_names: pd.Series | None = None,
    *,
    check_names: bool = True,
    check_dates: bool = True,
    cannot_link: dict[str, set[str]] | None = None,
    groups: pd.Series | None = None,
) -> tuple[pd.Series, int]:
    """Connected components that refuse a union contradicting hard facts, edge by edge.

    Edges are applied strongest first (column `strength`, then ids, for determinism). A union is
    refused when the two clusters' self-reported first names are all incompatible, or their
    birth dates all are. One record can therefore no longer bridge two different people (a gift
    order carrying the buyer's email and the recipient's name), nor can a household's shared
    surname and address merge its members. `trusted_names` marks records whose name is the
    person's own (False for a shipping name). `cannot_link` maps a record id to ids it must
    never share a cluster with (pinned unmerge decisions). `groups` (record id -> label) joins
    records that must start together, unchecked: an existing profile, which its own run already
    checked, when new records are linked to it incrementally. Returns (cluster id per record id,
    refusals).
    """
    ids = np.sort(pd.unique(records["record_id"]))
    position = pd.Index(ids)
    # Python lists and ints, not numpy's: the loops below index them a few hundred thousand
    # times, and a numpy scalar per access cost half the run.
    parent = list(range(len(ids)))
    trusted = trusted_names if trusted_names is not None else pd.Series(True, index=records.index)
    missing = pd.Series([None] * len(records), index=records.index)
    firsts = records["first_name"] if "first_name" in records.columns else missing
    lasts = records["last_name"] if "last_name" in records.columns else missing
    dobs = records["dob"] if "dob" in records.columns else missing
    names: dict[int, set] = {}
    dates: dict[int, set] = {}
    for i, first, last, dob, has_dob, own in zip(
        position.get_indexer(records["record_id"]).tolist(), firsts, lasts, dobs,
        dobs.notna().to_numpy().tolist(), trusted.to_numpy().tolist(), strict=True,
    ):  # fmt: skip
        own_name = isinstance(first, str) and own
        names[i] = {(first, last if isinstance(last, str) else None)} if own_name else set()
        dates[i] = {dob} if has_dob else set()

    members: dict[int, set] = {}
    forbidden: dict[int, set] = {}
    for record_id, others in (cannot_link or {}).items():
        [i] = position.get_indexer([record_id]).tolist()
        if i >= 0:
            at = position.get_indexer(list(others))
            forbidden[i] = set(at[at >= 0].tolist())
            members[i] = {i}
            for o in forbidden[i]:
                forbidden.setdefault(o, set()).add(i)
                members[o] = {o}

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def contradicts(a: int, b: int) -> bool:
        """Whether joining clusters a and b would break a hard fact or a pinned unmerge."""
        name_clash = (
            check_names and names[a] and names[b]
            and not any(names_compatible(x, y) for x in names[a] for y in names[b])
        )  # fmt: skip
        date_clash = (
            check_dates and dates[a] and dates[b]
            and not any(dates_compatible(x, y) for x in dates[a] for y in dates[b])
        )  # fmt: skip
        if name_clash or date_clash:
            return True
        return bool(forbidden.get(a, set()) & members.get(b, set())) or bool(
            forbidden.get(b, set()) & members.get(a, set())
        )

    def join(a: int, b: int) -> None:
        keep, drop = min(a, b), max(a, b)
        parent[drop] = keep
        names[keep] |= names.pop(drop)
        dates[keep] |= dates.pop(drop)
        if drop in members or keep in members:
            members[keep] = members.get(keep, {keep}) | members.pop(drop, {drop})
            forbidden[keep] = forbidden.get(keep, set()) | forbidden.pop(drop, set())

    first_of_group: dict = {}
    grouped = position.get_indexer(groups.index) if groups is not None else np.zeros(0, int)
    if (grouped < 0).any():
        raise KeyError("a group names a record that is not among the records")
    labels = groups.to_numpy() if groups is not None else ()
    for i, label in zip(grouped.tolist(), labels, strict=True):
        a, b = find(first_of_group.setdefault(label, i)), find(i)
        if a != b:
            join(a, b)
    # Strongest first, then by ids: positions in the sorted ids order as the ids do.
    left_at = position.get_indexer(edges["unique_id_l"])
    right_at = position.get_indexer(edges["unique_id_r"])
    if (left_at < 0).any() or (right_at < 0).any():
        raise KeyError("an edge names a record that is not among the records")
    order = np.lexsort((right_at, left_at, -edges["strength"].to_numpy()))
    refused = 0
    for left, right in zip(left_at[order].tolist(), right_at[order].tolist(), strict=True):
        a, b = find(left), find(right)
        if a == b:
            continue
        if contradicts(a, b):
            refused += 1
            continue
        join(a, b)
    roots = np.array([find(i) for i in range(len(ids))])
    return pd.Series(ids[roots], index=ids), refused


@dataclass
class Graph:
    """Records and edges as integer positions into `ids`, the sorted distinct record ids: how
    a full run hands its million keys over (coded in the warehouse, features.identity.
    pipeline), instead of as strings to be hashed and sorted again."""

    ids: np.ndarray
    record_at: np.ndarray  # position in `ids` of each row of the records
    left: np.ndarray
    right: np.ndarray
    strength: np.ndarray

    @classmethod
    def from_frames(cls, records: pd.DataFrame, edges: pd.DataFrame) -> Graph:
        """Code `records` (record_id) and `edges` (unique_id_l, unique_id_r, strength)."""
        ids = np.sort(pd.unique(records["record_id"]))
        position = pd.Index(ids)
        return cls(
            ids, position.get_indexer(records["record_id"]),
            position.get_indexer(edges["unique_id_l"]),
            position.get_indexer(edges["unique_id_r"]), edges["strength"].to_numpy(),
        )  # fmt: skip


def constrained_components(
    records: pd.DataFrame,
    edges: pd.DataFrame | None,
    trusted_names: pd.Series | None = None,
    *,
    check_names: bool = True,
    check_dates: bool = True,
    cannot_link: dict[str, set[str]] | None = None,
    groups: pd.Series | None = None,
    graph: Graph | None = None,
) -> tuple[pd.Series, int]:
    """`constrained_union`, with the same result, at the cost of plain connected components.

    A union can only be refused inside a connected component holding two different own names,
    two different birth dates or a pinned record; every other component (nearly all) is taken
    whole. The edge-by-edge union runs on the rest only, with the same edge order. `groups` (an
    incremental run's existing profiles, joined unchecked) count as edges from each member to
    its group's first member when finding the components. `graph`, if given, holds the
    records' ids and the edges already coded (`edges` unused).
    """
    graph = graph if graph is not None else Graph.from_frames(records, edges)
    ids, left, right, of_record = graph.ids, graph.left, graph.right, graph.record_at
    linked_l, linked_r, grouped = left, right, None
    if groups is not None:
        grouped = pd.Index(ids).get_indexer(groups.index)
        first = pd.Series(grouped).groupby(groups.to_numpy(), sort=False).transform("first")
        linked_l = np.concatenate([left, grouped])
        linked_r = np.concatenate([right, first.to_numpy()])
    matrix = coo_matrix((np.ones(len(linked_l)), (linked_l, linked_r)), shape=(len(ids), len(ids)))
    _, component = connected_components(matrix, directed=False)
    component_of = component[of_record]
    trusted = trusted_names if trusted_names is not None else pd.Series(True, index=records.index)
    complex_parts = np.zeros(component.max() + 1 if len(component) else 0, dtype=bool)
    if check_names and "first_name" in records.columns:
        own = records["first_name"].where(trusted.to_numpy())
        last = records["last_name"].fillna("") if "last_name" in records.columns else None
        complex_parts |= _several_values(component_of, own, last, len(complex_parts))
    if check_dates and "dob" in records.columns:
        complex_parts |= _several_values(component_of, records["dob"], None, len(complex_parts))
    pinned = set(cannot_link or {}) | set().union(*(cannot_link or {}).values())
    pinned_at = pd.Index(ids).get_indexer(list(pinned)) if pinned else np.zeros(0, dtype=int)
    complex_parts[component[pinned_at[pinned_at >= 0]]] = True
    # Whole components: the smallest id, as the union-find (which keeps the smaller root) gives.
    # (labels run 0.. with none missing, and ids are sorted: a label's first is its smallest)
    _, smallest = np.unique(component, return_index=True)
    result = pd.Series(ids[smallest[component]], index=ids)
    hard = complex_parts[component]
    refused = 0
    if hard.any():
        inside = complex_parts[component_of]
        on = hard[left]
        hard_edges = pd.DataFrame({"unique_id_l": ids[left[on]], "unique_id_r": ids[right[on]],
                                   "strength": graph.strength[on]})  # fmt: skip
        in_groups = None if groups is None else groups[hard[grouped]]
        part, refused = constrained_union(
            records[inside], hard_edges, trusted[inside], check_names=check_names,
            check_dates=check_dates, cannot_link=cannot_link, groups=in_groups,
        )  # fmt: skip
        result.loc[part.index] = part.to_numpy()
    return result, refused


def _several_values(
    component: np.ndarray, values: pd.Series, second: pd.Series | None, parts: int
) -> np.ndarray:
    """Per component, whether its records hold two or more distinct non-null values (pairs of
    values, with `second`, null only where the first value is)."""
    codes, _ = pd.factorize(values)
    if second is not None:
        second_codes, second_uniques = pd.factorize(second)
        codes = np.where(codes >= 0, codes * (len(second_uniques) + 1) + second_codes + 1, -1)
    held = codes >= 0
    codes = pd.factorize(codes[held])[0].astype(np.int64)  # below the row count: no overflow
    distinct = np.unique(component[held].astype(np.int64) * (len(codes) + 1) + codes)
    return np.bincount(distinct // (len(codes) + 1), minlength=parts) > 1
