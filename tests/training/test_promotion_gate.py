"""The promotion gate on registry entries made directly (no training): the primary metric must
improve and, for propensity, the Brier score must not get worse."""

from __future__ import annotations

import pytest

from training.tracking import PromotionRefusedError, _client, promote


def _register(settings, name: str, metrics: dict[str, float], tmp_path) -> str:
    import mlflow

    client = _client(settings)
    experiment = client.get_experiment_by_name("gate") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("gate")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"backtest_key": "same-split"})
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    source = tmp_path / f"model-{run.info.run_id}"
    source.mkdir()
    version = client.create_model_version(name, str(source), run.info.run_id).version
    client.set_registered_model_alias(name, "challenger", version)
    return version


def test_a_better_ranking_with_worse_probabilities_is_refused(settings, tmp_path):
    auc, brier = "propensity.any.model.auc", "propensity.any.model.brier"
    _register(settings, "propensity", {auc: 0.80, brier: 0.150}, tmp_path)
    assert promote(settings, "propensity")["promoted"]
    _register(settings, "propensity", {auc: 0.81, brier: 0.170}, tmp_path)
    with pytest.raises(PromotionRefusedError, match="probabilities are worse"):
        promote(settings, "propensity")
    _register(settings, "propensity", {auc: 0.81, brier: 0.149}, tmp_path)
    result = promote(settings, "propensity")
    assert result["promoted"] and result["champion_guard"] == 0.150


def test_the_ranker_is_promoted_on_its_primary_metric_alone(settings, tmp_path):
    _register(settings, "nbo_ranker", {"ranker.model.map_at_12": 0.10}, tmp_path)
    promote(settings, "nbo_ranker")
    _register(settings, "nbo_ranker", {"ranker.model.map_at_12": 0.09}, tmp_path)
    with pytest.raises(PromotionRefusedError, match="does not beat"):
        promote(settings, "nbo_ranker")
    _register(settings, "nbo_ranker", {"ranker.model.map_at_12": 0.11}, tmp_path)
    assert promote(settings, "nbo_ranker")["promoted"]
