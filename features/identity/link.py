"""Bring your own records: link and deduplicate any person tables, no warehouse needed.

`link_tables` is what `cdp link` runs: prepare each table with the role map, fit the model on
them, choose the threshold from the model's own probabilities, cluster, and return one row per
input record with its cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.errors import ContractError, EmptyInputError
from features.identity.model import IdentityModel
from features.identity.records import match_columns, prepare_records

log = logging.getLogger("cdp.identity")


@dataclass
class LinkResult:
    """Clusters of a link run and what the model chose on the way."""

    clusters: pd.DataFrame  # source, record_id, cluster_id
    threshold: float
    blocking_rules: list[str]
    settings: dict = field(repr=False)

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
    columns = set().union(*(match_columns(p, extras) for p in prepared.values()))
    model = IdentityModel(extras=extras, seed=seed, threshold=threshold)
    model.fit(prepared, columns)
    predictions = model.predict()
    chosen = model.choose_threshold(predictions)
    clustered = model.cluster(predictions, chosen).as_pandas_dataframe()
    if "source_dataset" not in clustered.columns:
        clustered["source_dataset"] = next(iter(tables))
    out = pd.DataFrame(
        {
            "source": clustered["source_dataset"].astype(str),
            "record_id": clustered["unique_id"].astype(str),
        }
    )
    # Name each cluster after its smallest member so ids do not depend on Splink internals.
    key = out["source"] + ":" + out["record_id"]
    out["cluster_id"] = key.groupby(clustered["cluster_id"].to_numpy()).transform("min")
    out = out.sort_values(["source", "record_id"], kind="stable").reset_index(drop=True)
    rules = [" AND ".join(c.columns) for c in model.blocking_choices_ if c.kept]
    log.info("link: %d records, threshold %.3f", len(out), chosen)
    return LinkResult(out, chosen, rules, model.settings_)
