"""Point-in-time training sets from sliding snapshots.

Each snapshot is a moment `as_of`: features use only what was known before it
(features.offline), labels only what happened in [as_of, as_of + horizon): any purchase, a
purchase per category, and the products bought (for the ranker). Snapshots slide back from a
cutoff so that the last label window ends at the cutoff: nothing at or after the cutoff is
read, which is what makes a training set reproducible as new data arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from features.compile import compile_label_products, compile_labels, parameters
from features.definitions import DAY_US
from features.errors import ConfigError
from features.event_log import from_us, to_us
from features.offline import FeatureSource, build_features

PROFILING = "consent__profiling__all"  # 1 granted, 0 refused, None never asked


@dataclass
class TrainingSet:
    """Rows (entity, as_of, model inputs, labels) and the products bought per row's horizon."""

    rows: pd.DataFrame
    products: pd.DataFrame
    snapshots: list[datetime]
    horizon_days: int

    @property
    def key(self) -> str:
        """The entity key column of `rows` (the first)."""
        return str(self.rows.columns[0])

    @property
    def label_columns(self) -> list[str]:
        """The label columns of `rows`."""
        return [c for c in self.rows.columns if c.startswith("label__")]


def snapshot_times(
    cutoff: object, *, horizon_days: int, snapshots: int, every_days: int
) -> list[datetime]:
    """The as-of moments, oldest first; the newest one's label window ends at `cutoff`."""
    if horizon_days < 1 or snapshots < 1 or every_days < 1:
        raise ConfigError("horizon, snapshots and spacing must all be at least 1")
    last = from_us(to_us(cutoff)) - timedelta(days=horizon_days)
    return [last - timedelta(days=every_days * i) for i in reversed(range(snapshots))]


def build_training_set(
    source: FeatureSource,
    cutoff: object,
    *,
    horizon_days: int = 30,
    snapshots: int = 6,
    every_days: int = 30,
) -> TrainingSet:
    """Stack the snapshots ending at `cutoff` into one training set (see module docstring).

    Every entity with history before a snapshot gets a row for it, except those whose latest
    profiling consent before the snapshot is a refusal (training on a person is profiling;
    docs/privacy.md); a label is 1 when the entity bought (in the category) within the
    horizon, else 0. Consent flags are left out of the rows.
    """
    catalogue = source.catalogue
    key = catalogue.entity_key
    labels_sql, products_sql = compile_labels(catalogue), compile_label_products()
    rows, products = [], []
    times = snapshot_times(cutoff, horizon_days=horizon_days, snapshots=snapshots,
                           every_days=every_days)  # fmt: skip
    for as_of in times:
        as_of_us = to_us(as_of)
        end = {"label_end": as_of_us + horizon_days * DAY_US}
        features = build_features(source, as_of)
        if PROFILING in features.columns:
            features = features[features[PROFILING].ne(0) | features[PROFILING].isna()]
        features = features[[key, *catalogue.model_inputs]]
        labels = source.con.execute(labels_sql, parameters(labels_sql, as_of_us, **end)).df()
        labels = labels.rename(columns={"entity_id": key})
        frame = features.merge(labels, on=key, how="left")
        label_columns = [c for c in labels.columns if c != key]
        frame[label_columns] = frame[label_columns].fillna(0).astype("int64")
        frame.insert(1, "as_of", as_of)
        rows.append(frame)
        bought = source.con.execute(products_sql, parameters(products_sql, as_of_us, **end)).df()
        bought = bought.rename(columns={"entity_id": key})
        bought = bought[bought[key].isin(set(features[key]))]
        bought.insert(1, "as_of", as_of)
        products.append(bought)
    data = pd.concat(rows, ignore_index=True)
    bought = pd.concat(products, ignore_index=True).sort_values([key, "as_of", "product_id"])
    bought["units"] = bought["units"].astype("int64")
    return TrainingSet(data, bought.reset_index(drop=True), times, horizon_days)
