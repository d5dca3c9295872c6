"""The generated files: names, schemas, truth coverage, time window, referential integrity."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TS = pa.timestamp("us", tz="UTC")
S = pa.string()
SCHEMAS: dict[str, dict[str, pa.DataType]] = {
    "shop_customers": {
        "customer_id": S, "email": S, "first_name": S, "last_name": S, "phone": S,
        "date_of_birth": pa.date32(), "address_line": S, "city": S, "postcode": S,
        "country_code": S, "created_at": TS, "updated_at": TS,
    },
    "crm_contacts": {
        "contact_id": S, "first_name": S, "last_name": S, "email": S, "phone": S,
        "date_of_birth": pa.date32(), "address_line": S, "city": S, "postcode": S,
        "country_code": S, "created_at": TS, "updated_at": TS,
    },
    "email_subscribers": {
        "subscriber_id": S, "email": S, "first_name": S, "last_name": S, "postcode": S,
        "status": S, "subscribed_at": TS,
    },
    "orders": {
        "order_id": S, "customer_id": S, "guest_email": S, "ship_first_name": S,
        "ship_last_name": S, "ship_address_line": S, "ship_city": S, "ship_postcode": S,
        "channel": S, "currency": S, "total_amount": pa.float64(), "ordered_at": TS,
    },
    "order_lines": {
        "order_id": S, "line_number": pa.int32(), "product_id": S, "quantity": pa.int32(),
        "unit_price": pa.float64(),
    },
    "products": {
        "product_id": S, "name": S, "category": S, "subcategory": S, "brand": S,
        "price": pa.float64(), "created_at": TS,
    },
    "web_events": {
        "event_id": S, "anonymous_id": S, "device_id": S, "user_id": S, "subscriber_id": S,
        "campaign_id": S, "type": S, "product_id": S, "at": TS,
    },
    "app_events": {
        "event_id": S, "anonymous_id": S, "device_id": S, "user_id": S, "subscriber_id": S,
        "campaign_id": S, "type": S, "product_id": S, "at": TS, "platform": S,
    },
    "email_events": {
        "event_id": S, "subscriber_id": S, "campaign_id": S, "type": S,
        "promoted_product_id": S, "promoted_category": S, "at": TS,
    },
    "call_center_interactions": {
        "interaction_id": S, "contact_id": S, "phone": S, "order_id": S, "reason": S,
        "agent_id": S, "duration_seconds": pa.int32(), "at": TS,
    },
    "consents": {
        "consent_id": S, "identifier_type": S, "identifier_value": S, "purpose": S, "status": S,
        "source": S, "at": TS,
    },
    "truth/records": {"source": S, "record_id": S, "person_id": S},
    "truth/anonymous": {"identifier_type": S, "identifier_value": S, "person_id": S},
}  # fmt: skip
EVENT_TIMES = {
    "orders": "ordered_at", "web_events": "at", "app_events": "at", "email_events": "at",
    "call_center_interactions": "at", "consents": "at",
}  # fmt: skip
KEYS = {
    "shop_customers": "customer_id", "crm_contacts": "contact_id",
    "email_subscribers": "subscriber_id", "orders": "order_id", "products": "product_id",
    "web_events": "event_id", "app_events": "event_id", "email_events": "event_id",
    "call_center_interactions": "interaction_id", "consents": "consent_id",
}  # fmt: skip


def test_files_and_schemas_are_exactly_the_contracted_ones(world) -> None:
    written = sorted(str(p.relative_to(world.path)) for p in world.path.rglob("*") if p.is_file())
    expected = sorted(
        [f"{name}.parquet" for name in SCHEMAS] + ["truth/people.parquet", "manifest.json"]
    )
    assert written == expected
    for name, columns in SCHEMAS.items():
        schema = pq.read_schema(world.path / f"{name}.parquet")
        assert dict(zip(schema.names, schema.types, strict=True)) == columns, name
        assert schema.metadata is None or b"pandas" not in schema.metadata


def test_manifest_has_config_and_rows_but_no_clock_time(world) -> None:
    manifest = json.loads((world.path / "manifest.json").read_text())
    assert manifest["config"]["people"] == world.config.people
    assert manifest["files"] == world.summary.rows
    for name, rows in manifest["files"].items():
        assert pq.ParquetFile(world.path / f"{name}.parquet").metadata.num_rows == rows
    assert "seconds" not in json.dumps(manifest)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_keys_are_unique_and_present(world, name) -> None:
    key = world[name][KEYS[name]]
    assert key.notna().all() and key.is_unique


def test_every_known_person_record_has_exactly_one_truth_row(world) -> None:
    truth = world["truth/records"]
    assert not truth.duplicated(["source", "record_id"]).any()
    assert truth["person_id"].isin(world.people.index).all()
    expected = {
        "shop_customers": set(world["shop_customers"]["customer_id"]),
        "crm_contacts": set(world["crm_contacts"]["contact_id"]),
        "email_subscribers": set(world["email_subscribers"]["subscriber_id"]),
        "orders": set(world["orders"].loc[world["orders"]["customer_id"].isna(), "order_id"]),
    }
    for source, ids in expected.items():
        assert set(truth.loc[truth["source"] == source, "record_id"]) == ids, source
    assert set(truth["source"]) == set(expected)


def test_every_anonymous_identifier_in_events_has_truth_rows(world) -> None:
    truth = world["truth/anonymous"]
    assert not truth.duplicated().any()
    web, app = world["web_events"], world["app_events"]
    seen = {
        "anonymous_id": set(web["anonymous_id"]) | set(app["anonymous_id"]),
        "device_id": set(app["device_id"]),
    }
    for kind, ids in seen.items():
        assert set(truth.loc[truth["identifier_type"] == kind, "identifier_value"]) == ids, kind


@pytest.mark.parametrize("name", sorted(EVENT_TIMES))
def test_event_times_fall_inside_the_window(world, name) -> None:
    times = world[name][EVENT_TIMES[name]]
    assert times.notna().all()
    assert times.min() >= world.start and times.max() < world.end


def test_record_times_are_ordered_and_before_the_end(world) -> None:
    for name in ("shop_customers", "crm_contacts"):
        frame = world[name]
        assert (frame["updated_at"] >= frame["created_at"]).all()
        assert frame["updated_at"].max() < world.end
    assert world["email_subscribers"]["subscribed_at"].max() < world.end


def test_orders_have_lines_and_totals_that_add_up(world) -> None:
    orders, lines = world["orders"], world["order_lines"]
    assert set(lines["order_id"]) == set(orders["order_id"])
    assert (lines["quantity"] >= 1).all() and (lines["unit_price"] >= 0).all()
    numbers = lines.groupby("order_id")["line_number"].agg(["min", "max", "count"])
    assert (numbers["min"] == 1).all() and (numbers["max"] == numbers["count"]).all()
    amount = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum()
    total = orders.set_index("order_id")["total_amount"]
    assert np.allclose(total.loc[amount.index], amount, atol=0.005)
    assert (orders["currency"] == "USD").all()
    assert set(orders["channel"]) == {"web", "app", "call_center"}


def test_guest_orders_carry_an_email_and_account_orders_do_not(world) -> None:
    orders = world["orders"]
    guest = orders["customer_id"].isna()
    assert guest.any() and (~guest).any()
    assert orders.loc[guest, "guest_email"].notna().all()
    assert orders.loc[~guest, "guest_email"].isna().all()
    assert orders[["ship_first_name", "ship_address_line", "ship_postcode"]].notna().all().all()


def test_references_point_at_existing_records(world) -> None:
    products = set(world["products"]["product_id"])
    customers = set(world["shop_customers"]["customer_id"])
    subscribers = set(world["email_subscribers"]["subscriber_id"])
    campaigns = set(world["email_events"]["campaign_id"])
    assert set(world["order_lines"]["product_id"]) <= products
    assert set(world["orders"]["customer_id"].dropna()) <= customers
    for name in ("web_events", "app_events"):
        events = world[name]
        assert set(events["user_id"].dropna()) <= customers | {"0"}
        assert set(events["product_id"].dropna()) <= products
    web = world["web_events"]
    assert set(web["subscriber_id"].dropna()) <= subscribers
    assert set(web["campaign_id"].dropna()) <= campaigns
    emails = world["email_events"]
    assert set(emails["subscriber_id"]) <= subscribers
    assert set(emails["promoted_product_id"].dropna()) <= products
    assert set(emails["promoted_category"]) <= set(world["products"]["category"])
    calls = world["call_center_interactions"]
    assert set(calls["contact_id"].dropna()) <= set(world["crm_contacts"]["contact_id"])
    assert set(calls["order_id"].dropna()) <= set(world["orders"]["order_id"])


def test_event_columns_follow_their_type(world) -> None:
    web, app = world["web_events"], world["app_events"]
    assert set(web["type"]) == {
        "page_view",
        "product_view",
        "add_to_cart",
        "identify",
        "email_click",
    }
    assert set(app["type"]) == {"page_view", "product_view", "add_to_cart", "identify"}
    assert web["device_id"].isna().all() and web["anonymous_id"].notna().all()
    assert app["device_id"].notna().all() and app["anonymous_id"].notna().all()
    assert set(app["platform"]) == {"ios", "android"}
    for events in (web, app):
        needs_product = events["type"].isin(["product_view", "add_to_cart"])
        assert events.loc[needs_product, "product_id"].notna().all()
        assert events.loc[events["type"] == "identify", "user_id"].notna().all()
        assert events.loc[events["type"].isin(["page_view", "identify"]), "product_id"].isna().all()
    click = web["type"] == "email_click"
    assert web.loc[click, ["subscriber_id", "campaign_id"]].notna().all().all()
    assert web.loc[~click, ["subscriber_id", "campaign_id"]].isna().all().all()
    assert set(world["email_events"]["type"]) == {"send", "open", "click", "unsubscribe"}
    subscribers = world["email_subscribers"]
    assert subscribers["email"].notna().all()
    assert set(subscribers["status"]) == {"subscribed", "unsubscribed", "bounced"}
    calls = world["call_center_interactions"]
    assert (calls["duration_seconds"] >= 0).all()
    consents = world["consents"]
    assert set(consents["identifier_type"]) == {"email", "phone", "customer_id", "anonymous_id"}
    assert set(consents["purpose"]) == {
        "email_marketing",
        "advertising",
        "personalization",
        "profiling",
    }
    assert set(consents["status"]) == {"granted", "revoked"}


def test_person_attributes_look_american_and_valid(world) -> None:
    junk = {"0000000000", "1111111111"}
    for name in ("shop_customers", "crm_contacts"):
        frame = world[name]
        phones = frame["phone"].dropna()
        phones = phones[~phones.isin(junk)]
        valid = phones.map(lambda p: phonenumbers.is_valid_number(phonenumbers.parse(p, "US")))
        assert valid.all(), phones[~valid].head().tolist()
        assert not phones.str.replace(r"\D", "", regex=True).str[-7:-4].eq("555").any()
        assert frame["postcode"].dropna().str.fullmatch(r"\d{5}").all()
        assert set(frame["country_code"].dropna()) == {"US"}
        born = frame["date_of_birth"].dropna()
        assert born.min() > pd.Timestamp("1920-01-01").date()
    pattern = r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
    for name, column in (
        ("shop_customers", "email"),
        ("email_subscribers", "email"),
        ("orders", "guest_email"),
    ):
        emails = world[name][column].dropna().str.strip().str.lower()
        assert emails.str.match(pattern).all(), name


def test_importing_the_package_does_no_work() -> None:
    code = (
        "import sys; import features.world as w; "
        "assert 'faker' not in sys.modules and 'features.world.generate' not in sys.modules; "
        "assert callable(w.generate_world) and 'features.world.generate' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
