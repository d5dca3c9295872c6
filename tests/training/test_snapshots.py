"""Training sets: sliding point-in-time snapshots, labels only from each snapshot's horizon."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from pandas.testing import assert_frame_equal

from features.errors import ConfigError
from features.offline import open_warehouse_source
from tests.conftest import copy_home
from tests.features.test_offline import remove_from
from training.snapshots import build_training_set, snapshot_times

CUTOFF = "2025-10-01"


def training_set(settings, **options):
    with open_warehouse_source(settings) as source:
        return build_training_set(source, CUTOFF, **options)


def test_snapshots_slide_back_from_the_cutoff() -> None:
    times = snapshot_times(CUTOFF, horizon_days=30, snapshots=3, every_days=7)
    assert times == [datetime(2025, 8, 18), datetime(2025, 8, 25), datetime(2025, 9, 1)]
    with pytest.raises(ConfigError):
        snapshot_times(CUTOFF, horizon_days=0, snapshots=3, every_days=7)


@pytest.mark.slow
def test_a_training_set_ignores_everything_at_or_after_its_cutoff(resolved_world, tmp_path):
    cut = copy_home(resolved_world, tmp_path)
    assert remove_from(cut, CUTOFF) > 10_000
    full = training_set(resolved_world, horizon_days=30, snapshots=4, every_days=30)
    again = training_set(cut, horizon_days=30, snapshots=4, every_days=30)
    assert_frame_equal(full.rows, again.rows)
    assert_frame_equal(full.products, again.products)
    assert full.rows["label__any_purchase"].sum() > 50


def test_labels_are_the_purchases_of_the_horizon(resolved_world) -> None:
    result = training_set(resolved_world, horizon_days=14, snapshots=2, every_days=45)
    rows = result.rows
    assert not any(c.startswith("consent__") for c in rows.columns)
    assert set(rows["as_of"]) == set(result.snapshots)
    con = duckdb.connect(str(resolved_world.warehouse_path), read_only=True)
    for as_of in result.snapshots:
        bought = con.execute("""
            SELECT DISTINCT COALESCE(c.profile_id, g.profile_id) AS profile_id, l.product_id
            FROM orders o JOIN order_lines l ON l.order_id = o.order_id
            LEFT JOIN identity_records c ON c.source = 'shop_customers'
                 AND c.record_id = o.customer_id
            LEFT JOIN identity_records g ON g.source = 'orders' AND g.record_id = o.order_id
            WHERE o.ordered_at >= ? AND o.ordered_at < ? AND l.quantity > 0
        """, [as_of, as_of + timedelta(days=14)]).df()  # fmt: skip
        snapshot = rows[rows["as_of"] == as_of].set_index("profile_id")
        buyers = set(bought["profile_id"]) & set(snapshot.index)
        assert set(snapshot.index[snapshot["label__any_purchase"] == 1]) == buyers
        products = result.products[result.products["as_of"] == as_of]
        expected = bought[bought["profile_id"].isin(snapshot.index)]
        assert set(zip(products["profile_id"], products["product_id"], strict=True)) == set(
            zip(expected["profile_id"], expected["product_id"], strict=True)
        )
        # a snapshot only holds profiles known before it
        assert snapshot["tenure__days_since_first_seen__all"].min() >= 0
    con.close()


def test_profiling_refusals_are_left_out_of_training_sets(resolved_world, tmp_path) -> None:
    from features.offline import build_features, open_warehouse_source
    from training.snapshots import PROFILING, build_training_set

    with open_warehouse_source(resolved_world) as source:
        cutoff = "2025-12-01"
        training = build_training_set(source, cutoff, horizon_days=30, snapshots=2)
        key = source.catalogue.entity_key
        for as_of in training.snapshots:
            features = build_features(source, as_of)
            refused_mask = features[PROFILING].eq(0).fillna(False).astype(bool)
            refused = set(features.loc[refused_mask, key])
            kept = set(features.loc[~refused_mask, key])
            rows = set(training.rows.loc[training.rows["as_of"] == as_of, key])
            assert refused, "the world has profiling refusals"
            assert not refused & rows
            assert rows == kept
