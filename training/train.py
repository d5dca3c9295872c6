"""`cdp train`: backtest both models on the warehouse, refit them on everything, register them.

1. Backtest: fit before `cutoff` (default: the day after the last purchase minus the longest
   horizon), score on the horizon after it beside the baselines. These are the figures a
   challenger is promoted on.
2. Refit both models on every purchase up to the day after the last one: the models that are
   logged as pyfunc and registered as `challenger`.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from features.errors import ContractError
from features.event_log import from_us
from features.offline import build_features, open_warehouse_source
from features.settings import Settings
from training.config import ModelsConfig
from training.evaluate import evaluate, fit_models
from training.interactions import load_interactions
from training.tracking import flat_metrics, log_training_run


def backtest_key(fingerprint: str, cutoff: object, config: ModelsConfig) -> str:
    """Runs with equal keys were scored on the same data, split and horizons."""
    text = (f"{fingerprint}|{pd.Timestamp(cutoff)}|{config.k}|{config.ranker.horizon_days}|"
            f"{config.propensity.horizon_days}")  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _moments(source, config: ModelsConfig) -> tuple[object, object]:
    [(last,)] = source.con.execute("SELECT MAX(t) FROM log_purchases").fetchall()
    if last is None:
        raise ContractError("the warehouse has no purchases; run `cdp run` or `cdp ingest` first")
    latest = from_us(last).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    horizon = max(config.ranker.horizon_days, config.propensity.horizon_days)
    cutoff = pd.Timestamp(config.cutoff).to_pydatetime() if config.cutoff else \
        latest - timedelta(days=horizon)  # fmt: skip
    return latest, cutoff


def backtest_warehouse(settings: Settings, config: ModelsConfig):
    """The backtest alone (step 1): (evaluation, backtest key)."""
    seed = settings.seed if config.seed is None else config.seed
    with open_warehouse_source(settings) as source:
        latest, cutoff = _moments(source, config)
        data = load_interactions(source, latest)
        result = evaluate(source, data, cutoff, config, seed, data.purchases)
        fingerprint = data.fingerprint()
    result.metrics["fingerprint"] = fingerprint
    return result, backtest_key(fingerprint, cutoff, config)


def rebacktest(settings: Settings):
    """For `promote`: (config JSON, split config JSON) -> (backtest key, flat metrics) on the
    current warehouse. The split (cutoff, k, horizons) comes from the second config, so two
    models' hyperparameters are compared on one backtest."""

    done: dict[tuple[str, str | None], tuple[str, dict[str, float]]] = {}

    def run(config_json: str, split_json: str | None = None) -> tuple[str, dict[str, float]]:
        if (config_json, split_json) in done:  # `cdp promote` asks for both models at once
            return done[config_json, split_json]
        config = ModelsConfig.model_validate_json(config_json)
        if split_json is not None:
            split = ModelsConfig.model_validate_json(split_json)
            config = config.with_split(split)
        result, key = backtest_warehouse(settings, config)
        done[config_json, split_json] = key, flat_metrics(result.metrics)
        return done[config_json, split_json]

    return run


def train_warehouse(
    settings: Settings, config: ModelsConfig, register: bool = True
) -> dict[str, object]:
    """Backtest, refit on everything, log to MLflow and register challengers."""
    from training.plots import draw_charts

    started = time.perf_counter()
    seed = settings.seed if config.seed is None else config.seed
    result, key = backtest_warehouse(settings, config)
    with open_warehouse_source(settings) as source:
        latest, _ = _moments(source, config)
        data = load_interactions(source, latest)
        ranker, propensity, seconds = fit_models(source, data, latest, config, seed)
        offers_started = time.perf_counter()
        ranker.precompute_offers()
        seconds["offers"] = time.perf_counter() - offers_started
        features = build_features(source, latest)
        entity_key = source.catalogue.entity_key
    example = {
        "nbo_ranker": features[[entity_key]].head(3).reset_index(drop=True),
        "propensity": features[source_inputs(features, propensity)].head(3),
    }  # fmt: skip
    result.metrics["final_fit_seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    importances = {"propensity_any": propensity.importance(),
                   "ranker": ranker_importance(ranker)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cdp-charts-") as tmp:
        charts = draw_charts(Path(tmp), result.curves, importances)
        logged = log_training_run(
            settings, run_name=f"train-{latest:%Y%m%d}", config_json=config.model_dump_json(),
            metrics=result.metrics, fingerprint=result.metrics["fingerprint"], backtest_key=key,
            features=result.features + [f for f in ranker.feature_names_
                                        if f not in result.features],
            charts=charts, ranker=ranker, propensity=propensity, example=example,
            register=register,
        )  # fmt: skip
    return {**logged, "backtest_key": key, "cutoff": result.metrics["cutoff"],
            "trained_until": str(latest), "metrics": flat_metrics(result.metrics),
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def source_inputs(features: pd.DataFrame, propensity) -> list[str]:
    """The feature columns the propensity model reads from features/ (BG/NBD is derived)."""
    return [c for c in propensity.feature_names_ if c in features.columns]


def ranker_importance(ranker) -> pd.Series:
    """Gain importance of each ranker feature, largest first."""
    values = ranker.booster_.feature_importance("gain")
    return pd.Series(values, index=ranker.feature_names_).sort_values(ascending=False)
