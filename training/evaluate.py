"""Fit both models before a cutoff and score them, beside the baselines, on the horizon after it.

The models only ever receive `data.before(cutoff)` and features built at or before the cutoff;
the horizon's purchases (`truth`) are read here alone, after fitting, to score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.definitions import category_slugs
from features.event_log import to_us
from features.offline import FeatureSource, build_features
from training.baselines import (
    RecencyHeuristic,
    RfmLogistic,
    frequency_baseline,
    popularity_baseline,
)
from training.candidates import DAY_US
from training.config import ModelsConfig
from training.interactions import Interactions
from training.metrics import classification_metrics, ranking_metrics
from training.propensity import ANY, Propensity
from training.ranker import NextBestProduct
from training.snapshots import build_training_set


@dataclass
class Evaluation:
    """Fitted models, their outputs at the cutoff, and the figures (when a horizon exists)."""

    ranker: NextBestProduct
    propensity: Propensity
    recommendations: pd.DataFrame  # entity_id, rank, product_id, score, reasons
    scores: pd.DataFrame  # entity_id, target, score
    metrics: dict[str, object] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)


def user_features(source: FeatureSource):
    """as_of -> the model-input features of every entity, indexed by entity."""
    key, inputs = source.catalogue.entity_key, source.catalogue.model_inputs

    def at(as_of: object) -> pd.DataFrame:
        return build_features(source, as_of).set_index(key)[inputs]

    return at


def fit_models(
    source: FeatureSource, data: Interactions, cutoff: object, config: ModelsConfig, seed: int
) -> tuple[NextBestProduct, Propensity, dict[str, float]]:
    """Both models fitted on what was known before `cutoff`; seconds per model."""
    data = data.before(to_us(cutoff))
    started = time.perf_counter()
    ranker = config.build_ranker(seed).fit(data, cutoff, user_features(source))
    ranker_seconds = time.perf_counter() - started
    started = time.perf_counter()
    p = config.propensity
    training = build_training_set(source, cutoff, horizon_days=p.horizon_days,
                                  snapshots=p.snapshots, every_days=p.every_days)  # fmt: skip
    propensity = config.build_propensity(seed).fit(training, source.catalogue.model_inputs)
    propensity.training_rows_ = training.rows
    seconds = {"ranker": ranker_seconds, "propensity": time.perf_counter() - started}
    return ranker, propensity, seconds


def evaluate(
    source: FeatureSource,
    data: Interactions,
    cutoff: object,
    config: ModelsConfig,
    seed: int,
    truth: pd.DataFrame | None,
) -> Evaluation:
    """Fit before `cutoff`, predict at it, and score against `truth` (purchase lines of the
    horizon: entity_id, product_id, category, quantity, t) when given."""
    cutoff_us = to_us(cutoff)
    data = data.before(cutoff_us)
    ranker, propensity, seconds = fit_models(source, data, cutoff, config, seed)
    key = source.catalogue.entity_key
    at_cutoff = build_features(source, cutoff)
    entities = at_cutoff[key].tolist()
    started = time.perf_counter()
    recommendations = ranker.recommend(entities)
    predicted = propensity.predict(at_cutoff.set_index(key))
    seconds["predict"] = time.perf_counter() - started
    scores = predicted.reset_index(names="entity_id").melt(
        id_vars="entity_id", var_name="target", value_name="score")  # fmt: skip
    scores = scores.sort_values(["entity_id", "target"], ignore_index=True)
    result = Evaluation(ranker, propensity, recommendations, scores,
                        features=list(propensity.feature_names_))  # fmt: skip
    result.metrics = {
        "cutoff": str(pd.Timestamp(cutoff)), "customers": len(entities),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "ranker": {"trees": ranker.trees_, **ranker.training_summary_},
        "propensity": {"trees": propensity.trees_, **propensity.training_summary_},
    }  # fmt: skip
    if truth is not None:
        _score(result, data, cutoff_us, config, at_cutoff.set_index(key), truth)
    return result


def _score(result, data, cutoff_us, config, at_cutoff, truth) -> None:
    k = config.k
    bought = truth[(truth["quantity"] > 0) & (truth["t"] >= cutoff_us)]
    known = set(at_cutoff.index)
    in_ranker = bought[bought["t"] < cutoff_us + config.ranker.horizon_days * DAY_US]
    in_ranker = in_ranker[in_ranker["entity_id"].isin(known)]
    seen = set(data.bought["product_id"])
    base = frequency_baseline(data, cutoff_us, k, config.ranker.candidates.popular_days,
                              sorted(known))  # fmt: skip
    popular = popularity_baseline(data, cutoff_us, sorted(known), k,
                                  config.ranker.candidates.popular_days)  # fmt: skip
    model = ranking_metrics(result.recommendations, in_ranker, "entity_id", k)
    frequency = ranking_metrics(base, in_ranker, "entity_id", k)
    result.metrics["recommendations"] = {
        "horizon_days": config.ranker.horizon_days, "model": model,
        "frequency_baseline": frequency,
        "popularity_baseline": ranking_metrics(popular, in_ranker, "entity_id", k),
        f"map@{k}_ratio": _ratio(model[f"map@{k}"], frequency[f"map@{k}"]),
        "ndcg@10_ratio": _ratio(model["ndcg@10"], frequency["ndcg@10"]),
        "truth_products_never_seen_before": int((~in_ranker["product_id"].isin(seen)).sum()),
    }  # fmt: skip
    horizon = bought[bought["t"] < cutoff_us + config.propensity.horizon_days * DAY_US]
    rows = result.propensity.training_rows_
    slugs = category_slugs([c for c in horizon["category"].dropna().unique()])
    figures, curves = {}, {}
    for target in result.propensity.targets_:
        if target == ANY:
            buyers = set(horizon["entity_id"])
        else:
            wanted = {c for c, s in slugs.items() if f"purchase_{s}" == target}
            buyers = set(horizon.loc[horizon["category"].isin(wanted), "entity_id"])
        labels = at_cutoff.index.isin(buyers).astype(int)
        train_labels = rows[result.propensity.targets_[target]].to_numpy()
        model_scores = result.scores[result.scores["target"] == target].set_index("entity_id")
        scored = {"model": model_scores["score"].reindex(at_cutoff.index).to_numpy(),
                  "rfm_logistic": RfmLogistic(config.seed or 0).fit(rows, train_labels)
                  .predict_proba(at_cutoff),
                  "recency_heuristic": RecencyHeuristic().fit(rows, train_labels)
                  .predict_proba(at_cutoff)}  # fmt: skip
        figures[target] = {name: classification_metrics(labels, s) for name, s in scored.items()}
        curves[target] = (labels, scored)
    result.metrics["propensity_scores"] = {"horizon_days": config.propensity.horizon_days,
                                           **figures}  # fmt: skip
    result.curves = curves


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b and not np.isnan(b) else float("nan")
