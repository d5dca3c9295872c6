"""Unified profiles: stable ids, golden records by survivorship, and the identity index.

Stable ids (rules, applied to a new clustering given the previous run's record -> profile map):
- a cluster whose known records all had profile P keeps P; new records joining P keep P;
- a cluster joining records of several previous profiles keeps the oldest (first issued, then
  smallest id); the others are recorded as merged into it;
- a previous profile whose records now sit in several clusters is split: none of its parts
  keeps its id, each gets a new one, recorded as split from it;
- a cluster of only new records gets a new id.
New ids are a hash of the cluster's smallest record key, so a first run on the same data always
issues the same ids; an id once issued is never reused for another profile.

Golden record (per attribute): names and phone from the most trusted source (shop, CRM,
subscriber, guest order), most recent first; email the most frequent, most recent on ties; date
of birth the most frequent; address, postcode and city together from the most recent record
that has an address.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from features.identity.collect import SOURCE_TRUST


def _new_id(seed_key: str, issued: set[str]) -> str:
    attempt = 0
    while True:
        text = seed_key if attempt == 0 else f"{seed_key}#{attempt}"
        candidate = "prf_" + hashlib.sha1(text.encode()).hexdigest()[:16]
        if candidate not in issued:
            issued.add(candidate)
            return candidate
        attempt += 1


def assign_profile_ids(
    clusters: pd.DataFrame, previous: pd.DataFrame | None, issued: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each cluster a profile id by the rules above.

    `clusters`: key, cluster_id. `previous`: key, profile_id of the last run (or None).
    `issued`: every profile id ever issued -> the run it was first issued in (updated in place
    with new ids, issue order = len(issued)). Returns (key -> profile_id, lineage rows).
    """
    frame = clusters[["key", "cluster_id"]].copy()
    if previous is not None and len(previous):
        frame = frame.merge(previous[["key", "profile_id"]], on="key", how="left")
    else:
        frame["profile_id"] = None
    known = frame.dropna(subset=["profile_id"])[["cluster_id", "profile_id"]].drop_duplicates()
    parts = known.groupby("profile_id")["cluster_id"].nunique()
    split = set(parts[parts > 1].index)
    keepable = known[~known["profile_id"].isin(split)].copy()
    keepable["order"] = keepable["profile_id"].map(issued).fillna(0)
    keepable = keepable.sort_values(["cluster_id", "order", "profile_id"], kind="stable")
    keepers = keepable.drop_duplicates("cluster_id").set_index("cluster_id")["profile_id"]
    merged = keepable[~keepable["profile_id"].isin(set(keepers))]
    lineage = [
        ("merged", other, keepers[cluster_id])
        for cluster_id, other in zip(merged["cluster_id"], merged["profile_id"], strict=True)
    ]
    chosen: dict[str, str] = keepers.to_dict()
    taken = set(issued)
    origins = known[known["profile_id"].isin(split)].sort_values(["cluster_id", "profile_id"])
    origins_by_cluster = origins.groupby("cluster_id")["profile_id"].agg(list).to_dict()
    for cluster_id in sorted(set(frame["cluster_id"]) - set(chosen)):
        new = _new_id(cluster_id, taken)
        chosen[cluster_id] = new
        lineage += [("split", origin, new) for origin in origins_by_cluster.get(cluster_id, [])]
    for profile_id in sorted(set(chosen.values()) - set(issued)):
        issued[profile_id] = len(issued) + 1
    out = pd.DataFrame({"key": frame["key"], "profile_id": frame["cluster_id"].map(chosen)})
    return out, pd.DataFrame(lineage, columns=["kind", "from_profile_id", "to_profile_id"])


def build_golden_records(records: pd.DataFrame) -> pd.DataFrame:
    """One row per profile from display records (key, source, profile_id, attributes, seen_at)."""
    data = records.copy()
    data["trust"] = data["source"].map(SOURCE_TRUST).fillna(9)
    data = data.sort_values(
        ["profile_id", "trust", "seen_at", "key"], ascending=[True, True, False, True]
    )
    grouped = data.groupby("profile_id", sort=True)
    out = grouped.agg(
        record_count=("key", "size"),
        first_seen_at=("seen_at", "min"),
        last_seen_at=("seen_at", "max"),
    )
    out["sources"] = joined_labels(data, "profile_id", "source")
    for column in ("first_name", "last_name", "phone"):
        out[column] = grouped[column].first()  # first non-null in trust, then recency order
    for column in ("email", "date_of_birth"):
        out[column] = _most_frequent(data, column)
    recent = data.dropna(subset=["address_line"]).sort_values(
        ["seen_at", "key"], ascending=[False, True]
    )
    latest = recent.groupby("profile_id").first()[["address_line", "city", "postcode"]]
    out = out.join(latest, how="left")
    return out.reset_index()


def joined_labels(data: pd.DataFrame, by: str | list[str], column: str) -> pd.Series:
    """Per group, the sorted distinct values of a low-cardinality `column`, comma-joined.

    Each value sets one bit; groups take the OR (as a sum of per-value 'any'), and the mask maps
    to its label, so no Python runs per group.
    """
    labels = sorted(data[column].dropna().unique())
    grouped = data.assign(**{f"_is_{i}": data[column] == v for i, v in enumerate(labels)})
    hits = grouped.groupby(by)[[f"_is_{i}" for i in range(len(labels))]].any()
    mask = sum(
        (hits[f"_is_{i}"].astype("int64") * (1 << i) for i in range(len(labels))),
        start=pd.Series(0, index=hits.index, dtype="int64"),  # no rows: an empty Series, not 0
    )
    names = {
        code: ",".join(label for i, label in enumerate(labels) if code >> i & 1)
        for code in range(1 << len(labels))
    }
    return mask.map(names)


def _most_frequent(data: pd.DataFrame, column: str) -> pd.Series:
    present = data.dropna(subset=[column])
    counts = present.groupby(["profile_id", column]).agg(n=("key", "size"), last=("seen_at", "max"))
    counts = counts.reset_index().sort_values(
        ["profile_id", "n", "last"], ascending=[True, False, False]
    )
    return counts.groupby("profile_id")[column].first()


IDENTIFIER_COLUMNS = {"email": "email", "phone": "phone"}
SOURCE_ID_TYPES = {
    "shop_customers": "customer_id",
    "crm_contacts": "contact_id",
    "email_subscribers": "subscriber_id",
    "orders": "order_id",
}


def build_identity_index(records: pd.DataFrame) -> pd.DataFrame:
    """(identifier_type, identifier_value, profile_id) for every email, phone and source id."""
    parts = [
        pd.DataFrame(
            {
                "identifier_type": records["source"].map(SOURCE_ID_TYPES),
                "identifier_value": records["record_id"],
                "profile_id": records["profile_id"],
            }
        )
    ]
    for kind, column in IDENTIFIER_COLUMNS.items():
        present = records.dropna(subset=[column])
        parts.append(
            pd.DataFrame(
                {
                    "identifier_type": kind,
                    "identifier_value": present[column],
                    "profile_id": present["profile_id"],
                }
            )
        )
    index = pd.concat(parts, ignore_index=True).drop_duplicates()
    return index.sort_values(["identifier_type", "identifier_value", "profile_id"]).reset_index(
        drop=True
    )
