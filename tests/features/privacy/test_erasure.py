"""The right to be forgotten on the small generated world: forget a person with several
identifiers and devices by one email, then look for any of their identifiers in every store:
none; re-ingesting the world's files and replaying their events does not bring them back."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from features.errors import NotFoundError
from features.privacy.audit import read_audit
from features.privacy.erasure import erase_person
from tests.features.privacy.scan import identifiers_of, pick_person, scan_home

AT = "2025-12-01T00:00:00"


@pytest.fixture(scope="module")
def erased(resolved_world, small_world, tmp_path_factory):
    """(settings, values of the person, receipt, profile id, person id) after the erasure."""
    from features.online.materialize import materialize
    from tests.conftest import copy_home

    settings = copy_home(resolved_world, tmp_path_factory.mktemp("forget"))
    materialize(settings, AT)
    person_id, profile_id = pick_person(settings.warehouse_path, small_world / "truth")
    values = identifiers_of(settings.home, profile_id, person_id, small_world)
    before = scan_home(settings.home, values)
    assert before.get("warehouse.shop_customers") and before.get("online.sqlite.identifiers")
    email = next(v for v in sorted(values) if "@" in v)
    receipt = erase_person(settings, "email", email.upper(), actor="test")
    return settings, values, receipt, profile_id, person_id


def test_no_store_holds_any_identifier_of_the_person(erased) -> None:
    settings, values, receipt, _, _ = erased
    assert scan_home(settings.home, values) == {}
    removed = receipt.removed
    for table in ("shop_customers", "orders", "order_lines", "identity_index", "profiles"):
        assert removed["warehouse"][table] >= 1, table
    for table in ("online_features", "identifiers", "log_purchases", "profiles"):
        assert removed["online"][table] >= 1, table
    assert receipt.blocked["email"] >= 1 and receipt.blocked["profile_id"] == 1
    assert receipt.blocked.get("anonymous_id", 0) + receipt.blocked.get("device_id", 0) >= 1


def test_receipt_and_audit_hold_counts_only(erased) -> None:
    settings, values, receipt, _, _ = erased
    shown = str(receipt.to_dict()).lower()
    assert not [v for v in values if v.lower() in shown]
    entries = read_audit(settings, "forget")
    assert entries[-1]["counts"]["erasure_id"] == receipt.erasure_id
    assert entries[-1]["actor_key_id"] == "test"
    assert not [v for v in values if v.lower() in str(entries).lower()]
    salt = (settings.home / "privacy_salt").read_bytes()
    assert len(salt) == 32 and (settings.home / "privacy_salt").stat().st_mode & 0o077 == 0


def test_forgetting_again_is_a_no_op_and_strangers_are_not_found(erased) -> None:
    settings, _, receipt, profile_id, _ = erased
    again = erase_person(settings, "profile_id", profile_id)
    assert again.already_erased and again.rows_removed == 0
    assert again.erasure_id == receipt.erasure_id
    with pytest.raises(NotFoundError):
        erase_person(settings, "email", "nobody.at.all@nowhere.example")


def test_reingesting_the_world_does_not_resurrect_them(erased, small_world, tmp_path) -> None:
    from features.identity.resolve import resolve_profiles
    from features.ingest import ingest_folder

    settings, values, _, _, _ = erased
    # The same bytes are skipped; the same rows in other files (CSV) are read again, row by row.
    again = tmp_path / "again"
    again.mkdir()
    for path in sorted(small_world.glob("*.parquet")):
        pd.read_parquet(path).to_csv(again / f"{path.stem}.csv", index=False)
    results = ingest_folder(settings, small_world) + ingest_folder(settings, again)
    assert {r.status for r in results} <= {"loaded", "skipped"}
    for r in results:
        assert r.rows_in == r.rows_loaded + r.rows_quarantined, r
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as wh:
        erased_rows = wh.execute(
            "SELECT COUNT(*), COUNT(record) FROM quarantine WHERE reason = 'erased'"
        ).fetchone()
    assert erased_rows[0] > 0 and erased_rows[1] == 0  # counted, without their values
    resolve_profiles(settings)
    assert scan_home(settings.home, values) == {}


def test_replaying_their_events_changes_nothing(erased, small_world) -> None:
    from features.online.realtime import apply_event
    from features.online.store import OnlineStore

    settings, values, _, _, _ = erased
    web = pd.read_parquet(small_world / "web_events.parquet")
    mine = web[web["anonymous_id"].isin(values) | web["user_id"].isin(values)]
    orders = pd.read_parquet(small_world / "orders.parquet")
    lines = pd.read_parquet(small_world / "order_lines.parquet")
    theirs = orders[orders["order_id"].isin(values)]
    assert len(mine) and len(theirs)
    with OnlineStore(settings) as store:
        results = [apply_event(store, "web_events", _plain(row)) for row in mine.to_dict("records")]
        for order in theirs.to_dict("records"):
            order_lines = lines[lines["order_id"] == order["order_id"]].to_dict("records")
            results.append(
                apply_event(
                    store, "orders", {**_plain(order), "lines": [_plain(x) for x in order_lines]}
                )
            )
    assert all(r.blocked and not r.affected for r in results)
    assert scan_home(settings.home, values) == {}


def _plain(row: dict) -> dict:
    return {k: (None if pd.isna(v) else v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in row.items()}  # fmt: skip
