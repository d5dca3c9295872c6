"""Baselines, computed in the same run, on the same split, with the same metrics as the models.

Recommendations:
- `frequency_baseline`: each customer's most frequently bought products before the cutoff
  (number of orders containing the product), ties by the most recent purchase, then filled with
  the best-sellers (orders in the last `popular_days` before the cutoff);
- `popularity_baseline`: the best-sellers only.

Propensity:
- `RfmLogistic`: logistic regression on recency, frequency and monetary value (log-scaled,
  standardised), fitted on the same training rows as the model;
- `RecencyHeuristic`: the share of buyers among training rows of the same recency decile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.candidates import DAY_US
from training.interactions import Interactions

RFM_COLUMNS = ("rfm__days_since_last_order__all", "rfm__orders__all", "rfm__spend__all")


def best_sellers(data: Interactions, cutoff_us: int, days: int) -> list[str]:
    """Products by distinct orders in the last `days` before the cutoff, then all-time orders."""
    bought = data.before(cutoff_us).bought
    recent = bought[bought["t"] >= cutoff_us - days * DAY_US].groupby("product_id")["order_id"]
    frame = pd.DataFrame({"recent": recent.nunique(),
                          "all": bought.groupby("product_id")["order_id"].nunique()})  # fmt: skip
    frame = frame.fillna(0).reset_index().sort_values(["recent", "all", "product_id"],
                                                      ascending=[False, False, True])  # fmt: skip
    return frame["product_id"].tolist()


def frequency_baseline(
    data: Interactions,
    cutoff_us: int,
    k: int = 12,
    popular_days: int = 14,
    entities: list[str] | None = None,
) -> pd.DataFrame:
    """entity_id, rank, product_id, score of the personal-frequency-plus-popularity baseline,
    for every customer who bought before the cutoff and every one of `entities` (a customer
    whose history holds only returns gets the best-sellers)."""
    bought = data.before(cutoff_us).bought
    pairs = bought.groupby(["entity_id", "product_id"]).agg(
        orders=("order_id", "nunique"), last_t=("t", "max")).reset_index()  # fmt: skip
    pairs = pairs.sort_values(["entity_id", "orders", "last_t", "product_id"],
                              ascending=[True, False, False, True])  # fmt: skip
    pairs = pairs.groupby("entity_id").head(k)
    popular = best_sellers(data, cutoff_us, popular_days)[: 2 * k]
    own = pairs.groupby("entity_id")["product_id"].agg(list)
    rows = []
    for entity in sorted(set(own.index) | set(entities or ())):
        chosen = list(own.get(entity, []))
        for product in popular:
            if len(chosen) >= k:
                break
            if product not in chosen:
                chosen.append(product)
        rows += [(entity, rank + 1, p, float(k - rank)) for rank, p in enumerate(chosen)]
    return pd.DataFrame(rows, columns=["entity_id", "rank", "product_id", "score"])


def popularity_baseline(
    data: Interactions, cutoff_us: int, entities: list[str], k: int = 12, popular_days: int = 14
) -> pd.DataFrame:
    """The same best-sellers for every customer."""
    popular = best_sellers(data, cutoff_us, popular_days)[:k]
    return pd.DataFrame(
        [(e, r + 1, p, float(k - r)) for e in entities for r, p in enumerate(popular)],
        columns=["entity_id", "rank", "product_id", "score"],
    )


class RfmLogistic:
    """Logistic regression on log recency, log frequency and log monetary value."""

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed

    @staticmethod
    def _x(frame: pd.DataFrame) -> np.ndarray:
        recency = frame[RFM_COLUMNS[0]].astype(float)
        recency = recency.fillna(recency.max() if recency.notna().any() else 365.0)
        values = [recency, frame[RFM_COLUMNS[1]].astype(float), frame[RFM_COLUMNS[2]].clip(0)]
        return np.log1p(np.column_stack([v.fillna(0).to_numpy() for v in values]))

    def fit(self, frame: pd.DataFrame, labels: np.ndarray) -> RfmLogistic:
        """Fit on rows holding the RFM feature columns."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(random_state=self.seed))
        self.model_.fit(self._x(frame), labels)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class."""
        return self.model_.predict_proba(self._x(frame))[:, 1]


class RecencyHeuristic:
    """Score = the observed buying rate of training rows in the same recency decile."""

    def fit(self, frame: pd.DataFrame, labels: np.ndarray) -> RecencyHeuristic:
        """Learn the deciles and their rates."""
        recency = frame[RFM_COLUMNS[0]].astype(float).fillna(1e9).to_numpy()
        self.edges_ = np.unique(np.quantile(recency, np.linspace(0, 1, 11)[1:-1]))
        bins = np.searchsorted(self.edges_, recency, side="right")
        rates = pd.Series(labels).groupby(bins).mean()
        self.rates_ = rates.reindex(range(len(self.edges_) + 1)).ffill().bfill().to_numpy()
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The rate of the row's recency decile."""
        recency = frame[RFM_COLUMNS[0]].astype(float).fillna(1e9).to_numpy()
        return self.rates_[np.searchsorted(self.edges_, recency, side="right")]
