"""`cdp train` on the warehouse, the registry aliases, and the promotion gate."""

from __future__ import annotations

import json

import mlflow.pyfunc
import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.cli import app
from tests.conftest import copy_home
from training.config import ModelsConfig
from training.tracking import PromotionRefusedError, list_models, promote
from training.train import rebacktest, train_warehouse

pytestmark = pytest.mark.slow

GOOD = {
    "ranker": {"snapshots": 2, "lightgbm": {"max_trees": 60}},
    "propensity": {"horizon_days": 60, "snapshots": 3, "every_days": 20,
                   "lightgbm": {"max_trees": 200}},
}  # fmt: skip
# Only trending products, one tiny tree: a challenger that must lose.
BAD = {
    **GOOD,
    "ranker": {"snapshots": 2, "candidates": {"generators": ["trending"]},
               "lightgbm": {"max_trees": 1, "num_leaves": 2}},
}  # fmt: skip


def test_train_registers_challengers_and_promotion_refuses_a_worse_one(resolved_world, tmp_path):
    settings = copy_home(resolved_world, tmp_path)
    first = train_warehouse(settings, ModelsConfig(**GOOD))
    assert first["versions"] == {"nbo_ranker": "1", "propensity": "1"}
    figures = first["metrics"]
    for baseline in ("frequency_baseline", "popularity_baseline"):
        assert figures["ranker.model.map_at_12"] > figures[f"ranker.{baseline}.map_at_12"]
    assert 0 < figures["propensity.any.model.brier"] < 0.25
    assert figures["propensity.any.model.ece"] < 0.06  # calibrated
    for name in ("nbo_ranker", "propensity"):
        assert promote(settings, name)["champion"] == 1

    second = train_warehouse(settings, ModelsConfig(**BAD))
    assert second["backtest_key"] == first["backtest_key"]  # same data, same split
    with pytest.raises(PromotionRefusedError, match="does not beat champion v1"):
        promote(settings, "nbo_ranker")
    rows = {(r["model"], r["version"]): r["aliases"] for r in list_models(settings)}
    assert rows[("nbo_ranker", 1)] == ["champion"]
    assert rows[("nbo_ranker", 2)] == ["challenger"]

    # trained on another split: both configs are backtested again on the challenger's split,
    # where the same hyperparameters tie, and a tie does not promote
    earlier = str((pd.Timestamp(first["cutoff"]) - pd.Timedelta(days=10)).date())
    third = train_warehouse(settings, ModelsConfig(**GOOD, cutoff=earlier))
    assert third["backtest_key"] != first["backtest_key"]
    with pytest.raises(PromotionRefusedError, match=r"v3 .* does not beat champion v1"):
        promote(settings, "nbo_ranker", rebacktest(settings))

    # the champion loads as one pyfunc artifact and recommends with reasons
    mlflow.set_tracking_uri(settings.mlflow_uri)
    model = mlflow.pyfunc.load_model("models:/nbo_ranker@champion")
    profiles = pd.DataFrame({"profile_id": ["unknown-profile"]})
    recs = model.predict(profiles, params={"k": 5})
    assert list(recs["rank"]) == [1, 2, 3, 4, 5]
    assert recs["reasons"].str.contains("best-sellers").all()

    result = CliRunner().invoke(app, ["--home", str(settings.home), "models", "--json"])
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in json.loads(result.output)} == {"nbo_ranker", "propensity"}
