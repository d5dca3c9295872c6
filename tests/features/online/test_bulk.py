"""Many profiles at once from the online store equal reading them one by one."""

from __future__ import annotations

import pandas as pd
import pytest

from features.event_log import to_us
from features.online.bulk import load_online_features
from features.online.store import OnlineStore
from tests.conftest import copy_home
from tests.features.online.conftest import MATERIALISED_AT

pytestmark = pytest.mark.slow


def _one_by_one(settings, at: str, ids: list[str]) -> dict[str, dict]:
    with OnlineStore(settings) as store:
        return {i: store.get_online_features(i, at).values for i in ids}


def _rows(frame: pd.DataFrame) -> dict[str, dict]:
    # Read back from SQLite a missing value is None or NaN depending on the column's mix.
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {r.pop("entity_id"): r for r in records}


def test_expired_rows_are_recomputed_together_as_one_by_one(online_home, tmp_path) -> None:
    later = str(pd.Timestamp(MATERIALISED_AT) + pd.Timedelta(days=8, hours=3))
    bulk_home = copy_home(online_home, tmp_path / "bulk")
    single_home = copy_home(online_home, tmp_path / "single")
    with OnlineStore(bulk_home) as store:
        frame = load_online_features(store, later)
        # Stored as a read would: now served from the store, still exact.
        stored = store.con.execute(
            "SELECT COUNT(*) FROM online_features WHERE computed_at = ?", (to_us(later),)
        ).fetchone()[0]
        again = load_online_features(store, later)
    assert stored == len(frame) > 1_000
    expected = _one_by_one(single_home, later, list(frame["entity_id"]))
    assert _rows(frame) == expected
    pd.testing.assert_frame_equal(again, frame)


def test_rows_still_exact_are_read_as_stored_and_a_subset_can_be_asked(online_home, tmp_path):
    home = copy_home(online_home, tmp_path / "home")
    with OnlineStore(home) as store:
        everyone = load_online_features(store, MATERIALISED_AT)
        before = store.con.execute("SELECT SUM(computed_at) FROM online_features").fetchone()
        some = [*everyone["entity_id"][:5], "prf_nobody"]
        subset = load_online_features(store, MATERIALISED_AT, some)
        after = store.con.execute("SELECT SUM(computed_at) FROM online_features").fetchone()
    assert before == after  # nothing was recomputed
    assert list(subset["entity_id"]) == sorted(some[:5])
    assert _rows(subset) == {k: v for k, v in _rows(everyone).items() if k in some}


def test_a_read_in_the_past_keeps_the_newer_stored_rows(online_home, tmp_path) -> None:
    home = copy_home(online_home, tmp_path / "home")
    earlier = str(pd.Timestamp(MATERIALISED_AT) - pd.Timedelta(days=40))
    with OnlineStore(home) as store:
        frame = load_online_features(store, earlier)
        kept = store.con.execute(
            "SELECT COUNT(*) FROM online_features WHERE computed_at = ?", (to_us(MATERIALISED_AT),)
        ).fetchone()[0]
        total = store.con.execute("SELECT COUNT(*) FROM online_features").fetchone()[0]
    assert kept == total  # the rows as of materialisation are still there
    assert 0 < len(frame) < total  # fewer profiles had history 40 days earlier
    assert _rows(frame) == _one_by_one(copy_home(online_home, tmp_path / "s"), earlier,
                                       list(frame["entity_id"]))  # fmt: skip
