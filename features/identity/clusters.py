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

import numpy as np
import pandas as pd

from features.identity.canonical import name_aliases


def consistent_identifier_edges(records: pd.DataFrame, column: str) -> pd.DataFrame:
    """Pairs (unique_id_l, unique_id_r) of records sharing `column`, for values whose records'
    first names agree (equal or nickname-related, missing names ignored)."""
    present = records.dropna(subset=[column])[["record_id", column, "first_name"]]
    groups = present.groupby(column)
    sizes = groups.size()
    shared = sizes[sizes > 1].index
    present = present[present[column].isin(shared)]
    named = present.dropna(subset=["first_name"])
    distinct = named.groupby(column)["first_name"].nunique()
    # Only values whose records carry two or more different first names can conflict.
    suspect = named[named[column].isin(distinct[distinct > 1].index)]
    names = suspect.groupby(column)["first_name"].unique()
    conflicting = {value for value, firsts in names.items() if not _compatible(firsts)}
    usable = present[~present[column].isin(conflicting)]
    anchor = usable.groupby(column)["record_id"].transform("min")
    edges = pd.DataFrame(
        {"unique_id_l": anchor.to_numpy(), "unique_id_r": usable["record_id"].to_numpy()}
    )
    return edges[edges["unique_id_l"] != edges["unique_id_r"]]


def _compatible(first_names: np.ndarray) -> bool:
    if len(first_names) <= 1:
        return True
    common = set(name_aliases(first_names[0]))
    for name in first_names[1:]:
        common &= set(name_aliases(name))
        if not common:
            return False
    return True


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (prefix scale 0.1, up to 4 characters), as Splink's levels use."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    matched_b = [False] * len(b)
    matches_a = []
    for i, ca in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not matched_b[j] and b[j] == ca:
                matched_b[j] = True
                matches_a.append(ca)
                break
    m = len(matches_a)
    if m == 0:
        return 0.0
    matches_b = [cb for cb, used in zip(b, matched_b, strict=True) if used]
    transpositions = sum(x != y for x, y in zip(matches_a, matches_b, strict=True)) / 2
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for ca, cb in zip(a[:4], b[:4], strict=False):
        if ca != cb:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


NAME_SIMILARITY = 0.75  # below this two given names are different names, not one name mistyped


def _similar(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if a == b or set(name_aliases(a)) & set(name_aliases(b)):
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


def constrained_components(
    records: pd.DataFrame,
    edges: pd.DataFrame,
    trusted_names: pd.Series | None = None,
    *,
    check_names: bool = True,
    check_dates: bool = True,
    cannot_link: dict[str, set[str]] | None = None,
    groups: pd.Series | None = None,
) -> tuple[pd.Series, int]:
    """Connected components that refuse a union contradicting hard facts.

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
    index = {value: i for i, value in enumerate(ids)}
    parent = np.arange(len(ids))
    trusted = trusted_names if trusted_names is not None else pd.Series(True, index=records.index)
    missing = pd.Series([None] * len(records), index=records.index)
    firsts = records["first_name"] if "first_name" in records.columns else missing
    lasts = records["last_name"] if "last_name" in records.columns else missing
    dobs = records["dob"] if "dob" in records.columns else missing
    names: dict[int, set] = {}
    dates: dict[int, set] = {}
    for record_id, first, last, dob, own in zip(
        records["record_id"], firsts, lasts, dobs, trusted.to_numpy(), strict=True
    ):
        i = index[record_id]
        own_name = isinstance(first, str) and own
        names[i] = {(first, last if isinstance(last, str) else None)} if own_name else set()
        dates[i] = {dob} if dob is not None and not pd.isna(dob) else set()

    members: dict[int, set] = {}
    forbidden: dict[int, set] = {}
    for record_id, others in (cannot_link or {}).items():
        if record_id in index:
            i = index[record_id]
            forbidden[i] = {index[o] for o in others if o in index}
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
    for record_id, label in (
        zip(groups.index, groups.to_numpy(), strict=True) if groups is not None else ()
    ):
        i = index[record_id]
        a, b = find(first_of_group.setdefault(label, i)), find(i)
        if a != b:
            join(a, b)
    ordered = edges.sort_values(["strength", "unique_id_l", "unique_id_r"],
                                ascending=[False, True, True], kind="stable")  # fmt: skip
    refused = 0
    for left, right in zip(ordered["unique_id_l"], ordered["unique_id_r"], strict=True):
        a, b = find(index[left]), find(index[right])
        if a == b:
            continue
        if contradicts(a, b):
            refused += 1
            continue
        join(a, b)
    roots = np.array([find(i) for i in range(len(ids))])
    return pd.Series(ids[roots], index=ids), refused
