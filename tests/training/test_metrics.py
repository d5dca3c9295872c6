"""Metrics by hand, and the frequency baseline exactly as defined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baselines import RecencyHeuristic, frequency_baseline
from training.candidates import DAY_US
from training.interactions import Interactions
from training.metrics import classification_metrics, lift_at, ranking_metrics, reliability_curve
from training.reasons import format_age


def recs(rows):
    return pd.DataFrame(rows, columns=["c", "rank", "product_id"])


def test_map_ndcg_recall_hr_by_hand() -> None:
    truth = pd.DataFrame({"c": ["a", "a", "a", "b"], "product_id": ["x", "y", "z", "q"]})
    ranked = recs([("a", 1, "x"), ("a", 2, "n"), ("a", 3, "y"), ("b", 1, "n")])
    figures = ranking_metrics(ranked, truth, "c", k_map=12, k=10)
    # a: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(3, 12); b: no hit -> 0
    assert figures["map@12"] == pytest.approx(((1 + 2 / 3) / 3 + 0) / 2)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert figures["ndcg@10"] == pytest.approx(((1 + 1 / np.log2(4)) / ideal + 0) / 2)
    assert figures["recall@10"] == pytest.approx((2 / 3 + 0) / 2)
    assert figures["hr@10"] == 0.5 and figures["customers"] == 2


def test_a_customer_without_recommendations_counts_zero() -> None:
    truth = pd.DataFrame({"c": ["a", "b"], "product_id": ["x", "x"]})
    figures = ranking_metrics(recs([("a", 1, "x")]), truth, "c")
    assert figures["map@12"] == 0.5


def test_classification_metrics_and_reliability() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.2, 0.3, 0.1, 0.2, 0.1])
    figures = classification_metrics(labels, scores)
    assert figures["auc"] == pytest.approx(20 / 21)
    assert lift_at(labels, scores, 0.1) == pytest.approx(1 / 0.3)
    assert figures["brier"] == pytest.approx(np.mean((scores - labels) ** 2))
    curve = reliability_curve(labels, scores, bins=2)
    assert list(curve["rows"]) == [5, 5] and curve["observed"].iloc[-1] == 0.6


def test_lift_counts_ties_at_the_boundary_by_their_mean_in_any_row_order() -> None:
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0] * 2)
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1] * 2)
    # Top 10% = 2 rows: both 0.9s (two buyers); at 20%, 4 rows: two 0.9s, then 2 of the eight
    # tied 0.5s, of which 2 in 8 bought -> (2 + 2 x 2/8) / 4 = 0.625 against 6/20 overall.
    assert lift_at(labels, scores, 0.1) == pytest.approx(1 / 0.3)
    assert lift_at(labels, scores, 0.2) == pytest.approx(0.625 / 0.3)
    order = np.random.default_rng(0).permutation(len(labels))
    assert lift_at(labels[order], scores[order], 0.2) == lift_at(labels, scores, 0.2)
    assert lift_at(labels, np.full(len(labels), 0.4), 0.1) == pytest.approx(1.0)
    assert np.isnan(lift_at(np.zeros(5), np.arange(5.0), 0.1))


def test_frequency_baseline_orders_by_orders_then_recency_then_fills_best_sellers() -> None:
    day = DAY_US
    rows = [  # entity, order, product, t
        ("a", "o1", "p1", 10 * day), ("a", "o2", "p1", 20 * day), ("a", "o2", "p2", 20 * day),
        ("a", "o3", "p3", 30 * day), ("b", "o4", "p4", 95 * day), ("b", "o5", "p4", 96 * day),
        ("c", "o6", "p5", 97 * day), ("c", "o7", "p5", 98 * day), ("c", "o8", "p9", 140 * day),
    ]  # fmt: skip
    purchases = pd.DataFrame(rows, columns=["entity_id", "order_id", "product_id", "t"])
    purchases = purchases.assign(category=None, quantity=1, amount_cents=100,
                                 known_at=purchases["t"])  # fmt: skip
    interest = pd.DataFrame(columns=["entity_id", "product_id", "type", "t", "known_at"])
    data = Interactions(purchases, interest)
    base = frequency_baseline(data, 100 * day, k=4, popular_days=14)
    a = base[base["entity_id"] == "a"]["product_id"].tolist()
    # p1 (2 orders), then p3 (newer) before p2, then the best-sellers of days 86..99: p4 and p5
    # tie on 2 orders; ties by all-time orders, then id -> p4 (p9 is in the future)
    assert a == ["p1", "p3", "p2", "p4"]
    assert base[base["entity_id"] == "b"]["product_id"].tolist() == ["p4", "p5", "p1", "p2"]
    assert "c" in set(base["entity_id"]) and "p9" not in set(base["product_id"])


def test_recency_heuristic_scores_are_decile_rates() -> None:
    frame = pd.DataFrame({"rfm__days_since_last_order__all": np.arange(100.0)})
    labels = (np.arange(100) < 50).astype(int)
    model = RecencyHeuristic().fit(frame, labels)
    scores = model.predict_proba(frame)
    assert scores[:40].min() == 1.0 and scores[-40:].max() == 0.0


def test_ages_read_like_speech() -> None:
    assert [format_age(0.2), format_age(1), format_age(3), format_age(21), format_age(90)] == [
        "today", "1 day ago", "3 days ago", "3 weeks ago", "3 months ago"]  # fmt: skip
