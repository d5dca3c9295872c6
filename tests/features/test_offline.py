"""Offline features: only what happened before as_of, and the same numbers counted by hand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from features.errors import ConfigError, ContractError
from features.event_log import from_us, to_us
from features.offline import build_features, build_owned_products, open_warehouse_source
from features.transactions import TRANSACTION_ROLES, open_transactions_source, parse_map
from tests.conftest import copy_home, insert_rows

T = "2025-09-15T12:00:00"
TIME_COLUMNS = {
    "orders": "ordered_at", "web_events": "occurred_at", "app_events": "occurred_at",
    "email_events": "occurred_at", "call_center_interactions": "occurred_at",
    "consents": "occurred_at", "shop_customers": "created_at", "crm_contacts": "created_at",
    "email_subscribers": "subscribed_at", "products": "created_at",
}  # fmt: skip


def features_at(settings, moment) -> pd.DataFrame:
    with open_warehouse_source(settings) as source:
        return build_features(source, moment)


def remove_from(settings, moment: str) -> int:
    """Delete every source row at or after `moment`; return how many went."""
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        removed = con.execute(
            "DELETE FROM order_lines WHERE order_id IN "
            "(SELECT order_id FROM orders WHERE ordered_at >= ?)",
            [moment],
        ).fetchone()[0]
        for table, column in TIME_COLUMNS.items():
            removed += con.execute(f"DELETE FROM {table} WHERE {column} >= ?", [moment]).fetchone()[
                0
            ]
        return removed
    finally:
        con.close()


@pytest.fixture(scope="module")
def cut_home(resolved_world, tmp_path_factory):
    """A copy of the resolved warehouse without any row at or after T."""
    settings = copy_home(resolved_world, tmp_path_factory.mktemp("cut"))
    assert remove_from(settings, T) > 10_000
    return settings


@pytest.mark.slow
def test_features_ignore_everything_at_or_after_as_of(resolved_world, cut_home) -> None:
    full, cut = features_at(resolved_world, T), features_at(cut_home, T)
    assert len(full) > 1_000
    assert_frame_equal(full, cut)
    with open_warehouse_source(resolved_world) as a, open_warehouse_source(cut_home) as b:
        assert_frame_equal(build_owned_products(a, T), build_owned_products(b, T))
    later = pd.Timestamp(T) + timedelta(days=30)
    assert not features_at(resolved_world, later).equals(features_at(cut_home, later))


def test_an_event_exactly_at_as_of_is_not_used(resolved_world, tmp_path) -> None:
    settings = copy_home(resolved_world, tmp_path)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    customer, profile = con.execute(
        "SELECT record_id, profile_id FROM identity_records WHERE source = 'shop_customers' "
        "ORDER BY record_id LIMIT 1"
    ).fetchone()
    con.close()
    order = {"order_id": "t_exact", "customer_id": customer, "channel": "web",
             "currency": "USD", "total_amount": 5.0, "ordered_at": T}  # fmt: skip
    line = {"order_id": "t_exact", "line_number": 1, "product_id": "prd_00001",
            "quantity": 1, "unit_price": 5.0}  # fmt: skip
    insert_rows(settings, "orders", [order])
    insert_rows(settings, "order_lines", [line])
    just_after = from_us(to_us(T) + 1)
    before = features_at(resolved_world, T).set_index("profile_id")
    after = features_at(resolved_world, just_after).set_index("profile_id")
    with_order = features_at(settings, T).set_index("profile_id")
    assert_frame_equal(with_order, before)
    with_order_after = features_at(settings, just_after).set_index("profile_id")
    base = after.loc[profile, "rfm__orders__all"] if profile in after.index else 0
    assert with_order_after.loc[profile, "rfm__orders__all"] == base + 1
    assert with_order_after.loc[profile, "rfm__days_since_last_order__all"] == 0


def test_cookie_events_count_for_a_profile_only_once_the_cookie_is_linked(resolved_world) -> None:
    con = duckdb.connect(str(resolved_world.warehouse_path), read_only=True)
    cookie, profile, linked_at, early = con.execute("""
        SELECT a.identifier_value, a.profile_id, a.first_seen_at, COUNT(*)
        FROM anonymous_links a JOIN web_events e ON e.anonymous_id = a.identifier_value
        WHERE a.identifier_type = 'anonymous_id' AND e.user_id IS NULL
          AND e.subscriber_id IS NULL AND e.type = 'product_view'
          AND e.occurred_at < a.first_seen_at
          AND e.occurred_at > a.first_seen_at - INTERVAL 20 DAY
        GROUP BY ALL ORDER BY COUNT(*) DESC, 1 LIMIT 1
    """).fetchone()
    con.close()
    at_link = features_at(resolved_world, linked_at).set_index("profile_id")
    after = features_at(resolved_world, from_us(to_us(linked_at) + 1)).set_index("profile_id")
    column = "behaviour__product_views__30d"
    before_views = at_link.loc[profile, column] if profile in at_link.index else 0
    assert early >= 1, cookie
    assert after.loc[profile, column] == before_views + early


def test_features_equal_a_count_by_hand(resolved_world) -> None:
    con = duckdb.connect(str(resolved_world.warehouse_path), read_only=True)
    start = pd.Timestamp(T) - timedelta(days=365)
    hand = con.execute("""
        WITH owner AS (
            SELECT o.order_id, o.ordered_at, COALESCE(c.profile_id, g.profile_id) AS profile_id
            FROM orders o
            LEFT JOIN identity_records c ON c.source = 'shop_customers'
                 AND c.record_id = o.customer_id
            LEFT JOIN identity_records g ON g.source = 'orders' AND g.record_id = o.order_id
        )
        SELECT profile_id, COUNT(DISTINCT w.order_id) AS orders,
               ROUND(SUM(l.quantity * l.unit_price), 2) AS spend,
               COUNT(DISTINCT CASE WHEN w.ordered_at >= ? THEN w.order_id END) AS orders_year
        FROM owner w JOIN order_lines l ON l.order_id = w.order_id
        WHERE w.ordered_at < ? AND l.quantity > 0 GROUP BY profile_id
    """, [start, T]).df().set_index("profile_id")  # fmt: skip
    sends = con.execute("""
        SELECT s.profile_id, COUNT(*) AS sends FROM email_events e
        JOIN identity_records s ON s.source = 'email_subscribers' AND s.record_id = e.subscriber_id
        WHERE e.type = 'send' AND e.occurred_at >= ? AND e.occurred_at < ? GROUP BY 1
    """, [start, T]).df().set_index("profile_id")["sends"]  # fmt: skip
    con.close()
    ours = features_at(resolved_world, T).set_index("profile_id")
    assert len(hand) > 300
    joined = ours.join(hand, how="inner")
    assert len(joined) == len(hand)
    assert (joined["rfm__orders__all"] == joined["orders"]).all()
    assert (joined["rfm__orders__365d"] == joined["orders_year"]).all()
    assert ((joined["rfm__spend__all"] - joined["spend"]).abs() < 0.005).all()
    email = ours["email__sends__365d"]
    assert (
        email[email > 0].sort_index() == sends.sort_index().reindex(email[email > 0].index)
    ).all()
    assert email.sum() == sends.sum()


TRANSACTIONS = """Invoice,StockCode,Qty,When,Price,Cust,Country
A1,P1,2,2011-01-03 10:00:00,2.50,17850.0,UK
A1,P2,1,2011-01-03 10:00:00,10.00,17850.0,UK
A2,P1,6,2011-02-01 09:30:00,2.10,17850.0,UK
C3,P2,-1,2011-02-02 11:00:00,10.00,17850.0,UK
A4,P3,1,2011-02-10 12:00:00,40.00,12347.0,FR
A5,P1,3,2011-03-01 08:00:00,2.50,12347.0,FR
A6,P9,1,2011-03-05 08:00:00,1.00,,UK
A7,P1,0,2011-03-05 08:00:00,1.00,12347.0,FR
A8,P1,1,2011-03-05 08:00:00,-4.00,12347.0,FR
A9,P3,1,2011-04-01 08:00:00,45.00,12347.0,FR
"""
PRODUCTS = "StockCode,Cat,ListPrice\nP1,candles,2.50\nP2,mugs,10.00\nP3,lamps,40.00\n"
ROLES = "customer_id=Cust,product_id=StockCode,at=When,quantity=Qty,price=Price,order_id=Invoice"


def byo_features(settings, folder: Path, text: str, moment: str) -> tuple[pd.DataFrame, dict]:
    (folder / "tx.csv").write_text(text)
    (folder / "products.csv").write_text(PRODUCTS)
    roles = parse_map(ROLES, TRANSACTION_ROLES)
    products = {"product_id": "StockCode", "category": "Cat", "price": "ListPrice"}
    with open_transactions_source(settings, folder / "tx.csv", roles, folder / "products.csv",
                                  products) as source:  # fmt: skip
        return build_features(source, moment), source.summary


def test_a_transactions_file_gets_the_same_features_keyed_by_customer(settings, tmp_path) -> None:
    frame, summary = byo_features(settings, tmp_path, TRANSACTIONS, "2011-03-15")
    assert summary["rows_in"] == 10 and summary["rows_used"] == 7
    assert summary["left_out_by_reason"] == {"no customer": 1, "bad quantity": 1, "bad price": 1}
    rows = frame.set_index("customer_id")
    assert list(rows.index) == ["12347", "17850"]
    uk = rows.loc["17850"]
    assert uk["rfm__orders__all"] == 2 and uk["rfm__returned_units__365d"] == 1
    assert uk["rfm__spend__all"] == pytest.approx(2 * 2.5 + 10 + 6 * 2.1)
    assert uk["category__spend_share_mugs__365d"] == pytest.approx(10 / 27.6)
    assert uk["owned__products__all"] == 1  # the mug went back
    assert uk["price__price_index__365d"] == pytest.approx(27.6 / (8 * 2.5 + 10))
    assert "behaviour__product_views__7d" not in frame.columns
    cut, _ = byo_features(settings, tmp_path, TRANSACTIONS.replace(
        "A9,P3,1,2011-04-01 08:00:00,45.00,12347.0,FR\n", ""), "2011-03-15")  # fmt: skip
    assert_frame_equal(frame, cut)


def test_a_transactions_file_with_wrong_columns_is_a_clear_error(settings, tmp_path) -> None:
    (tmp_path / "tx.csv").write_text(TRANSACTIONS)
    roles = parse_map(ROLES.replace("Qty", "Quantity"), TRANSACTION_ROLES)
    with (
        pytest.raises(ContractError, match="'Quantity'"),
        open_transactions_source(settings, tmp_path / "tx.csv", roles),
    ):
        pass
    with pytest.raises(ConfigError, match="price"):
        parse_map("customer_id=a,product_id=b,at=c,quantity=d", TRANSACTION_ROLES)
    with pytest.raises(ConfigError, match="unknown role"):
        parse_map(ROLES + ",colour=Country", TRANSACTION_ROLES)
