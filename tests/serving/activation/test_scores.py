"""Propensity scores in the online store: the champion's predictions on the features of the
moment, re-scored in part after events, never two model versions at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.offline import build_features, open_warehouse_source
from features.online.store import OnlineStore
from serving.activation.scores import predict_scores, score_profiles
from serving.activation.tables import read_score_status
from tests.serving.conftest import AT

pytestmark = pytest.mark.slow


def _scores(settings) -> pd.DataFrame:
    with OnlineStore(settings) as store:
        return pd.read_sql_query(
            "SELECT * FROM propensity_scores ORDER BY target, profile_id", store.con
        )


def test_scores_are_the_champions_predictions_on_the_offline_features(
    activation_home, champion
) -> None:
    model, version = champion
    stored = _scores(activation_home).pivot(index="profile_id", columns="target", values="score")
    with open_warehouse_source(activation_home) as source:
        offline = build_features(source, AT)
    offline = offline.rename(columns={source.catalogue.entity_key: "entity_id"})
    expected = predict_scores(model, offline).set_index(offline["entity_id"])
    assert sorted(stored.columns) == sorted(model.targets_)
    assert sorted(stored.index) == sorted(expected.index)  # every profile with history
    stored = stored.loc[expected.index, expected.columns]
    np.testing.assert_allclose(stored.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    with OnlineStore(activation_home) as store:
        status = read_score_status(store)
    assert status["model_versions"] == [version]
    assert status["scored_at"] == [pd.Timestamp(AT).to_pydatetime()] * 2


def test_rescoring_some_profiles_changes_only_theirs(home, champion) -> None:
    model, version = champion
    before = _scores(home)
    some = sorted(before["profile_id"].unique())[:3]
    later = pd.Timestamp(AT) + pd.Timedelta(days=30)
    report = score_profiles(home, model=model, model_version=version,
                            profile_ids=[*some, "prf_unknown"], at=later)  # fmt: skip
    assert report.profiles == 3 and not report.all_profiles
    after = _scores(home)
    moved = after[after["scored_at"] != before["scored_at"].iloc[0]]
    assert sorted(moved["profile_id"].unique()) == some
    assert len(after) == len(before)
    untouched = ~after["profile_id"].isin(some)
    pd.testing.assert_frame_equal(
        after[untouched].reset_index(drop=True),
        before[~before["profile_id"].isin(some)].reset_index(drop=True),
    )
    # A month later the windows have moved on: the scores of those three changed with them.
    changed = after[~untouched].set_index(["target", "profile_id"])["score"]
    was = before[before["profile_id"].isin(some)].set_index(["target", "profile_id"])["score"]
    assert (changed != was.loc[changed.index]).any()


def test_another_model_version_rescores_everyone(home, champion) -> None:
    model, _ = champion
    before = _scores(home)
    report = score_profiles(home, model=model, model_version="999", profile_ids=["x"], at=AT)
    assert report.all_profiles
    after = _scores(home)
    assert set(after["model_version"]) == {"999"} and len(after) == len(before)
