"""Bring your own records: link and deduplicate any person tables, no warehouse needed.

`link_tables` is what `cdp link` runs: prepare each table with the role map, cluster them
together (features.identity.pipeline), and return one row per input record with its cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.errors import ContractError, EmptyInputError
from features.identity.buyers import names_from_emails
from features.identity.pipeline import cluster_tables
from features.identity.records import match_columns, prepare_records

log = logging.getLogger("cdp.identity")


@dataclass
class LinkResult:
    """Clusters of a link run and what the model chose on the way."""

    clusters: pd.DataFrame  # source, record_id, cluster_id
    threshold: float
    blocking_rules: list[str]
    settings: dict = field(repr=False)
    training: dict = field(default_factory=dict)  # IdentityModel.training_summary_

    @property
    def summary(self) -> dict[str, object]:
        """Counts and choices, for printing (no record values)."""
        sizes = self.clusters.groupby("cluster_id").size()
        return {
            "records": len(self.clusters),
            "clusters": int(sizes.size),
            "multi_record_clusters": int((sizes > 1).sum()),
            "largest_cluster": int(sizes.max()),
            "threshold_match_probability": self.threshold,
            "blocking_rules": self.blocking_rules,
            "training": self.training,
        }


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (as text) or Parquet file; clear errors for missing or empty files."""
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise EmptyInputError(f"{path}: file is empty") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(f"{path}: not UTF-8 text") from exc
    return frame


def link_tables(
    tables: dict[str, pd.DataFrame],
    roles: dict[str, str],
    *,
    extras: tuple[str, ...] = (),
    seed: int = 42,
    phone_region: str = "US",
    threshold: float | None = None,
) -> LinkResult:
    """Link and deduplicate `tables` (source name -> raw table) and cluster their records."""
    prepared = {
        name: prepare_records(
            frame, roles, extras=extras, phone_region=phone_region, source_name=name
        )
        for name, frame in tables.items()
    }
    names_from_emails(prepared)  # a record with only an email: the name its user part spells
    columns = set().union(*(match_columns(p, extras) for p in prepared.values()))
    # Tables brought to `cdp link` are one-off jobs whose errors nobody has profiled: blocking
    # on one attribute alone too (within the budget) finds the duplicates mistyped everywhere
    # else (FEBRL3 without its extra columns: F1 0.991 -> 0.999).
    clustering = cluster_tables(
        prepared, columns, extras=extras, seed=seed, threshold=threshold,
        single_attribute_rules=True,
    )  # fmt: skip
    out = clustering.assignments[["source", "record_id", "cluster_id"]]
    out = out.sort_values(["source", "record_id"], kind="stable").reset_index(drop=True)
    return LinkResult(
        out, clustering.threshold, clustering.blocking_rules, clustering.settings,
        clustering.training,
    )  # fmt: skip
