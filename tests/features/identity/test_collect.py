"""Guest orders: a shipping name is the buyer's unless the order's own email says otherwise."""

import pandas as pd

from features.identity.collect import attribute_buyer_names
from features.identity.records import prepare_records

ROLES = {"record_id": "record_id", "first_name": "first_name", "last_name": "last_name",
         "email": "email"}  # fmt: skip


def _prepare(rows: list[tuple[str, str, str, str]], source: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["record_id", "first_name", "last_name", "email"])
    return prepare_records(frame, ROLES, source_name=source)


def test_a_gift_order_takes_the_name_its_email_is_known_by():
    prepared = {
        "shop_customers": _prepare([("c1", "Kevin", "Blake", "kblake@gmail.com")], "shop"),
        "orders": _prepare(
            [
                ("o1", "Kevin", "Blake", "kblake@gmail.com"),
                ("o2", "Connie", "Blake", "kblake@gmail.com"),  # shipped to his partner
                ("o3", "Connie", "Blake", "connie@example.com"),  # her own order
            ],
            "orders",
        ),
    }
    changed = attribute_buyer_names(prepared)
    orders = prepared["orders"].set_index("record_id")
    assert changed == 1
    assert orders.loc["o2", ["first_name", "last_name"]].tolist() == ["kevin", "blake"]
    assert "kevin" in orders.loc["o2", "first_name_aliases"]
    assert orders.loc["o3", "first_name"] == "connie"  # no other name under her email
    assert prepared["shop_customers"].loc[0, "first_name"] == "kevin"  # accounts never change


def test_a_tie_keeps_the_shipping_name():
    prepared = {
        "orders": _prepare(
            [("o1", "Ann", "Lee", "lee@example.com"), ("o2", "Bob", "Lee", "lee@example.com")],
            "orders",
        )
    }
    assert attribute_buyer_names(prepared) == 0
    assert sorted(prepared["orders"]["first_name"]) == ["ann", "bob"]


def test_orders_without_email_or_other_sources_are_left_alone():
    prepared = {"orders": _prepare([("o1", "Ann", "Lee", None)], "orders")}
    assert attribute_buyer_names(prepared) == 0
    assert attribute_buyer_names({}) == 0
