"""Customer × product features of the ranker: generator scores and ranks, the customer's own
history with the product, the product's popularity and trend, and the customer's features
from features/ (RFM, categories, price band, tenure, behaviour)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.candidates import DAY_US, GENERATORS, History

ITEM_COLUMNS = ("orders_7d", "orders_14d", "orders_30d", "orders_90d", "orders_all",
                "buyers_30d", "buyers_all", "rebuy_rate", "age_days", "price", "trend")  # fmt: skip
USER_COLUMNS = ("user_orders", "user_items", "user_days_since_order", "user_lines_per_order")

# Which reason family a feature speaks for (user-level features explain no product choice).
FAMILIES = {
    "repurchase": ("repurchase_", "pair_"),
    "copurchase": ("copurchase_",),
    "item_knn": ("item_knn_",),
    "category": ("category_", "pair_category_share"),
    "interest": ("interest_", "days_since_interest"),
    "trending": ("trending_", "item_trend", "item_orders_7d"),
    "popular": ("popular_", "item_orders_", "item_buyers_", "item_rebuy", "item_age", "sources"),
}


def family_of(feature: str) -> str | None:
    """The reason family of a pair feature (None for customer-level features)."""
    for family, prefixes in FAMILIES.items():
        if any(feature.startswith(p) for p in prefixes):
            return family
    return None


def pair_features(
    history: History, pool: pd.DataFrame, user_features: pd.DataFrame | None
) -> pd.DataFrame:
    """The pool with every feature of each (u, i) pair; `user_features` is indexed by entity."""
    as_of = history.as_of_us
    frame = pool.merge(history.pairs, on=["u", "i"], how="left")
    frame["pair_orders"] = frame.pop("orders").fillna(0)
    frame["pair_units"] = frame.pop("units").fillna(0)
    frame["pair_returned"] = frame.pop("returned").fillna(0)
    frame["pair_decayed"] = frame.pop("decayed").fillna(0)
    first, last = frame.pop("first_t"), frame.pop("last_t")
    frame["pair_days_since_last"] = (as_of - last) / DAY_US
    frame["pair_days_since_first"] = (as_of - first) / DAY_US
    gap = (last - first) / DAY_US / (frame["pair_orders"] - 1).where(frame["pair_orders"] > 1)
    frame["pair_gap_days"] = gap
    frame["pair_due"] = frame["pair_days_since_last"] / gap.clip(lower=1)
    users = history.user_stats.reindex(frame["u"].to_numpy())
    for column in USER_COLUMNS:
        frame[column] = users[column].to_numpy()
    frame["pair_order_share"] = frame["pair_orders"] / frame["user_orders"].clip(lower=1)
    items = history.item_stats
    for column in ITEM_COLUMNS:
        frame[f"item_{column}"] = items[column].to_numpy()[frame["i"].to_numpy()]
    frame["pair_category_share"] = _category_share(history, frame)
    if user_features is not None and len(user_features.columns):
        values = user_features.reindex(history.users[frame["u"].to_numpy()])
        values.index = frame.index
        frame = pd.concat([frame, values], axis=1)
        if "price__avg_unit_price__365d" in values:
            frame["pair_price_ratio"] = frame["item_price"] / values["price__avg_unit_price__365d"]
    # Single precision halves the pairs' memory; LightGBM bins in single precision anyway.
    inputs = [c for c in feature_columns(frame) if frame[c].dtype.kind in "fiub"]
    return frame.astype(dict.fromkeys(inputs, "float32"))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs of a pair frame: everything but the codes, label and ids."""
    return [c for c in frame.columns if c not in ("u", "i", "label", "group", "entity_id")]


def rank_columns() -> list[str]:
    """The generator rank columns (missing when the generator did not propose the pair)."""
    return [f"{g}_rank" for g in GENERATORS]


def _category_share(history: History, frame: pd.DataFrame) -> np.ndarray:
    if history.user_categories.empty:
        return np.zeros(len(frame))
    lookup = history.user_categories.set_index(["u", "category"])["share"]
    categories = history.item_categories.to_numpy()[frame["i"].to_numpy()]
    index = pd.MultiIndex.from_arrays([frame["u"].to_numpy(), categories])
    return lookup.reindex(index).fillna(0).to_numpy()
