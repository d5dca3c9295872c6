"""`cdp backtest`, `cdp train`, `cdp promote`, `cdp models` from the outside: help, outputs,
exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.serving.test_cli import cdp
from tests.training.conftest import CUTOFF, MAPPING

COMMANDS = ["backtest", "train", "promote", "models"]


def said(result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_model_commands_explain_themselves(command: str) -> None:
    assert command in cdp("--help").stdout
    result = cdp(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.slow
def test_backtest_writes_its_outputs(transactions_file, small_config, tmp_path) -> None:
    out = tmp_path / "out"
    result = cdp("backtest", "--transactions", str(transactions_file), "--map", MAPPING,
                 "--cutoff", CUTOFF, "--horizon-days", "30", "--k", "5", "--out", str(out),
                 "--config", str(small_config), home=tmp_path / "home")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["input"]["duplicate_rows_dropped"] == 40
    recs = pd.read_parquet(out / "recommendations.parquet")
    assert recs["rank"].max() == 5
    assert (out / "metrics.json").exists() and (out / "propensity.parquet").exists()
    assert (tmp_path / "home" / "mlflow.db").exists()  # the run is tracked


def test_bad_input_exits_with_the_error_code(transactions_file, tmp_path) -> None:
    common = ["--cutoff", CUTOFF, "--out", str(tmp_path / "o"), "--no-track"]
    bad_map = cdp("backtest", "--transactions", str(transactions_file), "--map", "customer=x",
                  *common, home=tmp_path / "h")  # fmt: skip
    assert bad_map.returncode == 2 and "unknown role" in said(bad_map)
    missing = cdp("backtest", "--transactions", str(tmp_path / "nope.csv"), "--map", MAPPING,
                  *common, home=tmp_path / "h")  # fmt: skip
    assert missing.returncode == 3 and "no such file" in said(missing)
    config = tmp_path / "bad.yaml"
    config.write_text("ranker:\n  colour: red\n")
    bad_config = cdp("train", "--config", str(config), home=tmp_path / "h")
    assert bad_config.returncode == 2 and "ranker.colour: unknown key" in said(bad_config)


def test_promote_without_a_challenger_is_not_found(tmp_path) -> None:
    result = cdp("promote", "nbo_ranker", home=tmp_path / "h")
    assert result.returncode == 4 and "no challenger" in said(result)
    listed = cdp("models", "--json", home=tmp_path / "h")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
