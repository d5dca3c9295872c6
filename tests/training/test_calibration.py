"""Calibration: customer folds, the Platt/isotonic choice, and where the propensity model's
calibration map is fitted (pooled out-of-fold scores, or the newest snapshot alone)."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from training.bgnbd import ORDERS, RECENCY, TENURE
from training.calibration import Calibrator, choose_calibrator, customer_folds
from training.propensity import Propensity, PropensityParams
from training.snapshots import TrainingSet


def test_customer_folds_keep_a_customer_together_in_any_row_order() -> None:
    ids = [f"c{i % 40}" for i in range(200)]
    folds = customer_folds(ids, 5)
    assert set(folds) <= set(range(5)) and len(set(folds)) == 5
    per_customer = pd.Series(folds).groupby(ids).nunique()
    assert (per_customer == 1).all()
    shuffled = np.random.default_rng(0).permutation(200)
    assert (customer_folds([ids[i] for i in shuffled], 5) == folds[shuffled]).all()


def test_the_calibrator_that_predicts_the_newest_rows_better_is_chosen() -> None:
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.01, 0.99, 20_000)
    newest = np.arange(raw.size) >= 15_000
    # Truth is a logistic function of the raw score's logit: Platt is exact.
    logistic = rng.random(raw.size) < 1 / (1 + np.exp(-(2 * np.log(raw / (1 - raw)) + 0.5)))
    assert choose_calibrator(raw, logistic, newest, 50).method == "platt"
    # Truth is a step: the buying rate jumps from 0.1 to 0.9 at a raw score of 0.5.
    step = rng.random(raw.size) < np.where(raw < 0.5, 0.1, 0.9)
    chosen = choose_calibrator(raw, step, newest, 50)
    assert chosen.method == "isotonic"
    assert chosen(np.array([0.2, 0.8])) == pytest.approx([0.1, 0.9], abs=0.03)
    # Too few buyers in the older rows for isotonic regression: Platt, whatever the shape.
    assert choose_calibrator(raw, step, newest, 10_000).method == "platt"


def test_platt_scaling_is_monotone_and_keeps_every_distinct_score() -> None:
    rng = np.random.default_rng(2)
    raw = rng.uniform(0, 1, 2_000)
    labels = rng.random(raw.size) < raw
    calibrated = Calibrator("platt", raw, labels)(np.sort(raw))
    assert (np.diff(calibrated) > 0).all() and ((calibrated > 0) & (calibrated < 1)).all()
    with pytest.raises(ValueError, match="unknown calibration"):
        Calibrator("beta", raw, labels)


def test_isotonic_calibration_keeps_the_ranking_between_its_steps() -> None:
    rng = np.random.default_rng(5)
    raw = rng.uniform(0, 1, 5_000)
    labels = rng.random(raw.size) < raw
    fitted = Calibrator("isotonic", raw, labels)
    lo, hi = fitted.centres_[0][0], fitted.centres_[0][-1]
    inside = np.sort(raw[(raw > lo) & (raw < hi)])
    calibrated = fitted(inside)
    # Centred isotonic regression: strictly increasing inside the outer steps (no ties)...
    assert (np.diff(calibrated) > 0).all()
    # ...and still calibrated: the mean per fifth of the scores matches the buying rate.
    order = np.argsort(raw)
    for part in np.array_split(order, 5):
        assert fitted(raw[part]).mean() == pytest.approx(labels[part].mean(), abs=0.03)
    # Beyond the outer steps' centres the map is flat, within [0, 1].
    assert 0 <= fitted(np.array([-1.0]))[0] == fitted(np.array([lo]))[0]
    assert fitted(np.array([2.0]))[0] == fitted(np.array([hi]))[0] <= 1


def test_an_isotonic_calibrator_pickled_before_centring_predicts_as_before() -> None:
    rng = np.random.default_rng(6)
    raw = rng.uniform(0, 1, 500)
    fitted = Calibrator("isotonic", raw, rng.random(raw.size) < raw)
    del fitted.centres_
    assert (fitted(raw) == fitted.model.predict(raw)).all()


def test_a_calibrator_pickled_under_its_former_name_still_loads() -> None:
    rng = np.random.default_rng(4)
    raw = rng.uniform(0, 1, 500)
    fitted = Calibrator("isotonic", raw, rng.random(raw.size) < raw)
    # Protocol 2 names classes as "c<module>\n<name>\n": rewrite it to the former place.
    new = b"ctraining.calibration\nCalibrator\n"
    data = pickle.dumps(fitted, protocol=2)
    assert new in data
    old = data.replace(new, b"ctraining.propensity\n_Calibrator\n")
    loaded = pickle.loads(old)
    assert loaded.method == "isotonic" and (loaded(raw) == fitted(raw)).all()


def _training_set(customers: int = 1500, snapshots: int = 4) -> TrainingSet:
    """Rows whose buying rate falls from 0.6 in the oldest snapshot to 0.3 in the newest, at the
    same features: the level of one season, which no feature explains."""
    rng = np.random.default_rng(3)
    start = datetime(2024, 1, 1)
    times = [start + timedelta(days=30 * i) for i in range(snapshots)]
    frames = []
    for i, as_of in enumerate(times):
        recency = rng.integers(1, 200, customers)
        orders = rng.integers(1, 12, customers)
        level = 0.6 - 0.3 * i / (snapshots - 1)
        chance = np.clip(level + 0.3 * (orders / 12 - 0.5) - 0.2 * (recency / 200 - 0.5), 0, 1)
        frames.append(pd.DataFrame({
            "customer_id": [f"c{j}" for j in range(customers)], "as_of": as_of,
            RECENCY: recency, ORDERS: orders,
            TENURE: recency + (orders - 1) * rng.integers(5, 30, customers),
            "rfm__spend__all": orders * rng.uniform(10, 50, customers),
            "label__any_purchase": (rng.random(customers) < chance).astype("int64"),
        }))  # fmt: skip
    rows = pd.concat(frames, ignore_index=True)
    return TrainingSet(rows, pd.DataFrame(), times, 90)


FEATURES = [RECENCY, ORDERS, TENURE, "rfm__spend__all"]
SMALL = PropensityParams(max_trees=100, min_child_samples=50, early_stopping_rounds=20)


def test_pooled_calibration_matches_the_average_level_and_the_slice_the_newest() -> None:
    training = _training_set()
    rows, newest = training.rows, training.rows["as_of"] == max(training.snapshots)
    pooled = Propensity(calibration_folds=5, params=SMALL).fit(training, FEATURES)
    sliced = Propensity(calibration_folds=0, params=SMALL).fit(training, FEATURES)
    assert pooled.training_summary_["calibration_rows"] == len(rows)
    assert sliced.training_summary_["calibration_rows"] == int(newest.sum())
    # Calibration in the large: the mean score over all snapshots' rows is their buying rate
    # for the pooled map, the newest snapshot's rate for the slice's map.
    labels = rows["label__any_purchase"]
    all_rate, newest_rate = labels.mean(), labels[newest].mean()
    assert pooled.predict(rows)["any"].mean() == pytest.approx(all_rate, abs=0.02)
    assert sliced.predict(rows[newest])["any"].mean() == pytest.approx(newest_rate, abs=0.02)
    # Deterministic: the same rows give the same scores.
    again = Propensity(calibration_folds=5, params=SMALL).fit(training, FEATURES)
    assert (again.predict(rows)["any"] == pooled.predict(rows)["any"]).all()
