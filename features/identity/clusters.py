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
    names = present.dropna(subset=["first_name"]).groupby(column)["first_name"].unique()
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


def connected_components(ids: pd.Series, edges: pd.DataFrame) -> pd.Series:
    """Cluster id (the smallest member id) for every id, from undirected edges."""
    index = {value: i for i, value in enumerate(np.sort(pd.unique(ids)))}
    parent = np.arange(len(index))

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    for left, right in zip(edges["unique_id_l"], edges["unique_id_r"], strict=True):
        a, b = find(index[left]), find(index[right])
        if a != b:
            parent[max(a, b)] = min(a, b)  # ids are sorted, so the smallest index is the min id
    roots = np.array([find(i) for i in range(len(index))])
    ordered = np.asarray(list(index))
    return pd.Series(ordered[roots], index=ordered)
