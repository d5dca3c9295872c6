"""`cdp backtest`: no leakage, determinism, messy input, outputs and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from features.errors import ConfigError, ContractError
from features.settings import load_settings
from features.transactions import parse_map
from tests.training.conftest import CUTOFF, MAPPING
from training.backtest import BACKTEST_ROLES, run_backtest
from training.config import load_config

pytestmark = pytest.mark.slow


def backtest(tmp_path: Path, transactions: Path, config: Path, name: str, **options):
    settings = load_settings(home=tmp_path / "home", seed=3)
    roles = parse_map(MAPPING + ",name=name", BACKTEST_ROLES)
    out = tmp_path / name
    run_backtest(settings, transactions, roles, CUTOFF, load_config(config).with_horizon(30),
                 out, **options)  # fmt: skip
    return out


def outputs(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return (pd.read_parquet(folder / "recommendations.parquet"),
            pd.read_parquet(folder / "propensity.parquet"),
            json.loads((folder / "metrics.json").read_text()))  # fmt: skip


def test_outputs_do_not_change_when_the_future_is_removed(transactions_file, small_config,
                                                          tmp_path):  # fmt: skip
    full = backtest(tmp_path, transactions_file, small_config, "full")
    past = pd.read_parquet(transactions_file)
    past = past[pd.to_datetime(past["when"]) < pd.Timestamp(CUTOFF)]
    cut_file = tmp_path / "past.parquet"
    past.sample(frac=1, random_state=1).to_parquet(cut_file, index=False)  # order must not matter
    cut = backtest(tmp_path, cut_file, small_config, "cut")
    recs, scores, metrics = outputs(full)
    recs_cut, scores_cut, metrics_cut = outputs(cut)
    assert_frame_equal(recs, recs_cut)
    assert_frame_equal(scores, scores_cut)
    assert "recommendations" in metrics and "recommendations" not in metrics_cut
    assert metrics["fingerprint"] == metrics_cut["fingerprint"]


def test_the_backtest_is_deterministic_and_complete(transactions_file, small_config, tmp_path):
    first = backtest(tmp_path, transactions_file, small_config, "a")
    second = backtest(tmp_path, transactions_file, small_config, "b")
    recs, scores, metrics = outputs(first)
    recs2, scores2, metrics2 = outputs(second)
    assert_frame_equal(recs, recs2)
    assert_frame_equal(scores, scores2)
    for key in ("recommendations", "propensity_scores", "fingerprint"):
        assert metrics[key] == metrics2[key]
    # every customer with history before the cutoff gets k products, ranks 1..k, no repeats
    raw = pd.read_parquet(transactions_file)
    before = raw[(pd.to_datetime(raw["when"]) < pd.Timestamp(CUTOFF)) & raw["cust"].notna()]
    customers = {str(int(c)) for c in before["cust"]}
    assert set(recs["customer_id"]) == customers
    ranks = recs.groupby("customer_id")["rank"].apply(list)
    assert all(r == list(range(1, 13)) for r in ranks)
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    assert list(recs.columns[:4]) == ["customer_id", "rank", "product_id", "score"]
    assert recs["reasons"].str.len().gt(0).all()
    assert set(scores["target"]) == {"any"} and scores["score"].between(0, 1).all()
    figures = metrics["recommendations"]
    assert figures["model"]["map@12"] > figures["popularity_baseline"]["map@12"]
    for name in ("model", "rfm_logistic", "recency_heuristic"):
        assert set(metrics["propensity_scores"]["any"][name]) >= {"auc", "pr_auc", "lift@10%",
                                                                  "brier"}  # fmt: skip


def test_messy_rows_are_dropped_and_reported(transactions_file, small_config, tmp_path):
    _, _, metrics = outputs(backtest(tmp_path, transactions_file, small_config, "m"))
    report = metrics["input"]
    assert report["duplicate_rows_dropped"] == 40
    assert report["rows_left_out_by_reason"]["no customer"] > 0
    assert report["unknown_products"]["return_lines_kept_as_returns"] > 0
    assert report["rows_in"] == (
        report["duplicate_rows_dropped"]
        + report["rows_before_cutoff"]
        + report["rows_in_horizon"]
        + report["rows_after_horizon"]
    )


def test_a_products_file_adds_category_targets_and_counts_unknown_products(
    transactions_file, small_config, tmp_path
):
    catalog = pd.DataFrame(
        {
            "sku": [f"P{p:03d}" for p in range(70)],  # 70..79 unknown
            "family": ["kitchen" if p % 2 else "garden" for p in range(70)],
        }
    )
    products = tmp_path / "products.csv"
    catalog.to_csv(products, index=False)
    out = backtest(tmp_path, transactions_file, small_config, "p", products=products,
                   products_mapping={"product_id": "sku", "category": "family"})  # fmt: skip
    _, scores, metrics = outputs(out)
    assert {"any", "purchase_garden", "purchase_kitchen"} <= set(scores["target"])
    assert metrics["input"]["unknown_products"]["products_missing_from_products_file"] == 10
    assert "purchase_garden" in metrics["propensity_scores"]


def test_bad_input_is_a_clear_error(transactions_file, small_config, tmp_path):
    settings = load_settings(home=tmp_path / "home")
    config = load_config(small_config)
    with pytest.raises(ContractError, match="missing column"):
        run_backtest(settings, transactions_file, {**parse_map(MAPPING, BACKTEST_ROLES),
                     "price": "nope"}, CUTOFF, config, tmp_path / "x")  # fmt: skip
    with pytest.raises(ConfigError, match="unknown role"):
        parse_map(MAPPING + ",colour=x", BACKTEST_ROLES)
    with pytest.raises(ContractError, match="before the cutoff"):
        run_backtest(settings, transactions_file, parse_map(MAPPING, BACKTEST_ROLES),
                     "2023-01-01", config, tmp_path / "y")  # fmt: skip


def test_a_csv_export_of_the_same_rows_gives_the_same_outputs(transactions_file, small_config,
                                                              tmp_path):  # fmt: skip
    csv = tmp_path / "transactions.csv"
    pd.read_parquet(transactions_file).to_csv(csv, index=False)  # ids written as 10001.0
    from_parquet = outputs(backtest(tmp_path, transactions_file, small_config, "pq"))
    from_csv = outputs(backtest(tmp_path, csv, small_config, "csv"))
    assert_frame_equal(from_parquet[0], from_csv[0])
    assert_frame_equal(from_parquet[1], from_csv[1])
    assert from_csv[0]["customer_id"].str.fullmatch(r"\d+").all()
