"""Model configs: defaults, strict keys, errors that name the file and the key."""

from __future__ import annotations

import pytest

from features.errors import ConfigError
from training.config import ModelsConfig, load_config


def test_no_file_means_the_defaults(tmp_path) -> None:
    assert load_config(None) == ModelsConfig()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == ModelsConfig()


def test_values_reach_the_models(tmp_path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("seed: 7\nk: 5\nranker:\n  candidates: {generators: [repurchase, popular]}\n"
                    "  lightgbm: {num_leaves: 15}\npropensity: {horizon_days: 60}\n")  # fmt: skip
    config = load_config(path)
    ranker = config.build_ranker(seed=1)
    assert (ranker.k, ranker.seed, ranker.params.num_leaves) == (5, 7, 15)
    assert ranker.candidates.generators == ("repurchase", "popular")
    assert config.build_propensity(seed=1).horizon_days == 60
    both = config.with_horizon(14, k=3)
    assert (both.ranker.horizon_days, both.propensity.horizon_days, both.k) == (14, 14, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ranker:\n  lightgbm:\n    num_leafs: 3\n", "ranker.lightgbm.num_leafs: unknown key"),
        ("propensity:\n  snapshots: 1\n", "propensity.snapshots"),
        ("propensity:\n  calibration_folds: 1\n", "calibration_folds must be 0"),
        ("ranker:\n  candidates: {generators: [magic]}\n", "ranker.candidates"),
        ("k: many\n", "k:"),
        ("- a list\n", "top level must be a mapping"),
        ("ranker: [\n", "not valid YAML"),
    ],
)
def test_bad_configs_name_the_file_and_the_key(tmp_path, text, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in error.value.message and message in error.value.message


def test_a_missing_config_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
