"""The online store: equal to offline at every moment, never serving a value past its window."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from features.errors import NotFoundError
from features.event_log import to_us
from features.offline import build_features, build_owned_products, open_warehouse_source
from features.online.realtime import _Log
from features.online.store import OnlineStore
from tests.conftest import copy_home, differences
from tests.features.online.conftest import MATERIALISED_AT


def offline(settings, moment) -> pd.DataFrame:
    with open_warehouse_source(settings) as source:
        return build_features(source, moment).set_index("profile_id")


def test_online_equals_offline_at_the_moment_it_was_materialised(online_home) -> None:
    expected = offline(online_home, MATERIALISED_AT)
    with OnlineStore(online_home) as store:
        stored = store.con.execute("SELECT COUNT(*) FROM online_features").fetchone()[0]
        assert stored == len(expected)
        for profile_id, row in expected.iterrows():
            result = store.get_online_features(profile_id, MATERIALISED_AT)
            assert result.served_from == "store"
            assert differences(result.values, row.to_dict()) == {}, profile_id


@pytest.mark.slow
@pytest.mark.parametrize("later", [timedelta(hours=1), timedelta(days=1, microseconds=1),
                                   timedelta(days=8), timedelta(days=45)])  # fmt: skip
def test_online_equals_offline_as_windows_roll_over(online_home, tmp_path, later) -> None:
    settings = copy_home(online_home, tmp_path)
    moment = pd.Timestamp(MATERIALISED_AT) + later
    expected = offline(settings, moment)
    served = set()
    with OnlineStore(settings) as store:
        for profile_id, row in expected.iterrows():
            result = store.get_online_features(profile_id, moment)
            served.add(result.served_from)
            assert differences(result.values, row.to_dict()) == {}, profile_id
    assert "recomputed" in served  # the materialised rows had expired


def test_a_stored_row_is_exact_until_it_expires(online_home) -> None:
    with OnlineStore(online_home) as store:
        rows = store.con.execute(
            "SELECT entity_id, expires_at FROM online_features ORDER BY entity_id"
        ).fetchall()
        assert all(expires > to_us(MATERIALISED_AT) for _, expires in rows)
        windows = 0
        for entity_id, expires in rows[::5]:
            stored = store.get_online_features(entity_id, MATERIALISED_AT).values
            assert store.recompute(entity_id, expires - 1, store=False).values == stored
            windows += expires % 86_400_000_000 != 0  # expires at a window's edge, not midnight
        assert windows > 0


def test_products_owned_online_equal_offline(online_home) -> None:
    with open_warehouse_source(online_home) as source:
        owned = build_owned_products(source, MATERIALISED_AT)
    sample = sorted(set(owned["profile_id"]))[::7]
    with OnlineStore(online_home) as store:
        for profile_id in sample:
            expected = owned[owned["profile_id"] == profile_id].drop(columns="profile_id")
            got = pd.DataFrame(store.get_owned_products(profile_id, MATERIALISED_AT))
            got = got[expected.columns].sort_values("product_id").reset_index(drop=True)
            expected = expected.sort_values("product_id").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_unknown_or_not_yet_known_profiles_are_not_found(online_home) -> None:
    with OnlineStore(online_home) as store:
        with pytest.raises(NotFoundError):
            store.get_online_features("prf_does_not_exist", MATERIALISED_AT)
        some = store.con.execute("SELECT entity_id FROM online_features LIMIT 1").fetchone()[0]
        with pytest.raises(NotFoundError):
            store.get_online_features(some, "1999-01-01")


def test_online_stitching_rules_equal_the_batch_stitching(online_home) -> None:
    con = duckdb.connect(str(online_home.warehouse_path), read_only=True)
    batch = {
        (kind, value): (profile, to_us(first))
        for kind, value, profile, first in con.execute(
            "SELECT identifier_type, identifier_value, profile_id, first_seen_at "
            "FROM anonymous_links"
        ).fetchall()
    }
    con.close()
    with OnlineStore(online_home) as store:
        log = _Log(store)
        claimed = store.con.execute(
            "SELECT DISTINCT identifier_type, identifier_value FROM claims"
        ).fetchall()
        online = {key: log._decide(*key) for key in claimed}
    assert {k: v for k, v in online.items() if v} == batch
    assert sum(v is None for v in online.values()) > 0  # refusals exist and agree
