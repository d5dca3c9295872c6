"""Metrics, defined once and applied alike to the models and the baselines.

Ranking (per customer who bought something in the horizon and had history before the cutoff,
then averaged over those customers; the truth is the set of distinct products they bought):

- AP@K = (1 / min(|truth|, K)) · Σ_{k ≤ K} precision@k · rel(k); MAP@K is its mean (the H&M
  Kaggle metric; a customer with no recommendation counts 0);
- NDCG@K with binary relevance: Σ rel(k) / log2(k + 1) over the ideal ordering's sum;
- recall@K = hits in the top K / |truth|; HR@K = share of customers with at least one hit.

Classification: ROC-AUC, PR-AUC (average precision), lift at the top decile (the positive rate
of the 10% highest scores over the overall rate; rows tied at the boundary count with their
mean label), Brier score, a reliability curve (mean score and observed rate per equal-count
bin) and its expected calibration error (ECE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ranking_metrics(
    recommendations: pd.DataFrame, truth: pd.DataFrame, key: str, k_map: int = 12, k: int = 10
) -> dict[str, float]:
    """MAP@k_map, NDCG@k, recall@k, HR@k (see module docstring).

    `recommendations`: key, rank (1 = first), product_id; `truth`: key, product_id (bought in
    the horizon). Customers in `truth` without recommendations count as all misses.
    """
    truth = truth[[key, "product_id"]].drop_duplicates()
    if truth.empty:
        return {f"map@{k_map}": float("nan"), f"ndcg@{k}": float("nan"),
                f"recall@{k}": float("nan"), f"hr@{k}": float("nan"), "customers": 0}  # fmt: skip
    top = recommendations[recommendations["rank"] <= max(k_map, k)][[key, "rank", "product_id"]]
    hits = top.merge(truth.assign(hit=1), on=[key, "product_id"], how="left")
    hits = hits[hits[key].isin(set(truth[key]))].sort_values([key, "rank"])
    hits["hit"] = hits["hit"].fillna(0)
    sizes = truth.groupby(key).size()
    at_map = hits[hits["rank"] <= k_map].copy()
    at_map["cum"] = at_map.groupby(key)["hit"].cumsum()
    at_map["prec"] = at_map["cum"] / at_map["rank"] * at_map["hit"]
    ap = at_map.groupby(key)["prec"].sum().reindex(sizes.index, fill_value=0) / np.minimum(
        sizes, k_map
    )
    at_k = hits[hits["rank"] <= k]
    dcg = (at_k["hit"] / np.log2(at_k["rank"] + 1)).groupby(at_k[key]).sum()
    ideal = sizes.clip(upper=k).map(lambda n: float(np.sum(1 / np.log2(np.arange(2, n + 2)))))
    found = at_k.groupby(key)["hit"].sum()
    return {
        f"map@{k_map}": float(ap.mean()),
        f"ndcg@{k}": float((dcg.reindex(sizes.index, fill_value=0) / ideal).mean()),
        f"recall@{k}": float((found.reindex(sizes.index, fill_value=0) / sizes).mean()),
        f"hr@{k}": float((found.reindex(sizes.index, fill_value=0) > 0).mean()),
        "customers": len(sizes),
    }


def lift_at(labels: np.ndarray, scores: np.ndarray, share: float = 0.1) -> float:
    """Positive rate of the top `share` of scores over the overall positive rate.

    The top holds n = round(share x rows) rows (at least 1). Rows tied with the n-th highest
    score fill the places left after the higher scores with their mean label (the expected
    figure over every order of the tied rows), so the figure does not depend on the order of the
    rows, and a constant score gives lift 1 exactly.
    """
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    base = labels.mean() if len(labels) else float("nan")
    if not base > 0:
        return float("nan")
    n = max(1, round(len(labels) * share))
    threshold = np.sort(scores)[::-1][n - 1]
    above, tied = scores > threshold, scores == threshold
    hits = labels[above].sum() + (n - above.sum()) * labels[tied].mean()
    return float(hits / n / base)


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, lift@10%, Brier and the positive rate of one score vector."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    both = len(np.unique(labels)) == 2
    return {
        "auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "pr_auc": float(average_precision_score(labels, scores)) if both else float("nan"),
        "lift@10%": lift_at(labels, scores, 0.1),
        "brier": float(brier_score_loss(labels, np.clip(scores, 0, 1))),
        "ece": expected_calibration_error(labels, scores) if len(labels) else float("nan"),
        "positive_rate": float(labels.mean()) if len(labels) else float("nan"),
        "rows": len(labels),
    }


def reliability_curve(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean score and observed positive rate per equal-count bin of the scores."""
    frame = pd.DataFrame({"label": labels, "score": scores}).sort_values("score", kind="stable")
    frame["bin"] = np.arange(len(frame)) * bins // max(1, len(frame))
    return frame.groupby("bin").agg(mean_score=("score", "mean"), observed=("label", "mean"),
                                    rows=("label", "size")).reset_index()  # fmt: skip


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |observed rate - mean score| over the reliability curve's bins."""
    curve = reliability_curve(labels, scores, bins)
    gaps = (curve["observed"] - curve["mean_score"]).abs()
    return float((gaps * curve["rows"]).sum() / curve["rows"].sum())


def lift_curve(labels: np.ndarray, scores: np.ndarray, points: int = 20) -> pd.DataFrame:
    """Cumulative lift at each top share of the scores (5%, 10%, ... 100%)."""
    shares = np.arange(1, points + 1) / points
    return pd.DataFrame({"share": shares, "lift": [lift_at(labels, scores, s) for s in shares]})
