"""MLflow (sqlite in CDP_HOME): every training run, the registered models and their aliases.

A run logs its parameters (the whole config), the backtest metrics of both models and their
baselines, a fingerprint of the data, the feature list, charts, and the two models as pyfunc
models registered as `nbo_ranker` and `propensity` (alias `challenger`). `promote` moves
`champion` to the challenger only when it beats the champion on the same backtest.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.errors import CdpError, NotFoundError
from features.settings import Settings

log = logging.getLogger("cdp.training")
EXPERIMENT = "models"
MODELS = ("nbo_ranker", "propensity")
# The metric each model is promoted on (higher is better), from the run's backtest.
PRIMARY = {"nbo_ranker": "ranker.model.map_at_12", "propensity": "propensity.any.model.auc"}
# Must not get worse for a challenger to win (lower is better): a propensity model that ranks
# better but whose probabilities are worse is not better for a marketer who reads them as such.
GUARD = {"propensity": "propensity.any.model.brier"}
# The baseline each is shown beside in `cdp models` (same backtest, same metric).
BASELINE = {"nbo_ranker": "ranker.frequency_baseline.map_at_12",
            "propensity": "propensity.any.rfm_logistic.auc"}  # fmt: skip


class PromotionRefusedError(CdpError):
    """The challenger does not beat the champion on the same backtest."""

    exit_code = 1
    http_status = 409


def metric_name(*parts: str) -> str:
    """An MLflow-safe metric name: 'map@12' -> 'map_at_12', 'lift@10%' -> 'lift_at_10pct'."""
    text = ".".join(parts).replace("@", "_at_").replace("%", "pct")
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", text)


def flat_metrics(metrics: dict[str, object]) -> dict[str, float]:
    """The backtest figures of evaluate() as flat MLflow metrics."""
    out: dict[str, float] = {}
    recs = metrics.get("recommendations", {})
    for name in ("model", "frequency_baseline", "popularity_baseline"):
        for key, value in recs.get(name, {}).items():
            out[metric_name("ranker", name, key)] = float(value)
    for key in ("map@12_ratio", "ndcg@10_ratio"):
        if key in recs:
            out[metric_name("ranker", key)] = float(recs[key])
    for target, figures in metrics.get("propensity_scores", {}).items():
        if isinstance(figures, dict):
            for name, values in figures.items():
                for key, value in values.items():
                    out[metric_name("propensity", target, name, key)] = float(value)
    for key, value in metrics.get("seconds", {}).items():
        out[metric_name("seconds", key)] = float(value)
    return {k: v for k, v in out.items() if v == v}  # NaN is not a figure


def _client(settings: Settings):
    import mlflow
    from mlflow import MlflowClient

    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)
    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)


def _experiment_id(settings: Settings, client) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = (settings.home / "mlartifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "implicit", "scikit-learn",
                                           "scipy", "pandas", "numpy")]  # fmt: skip


def _slim(model):
    """A copy without the training rows kept for scoring baselines."""
    slim = copy.copy(model)
    if hasattr(slim, "training_rows_"):
        del slim.training_rows_
    return slim


def log_training_run(
    settings: Settings,
    *,
    run_name: str,
    config_json: str,
    metrics: dict[str, object],
    fingerprint: str,
    backtest_key: str,
    features: list[str],
    charts: dict[str, Path],
    ranker=None,
    propensity=None,
    example: dict[str, pd.DataFrame] | None = None,
    register: bool = True,
) -> dict[str, object]:
    """Log one run; with models, log them as pyfunc and register them as challengers."""
    import mlflow
    from mlflow.models import infer_signature

    from training.pyfunc import PropensityModel, RankerModel

    client = _client(settings)
    experiment_id = _experiment_id(settings, client)
    versions: dict[str, str] = {}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run, \
            tempfile.TemporaryDirectory(prefix="cdp-mlflow-") as tmp:  # fmt: skip
        config = json.loads(config_json)
        mlflow.log_params({"config_json": config_json[:6000], "seed": settings.seed,
                           "cutoff": metrics.get("cutoff"),
                           **{k: str(v)[:500] for k, v in _flatten(config).items()}})  # fmt: skip
        mlflow.log_metrics(flat_metrics(metrics))
        mlflow.set_tags({"data_fingerprint": fingerprint, "backtest_key": backtest_key})
        mlflow.log_dict(metrics, "backtest_metrics.json")
        mlflow.log_text("\n".join(features), "features.txt")
        mlflow.log_text(config_json, "config.json")
        for path in charts.values():
            mlflow.log_artifact(str(path), "charts")
        for name, model, wrapper in (("nbo_ranker", ranker, RankerModel),
                                     ("propensity", propensity, PropensityModel)):  # fmt: skip
            if model is None:
                continue
            path = Path(tmp) / f"{name}.pkl"
            path.write_bytes(pickle.dumps(_slim(model)))
            # Integers with gaps are nullable in pandas; the signature takes them as doubles.
            inputs = example[name] if name == "nbo_ranker" else example[name].astype("float64")
            output = (
                model.recommend(inputs.iloc[:, 0].astype(str).tolist())
                if name == "nbo_ranker"
                else model.predict(inputs).reset_index(drop=True)
            )
            info = mlflow.pyfunc.log_model(
                name=name, python_model=wrapper(), artifacts={"model": str(path)},
                signature=infer_signature(inputs, output, params=(
                    {"k": int(model.k)} if name == "nbo_ranker" else None)),
                input_example=inputs,
                pip_requirements=_requirements(),
                registered_model_name=name if register else None,
            )  # fmt: skip
            if register:
                version = str(info.registered_model_version)
                client.set_registered_model_alias(name, "challenger", version)
                client.set_model_version_tag(name, version, "backtest_key", backtest_key)
                versions[name] = version
        run_id = run.info.run_id
    log.info("training run %s logged (versions %s)", run_id, versions)
    return {"run_id": run_id, "versions": versions, "tracking_uri": settings.mlflow_uri}


def _flatten(config: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _version_by_alias(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def list_models(settings: Settings) -> list[dict[str, object]]:
    """Every registered version of both models with its aliases and backtest figures."""
    client = _client(settings)
    rows = []
    from mlflow.exceptions import MlflowException

    for name in MODELS:
        try:
            aliases = client.get_registered_model(name).aliases
        except MlflowException:
            continue
        for version in client.search_model_versions(f"name = '{name}'"):
            run = client.get_run(version.run_id)
            metrics = run.data.metrics
            rows.append({
                "model": name, "version": int(version.version),
                "aliases": sorted(a for a, v in aliases.items() if str(v) == str(version.version)),
                "run_id": version.run_id,
                "run_name": run.info.run_name,
                "backtest_key": run.data.tags.get("backtest_key"),
                "primary_metric": PRIMARY[name], "primary": metrics.get(PRIMARY[name]),
                "baseline": metrics.get(BASELINE[name]),
                # Set by features.privacy when a person was erased after this version trained.
                "retrain_needed_after_erasure": version.tags.get("retrain_needed_after_erasure"),
                "metrics": {k: v for k, v in sorted(metrics.items())
                            if k.startswith(("ranker.model", "propensity.any.model",
                                             "ranker.frequency", "propensity.any.rfm"))},
            })  # fmt: skip
    return sorted(rows, key=lambda r: (r["model"], r["version"]))


Rebacktest = Callable[..., tuple[str, dict[str, float]]]


def promote(settings: Settings, name: str, rebacktest: Rebacktest | None = None) -> dict:
    """Move `champion` to the challenger if it beats the champion on the same backtest.

    When the two were backtested on different data or cutoffs, both configs are backtested
    again on the current data and on the challenger's split
    (`rebacktest(config_json[, split_config_json]) -> (backtest_key, flat metrics)`).
    Raises PromotionRefusedError when the challenger is not strictly better.
    """
    if name not in MODELS:
        raise NotFoundError(f"no model {name!r}; models: {', '.join(MODELS)}")
    client = _client(settings)
    challenger = _version_by_alias(client, name, "challenger")
    if challenger is None:
        raise NotFoundError(f"{name} has no challenger; run `cdp train` first")
    champion = _version_by_alias(client, name, "champion")
    metric = PRIMARY[name]
    new_run = client.get_run(challenger.run_id)
    if champion is None or champion.version == challenger.version:
        client.set_registered_model_alias(name, "champion", challenger.version)
        client.delete_registered_model_alias(name, "challenger")
        return {"model": name, "promoted": True, "champion": int(challenger.version),
                "reason": "no champion before"}  # fmt: skip
    old_run = client.get_run(champion.run_id)
    new_key, old_key = (r.data.tags.get("backtest_key") for r in (new_run, old_run))
    new_value, old_value = new_run.data.metrics.get(metric), old_run.data.metrics.get(metric)
    again = new_key != old_key
    if again:
        if rebacktest is None:
            raise PromotionRefusedError(f"{name}: champion v{champion.version} and challenger "
                                        f"v{challenger.version} were backtested on different "
                                        "data; nothing to compare")  # fmt: skip
        new_json = new_run.data.params["config_json"]
        new_key, new_figures = rebacktest(new_json)
        old_key, old_figures = rebacktest(old_run.data.params["config_json"], new_json)
        new_value, old_value = new_figures.get(metric), old_figures.get(metric)
    guard = GUARD.get(name)
    if again:
        new_guard, old_guard = new_figures.get(guard), old_figures.get(guard)
    else:
        new_guard, old_guard = (new_run.data.metrics.get(guard), old_run.data.metrics.get(guard))
    result = {"model": name, "metric": metric, "challenger": int(challenger.version),
              "backtested_again": again,
              "challenger_value": new_value, "champion": int(champion.version),
              "champion_value": old_value, "backtest_key": new_key}  # fmt: skip
    if new_value is None or old_value is None or not new_value > old_value:
        raise PromotionRefusedError(
            f"{name}: challenger v{challenger.version} {metric} = {_fmt(new_value)} does not "
            f"beat champion v{champion.version} {_fmt(old_value)} on the same backtest; "
            "champion unchanged")  # fmt: skip
    if guard and new_guard is not None and old_guard is not None and new_guard > old_guard:
        raise PromotionRefusedError(
            f"{name}: challenger v{challenger.version} ranks better ({metric} "
            f"{_fmt(new_value)} > {_fmt(old_value)}) but its probabilities are worse ({guard} "
            f"{_fmt(new_guard)} > {_fmt(old_guard)}); champion unchanged")  # fmt: skip
    if guard:
        result.update(guard=guard, challenger_guard=new_guard, champion_guard=old_guard)
    client.set_registered_model_alias(name, "champion", challenger.version)
    client.delete_registered_model_alias(name, "challenger")
    return {**result, "promoted": True}


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4f}"


def load_champion(settings: Settings, name: str, alias: str = "champion") -> tuple[object, str]:
    """The fitted model behind `name@alias` in the registry, unwrapped from its pyfunc, and
    its version. Raises NotFoundError when the alias is not set."""
    import mlflow.pyfunc

    client = _client(settings)
    version = _version_by_alias(client, name, alias)
    if version is None:
        raise NotFoundError(f"{name} has no {alias}; run `cdp train` and `cdp promote`")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    return loaded.unwrap_python_model().model, str(version.version)
