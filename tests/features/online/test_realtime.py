"""Real-time updates: applying events one by one equals recomputing everything from scratch."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.errors import ContractError
from features.event_log import from_us, to_us
from features.offline import build_features, open_warehouse_source
from features.online.realtime import apply_event
from features.online.store import OnlineStore
from tests.conftest import copy_home, differences, insert_rows, restitch
from tests.features.online.conftest import MATERIALISED_AT

START = pd.Timestamp(MATERIALISED_AT)


@pytest.fixture(scope="module")
def pools(online_home) -> dict[str, list]:
    """Real ids of the world to build events from, chosen to collide often."""
    con = duckdb.connect(str(online_home.warehouse_path), read_only=True)

    def column(sql: str) -> list:
        return [r[0] for r in con.execute(sql).fetchall()]

    linked = column("SELECT identifier_value FROM anonymous_links "
                    "WHERE identifier_type = 'anonymous_id' ORDER BY 1 LIMIT 6")  # fmt: skip
    owners = column(
        "SELECT DISTINCT user_id FROM web_events WHERE anonymous_id IN "
        f"({', '.join(repr(c) for c in linked)}) AND user_id IS NOT NULL ORDER BY 1"
    )
    # Two shop accounts of one person: a cookie both log into must stay unlinked.
    twins = column(
        "SELECT record_id FROM identity_records WHERE source = 'shop_customers' AND profile_id = "
        "(SELECT profile_id FROM identity_records WHERE source = 'shop_customers' "
        "GROUP BY profile_id HAVING COUNT(*) > 1 ORDER BY profile_id LIMIT 1)"
    )
    pools = {
        "customers": [*sorted(set(owners) | set(twins) | set(column(
            "SELECT record_id FROM identity_records WHERE source = 'shop_customers' "
            "ORDER BY record_id LIMIT 6"))), "0", "cust_unknown"],
        "subscribers": column("SELECT record_id FROM identity_records "
                              "WHERE source = 'email_subscribers' ORDER BY 1 LIMIT 5"),
        "contacts": column("SELECT record_id FROM identity_records "
                           "WHERE source = 'crm_contacts' ORDER BY 1 LIMIT 3"),
        "cookies": linked + column(
            "SELECT DISTINCT anonymous_id FROM web_events WHERE anonymous_id NOT IN "
            "(SELECT identifier_value FROM anonymous_links) ORDER BY 1 LIMIT 4"
        ) + ["null", "rt_cookie_new"],
        "devices": [*column("SELECT identifier_value FROM anonymous_links "
                            "WHERE identifier_type = 'device_id' ORDER BY 1 LIMIT 3"),
                    "rt_device_new"],
        "products": con.execute("SELECT product_id, price, category FROM products "
                                "ORDER BY product_id LIMIT 30").fetchall(),
    }  # fmt: skip
    con.close()
    return pools


def draw_event(data, pools: dict, n: int, span_minutes: int) -> tuple[str, dict]:
    """One raw event (source contract columns), at a time around the materialisation."""
    kind = data.draw(st.sampled_from(
        ["purchase", "view", "identify", "app_identify", "email", "click_visit", "call",
         "consent"]))  # fmt: skip
    at = START + timedelta(minutes=data.draw(st.integers(-3 * 1440, span_minutes)))
    when = at.isoformat()
    pick = lambda name: data.draw(st.sampled_from(pools[name]))  # noqa: E731
    product, _, category = pick("products")
    if kind == "purchase":
        lines = [{"order_id": f"rt_o{n}", "line_number": i + 1,
                  "product_id": pick("products")[0] if i else product,
                  "quantity": data.draw(st.sampled_from([1, 2, 3, -1])),
                  "unit_price": data.draw(st.integers(1, 300_000)) / data.draw(
                      st.sampled_from([100, 1000]))}
                 for i in range(data.draw(st.integers(1, 2)))]  # fmt: skip
        return "orders", {"order_id": f"rt_o{n}", "customer_id": pick("customers"),
                          "channel": data.draw(st.sampled_from(["web", "app", "call_center"])),
                          "currency": "USD", "total_amount": 1.0, "ordered_at": when,
                          "lines": lines}  # fmt: skip
    if kind in ("view", "identify"):
        kind_of = data.draw(st.sampled_from(["product_view", "add_to_cart", "page_view"]))
        user = data.draw(st.one_of(st.none(), st.sampled_from(pools["customers"])))
        if kind == "identify":
            kind_of, user = "identify", pick("customers")
        return "web_events", {"event_id": f"rt_w{n}", "anonymous_id": pick("cookies"),
                              "user_id": user, "type": kind_of,
                              "product_id": None if kind_of in ("identify", "page_view")
                              else product, "occurred_at": when}  # fmt: skip
    if kind == "app_identify":
        return "app_events", {"event_id": f"rt_a{n}", "anonymous_id": pick("cookies"),
                              "device_id": pick("devices"), "user_id": pick("customers"),
                              "type": data.draw(st.sampled_from(["identify", "product_view"])),
                              "product_id": product, "platform": "ios",
                              "occurred_at": when}  # fmt: skip
    if kind == "email":
        return "email_events", {"event_id": f"rt_e{n}", "subscriber_id": pick("subscribers"),
                                "campaign_id": "rt", "type": data.draw(st.sampled_from(
                                    ["send", "open", "click"])),
                                "promoted_category": category, "occurred_at": when}  # fmt: skip
    if kind == "click_visit":
        return "web_events", {"event_id": f"rt_c{n}", "anonymous_id": pick("cookies"),
                              "subscriber_id": pick("subscribers"), "campaign_id": "rt",
                              "type": "email_click", "product_id": product,
                              "occurred_at": when}  # fmt: skip
    if kind == "call":
        return "call_center_interactions", {
            "interaction_id": f"rt_i{n}", "contact_id": pick("contacts"), "phone": "+12125550100",
            "reason": data.draw(st.sampled_from(["return", "complaint"])),
            "duration_seconds": data.draw(st.integers(0, 900)), "occurred_at": when}  # fmt: skip
    kind_of, value = data.draw(st.sampled_from(
        [("customer_id", c) for c in pools["customers"][:3]]
        + [("anonymous_id", c) for c in pools["cookies"][:3]]))  # fmt: skip
    return "consents", {"consent_id": f"rt_k{n}", "identifier_type": kind_of,
                        "identifier_value": value, "purpose": "advertising",
                        "status": data.draw(st.sampled_from(["granted", "revoked"])),
                        "source": "rt", "occurred_at": when}  # fmt: skip


def load_into_warehouse(settings, events: list[tuple[str, dict]]) -> None:
    for source, event in events:
        row = dict(event)
        if source == "orders":
            insert_rows(settings, "order_lines", row.pop("lines"))
        insert_rows(settings, source, [row])
    restitch(settings)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(data=st.data())
def test_applying_events_equals_a_full_recompute(online_home, pools, data) -> None:
    # Mostly within the day the store was materialised, so a stored row that an event should
    # have updated would still be served (not recomputed on read); sometimes weeks later.
    span = data.draw(st.sampled_from([20 * 60, 20 * 60, 40 * 1440]))
    events = [draw_event(data, pools, n, span) for n in range(data.draw(st.integers(1, 5)))]
    with tempfile.TemporaryDirectory() as folder:
        settings = copy_home(online_home, Path(folder))
        clock, touched, last = to_us(MATERIALISED_AT), set(), []
        with OnlineStore(settings) as store:
            for source, event in events:
                moment = event.get("occurred_at") or event["ordered_at"]
                clock = max(clock, to_us(moment) + 1_000_000)  # applied a second later
                applied = apply_event(store, source, event, at=from_us(clock))
                touched |= set(applied.affected)
                last = applied.affected
            load_into_warehouse(settings, events)
            with open_warehouse_source(settings) as source:
                expected = build_features(source, from_us(clock)).set_index("profile_id")
            for profile_id, row in expected.iterrows():
                result = store.get_online_features(profile_id, from_us(clock))
                assert differences(result.values, row.to_dict()) == {}, (profile_id, events)
                if profile_id in last:
                    assert result.served_from == "store"  # updated at once, not on read
            assert touched - set(expected.index) == set() or all(
                store.recompute(p, clock, store=False) is None
                for p in touched - set(expected.index)
            )


def test_a_replayed_event_changes_nothing(online_home, pools, tmp_path) -> None:
    settings = copy_home(online_home, tmp_path)
    product = pools["products"][0][0]
    event = {"event_id": "rt_same", "anonymous_id": pools["cookies"][0], "type": "product_view",
             "user_id": pools["customers"][0], "product_id": product,
             "occurred_at": "2025-12-02T10:00:00Z"}  # fmt: skip
    with OnlineStore(settings) as store:
        first = apply_event(store, "web_events", event, at="2025-12-02T11:00:00Z")
        profile = first.affected[0]
        views = store.get_online_features(profile, "2025-12-02T11:00:00Z").values
        again = apply_event(store, "web_events", event, at="2025-12-02T11:00:00Z")
        assert again.duplicate and again.affected == []
        assert store.get_online_features(profile, "2025-12-02T11:00:00Z").values == views


def test_an_identify_makes_the_cookies_history_count_from_that_moment(
    online_home, tmp_path
) -> None:
    settings = copy_home(online_home, tmp_path)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    cookie, views = con.execute("""
        SELECT anonymous_id, COUNT(*) FROM web_events
        WHERE type = 'product_view' AND user_id IS NULL AND occurred_at >= ? AND occurred_at < ?
          AND anonymous_id NOT IN (SELECT identifier_value FROM anonymous_links)
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
    """, [START - timedelta(days=29), START]).fetchone()  # fmt: skip
    customer, profile = con.execute(
        "SELECT record_id, profile_id FROM identity_records WHERE source = 'shop_customers' "
        "ORDER BY record_id LIMIT 1 OFFSET 3"
    ).fetchone()
    con.close()
    identify = {"event_id": "rt_login", "anonymous_id": cookie, "user_id": customer,
                "type": "identify", "occurred_at": MATERIALISED_AT}  # fmt: skip
    column = "behaviour__product_views__30d"
    with OnlineStore(settings) as store:
        before = store.recompute(profile, to_us(MATERIALISED_AT) + 1, store=False)
        applied = apply_event(store, "web_events", identify, at=from_us(to_us(MATERIALISED_AT) + 1))
        assert applied.relinked == [profile]
        after = store.get_online_features(profile, from_us(to_us(MATERIALISED_AT) + 1))
        assert after.values[column] == (before.values[column] if before else 0) + views
        at_login = store.get_online_features(profile, MATERIALISED_AT)  # the moment itself
        assert at_login.values[column] == (before.values[column] if before else 0)


def test_events_that_cannot_be_applied_say_why(online_home) -> None:
    with OnlineStore(online_home) as store:
        with pytest.raises(ContractError, match="unknown event source"):
            apply_event(store, "fax_events", {"event_id": "x"})
        with pytest.raises(ContractError, match="event_id"):
            apply_event(store, "web_events", {"type": "page_view", "occurred_at": "2025-12-02"})
        with pytest.raises(ContractError, match="lines"):
            apply_event(store, "orders", {"order_id": "o", "ordered_at": "2025-12-02"})
        with pytest.raises(ContractError, match="subscriber_id, type"):
            apply_event(store, "email_events", {"event_id": "e", "occurred_at": "2025-12-02"})
        email = {"event_id": "e", "subscriber_id": "s", "type": "open", "occurred_at": "soon"}
        with pytest.raises(ContractError, match="timestamp"):
            apply_event(store, "email_events", email)
