"""One clustering path for every caller: `cdp link` on any tables, `cdp resolve` on the warehouse.

Stages: union the prepared tables (one key space, '<source>:<record_id>'), collapse records
identical in every matching attribute, fit the Splink model, score blocked pairs, choose the
threshold from the model's own probabilities, add exact-email edges where the data does not
contradict them, and take connected components. Cluster ids are the smallest member key, so they
never depend on Splink internals or on row order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from features.identity.clusters import connected_components, consistent_identifier_edges
from features.identity.dedupe import collapse_identical
from features.identity.model import IdentityModel

log = logging.getLogger("cdp.identity")
KEY_SEPARATOR = ":"


@dataclass
class Clustering:
    """Cluster of every input record, and what the model chose on the way."""

    assignments: pd.DataFrame  # key, source, record_id, cluster_id
    threshold: float
    blocking_rules: list[str]
    settings: dict = field(repr=False)
    representatives: int = 0
    edges: dict[str, int] = field(default_factory=dict)


def cluster_tables(
    tables: dict[str, pd.DataFrame],
    columns: set[str],
    *,
    extras: tuple[str, ...] = (),
    seed: int = 42,
    threshold: float | None = None,
) -> Clustering:
    """Cluster prepared records of one or more tables (source name -> prepared records)."""
    frames = []
    for source, frame in tables.items():
        keyed = frame.copy()
        keyed.insert(0, "source", source)
        keyed["record_id"] = source + KEY_SEPARATOR + frame["record_id"].astype(str)
        frames.append(keyed)
    union = pd.concat(frames, ignore_index=True)
    sources = union.pop("source")
    match_cols = [c for c in union.columns if c not in ("record_id", "first_name_aliases")]
    representatives, to_representative = collapse_identical(union, match_cols)

    model = IdentityModel(seed=seed, extras=extras, threshold=threshold)
    model.fit({"records": representatives}, columns)
    predictions = model.predict()
    chosen = model.choose_threshold(predictions)
    scored = model.con_.execute(
        "SELECT unique_id_l, unique_id_r FROM "
        f"{predictions.physical_name} WHERE match_probability >= ?",
        [chosen],
    ).df()
    email_edges = (
        consistent_identifier_edges(representatives, "email")
        if "email" in representatives.columns
        else pd.DataFrame(columns=["unique_id_l", "unique_id_r"])
    )
    components = connected_components(
        representatives["record_id"], pd.concat([scored, email_edges], ignore_index=True)
    )
    keys = union["record_id"]
    assignments = pd.DataFrame(
        {
            "key": keys.to_numpy(),
            "source": sources.to_numpy(),
            "record_id": [k.split(KEY_SEPARATOR, 1)[1] for k in keys],
            "cluster_id": to_representative.loc[keys.to_numpy()].map(components).to_numpy(),
        }
    )
    rules = [" AND ".join(c.columns) for c in model.blocking_choices_ if c.kept]
    log.info(
        "clustered %d records (%d distinct) at threshold %.3f", len(keys), len(representatives),
        chosen,
    )  # fmt: skip
    return Clustering(
        assignments=assignments,
        threshold=chosen,
        blocking_rules=rules,
        settings=model.settings_,
        representatives=len(representatives),
        edges={"scored": len(scored), "email": len(email_edges)},
    )
