"""Each contract accepts a well-formed row and rejects each kind of bad value with a reason."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contracts import CONTRACTS, get_contract
from features.errors import UnknownSourceError
from features.validation import validate_batch

T = "2024-05-01T12:00:00Z"
VALID: dict[str, dict[str, str | None]] = {
    "shop_customers": {
        "customer_id": "c1", "email": "ann.lee@example.com", "first_name": "Ann",
        "last_name": "Lee", "phone": "(212) 555-0134", "date_of_birth": "1980-02-03",
        "address_line": "1 Main St", "city": "Boston", "postcode": "02110", "country_code": "US",
        "created_at": T, "updated_at": None,
    },
    "crm_contacts": {
        "contact_id": "k1", "first_name": "ANN", "last_name": "LEE", "email": None,
        "phone": "n/a", "date_of_birth": None, "address_line": None, "city": None,
        "postcode": None, "country_code": None, "created_at": T,
    },
    "email_subscribers": {
        "subscriber_id": "s1", "email": " Ann.Lee@Example.com ", "first_name": None,
        "last_name": None, "postcode": None, "status": "subscribed", "subscribed_at": T,
    },
    "orders": {
        "order_id": "o1", "customer_id": None, "guest_email": "ann@example.com",
        "channel": "web", "currency": "USD", "total_amount": "10.5", "ordered_at": T,
    },
    "order_lines": {
        "order_id": "o1", "line_number": "1", "product_id": "p1", "quantity": "-1",
        "unit_price": "10.5",
    },
    "products": {"product_id": "p1", "name": "Tent", "category": "tents", "price": "199"},
    "web_events": {
        "event_id": "e1", "anonymous_id": "a1", "user_id": None, "type": "product_view",
        "product_id": "p1", "at": T,
    },
    "app_events": {
        "event_id": "e1", "anonymous_id": None, "device_id": "d1", "user_id": "c1",
        "type": "identify", "product_id": None, "platform": "ios", "occurred_at": T,
    },
    "email_events": {
        "event_id": "m1", "subscriber_id": "s1", "campaign_id": "cmp1", "type": "open",
        "promoted_product_id": None, "promoted_category": "tents", "occurred_at": T,
    },
    "call_center_interactions": {
        "interaction_id": "i1", "contact_id": "k1", "phone": None, "order_id": None,
        "reason": "billing", "agent_id": "a7", "duration_seconds": "120", "occurred_at": T,
    },
    "consents": {
        "consent_id": "x1", "identifier_type": "email", "identifier_value": "ann@example.com",
        "purpose": "advertising", "status": "revoked", "source": "shop", "occurred_at": T,
    },
}  # fmt: skip

BAD: list[tuple[str, dict[str, str | None], str]] = [
    ("shop_customers", {"email": "ann.lee@example"}, "email: must look like an email"),
    ("shop_customers", {"phone": "call me maybe"}, "phone: must be a phone number"),
    ("shop_customers", {"date_of_birth": "1850-01-01"}, "date_of_birth: must be between 1900"),
    ("shop_customers", {"date_of_birth": "03/02/1980"}, "date_of_birth: must be a date"),
    ("shop_customers", {"created_at": "yesterday"}, "created_at: must be an ISO-8601"),
    ("shop_customers", {"created_at": "2200-01-01T00:00:00Z"}, "created_at: must be between"),
    ("shop_customers", {"created_at": None}, "created_at: is missing"),
    ("shop_customers", {"customer_id": "  "}, "customer_id: is missing"),
    ("shop_customers", {"country_code": "USA"}, "country_code: must be an ISO 3166"),
    ("shop_customers", {"first_name": "A" * 101}, "first_name: must be 1-100"),
    ("crm_contacts", {"email": "not an email"}, "email: must look like an email"),
    ("email_subscribers", {"email": "null"}, "email: is missing"),
    ("email_subscribers", {"status": "maybe"}, "status: must be one of"),
    ("orders", {"guest_email": None}, "needs customer_id or guest_email"),
    ("orders", {"total_amount": "-1"}, "total_amount: must be >= 0"),
    ("orders", {"total_amount": "ten"}, "total_amount: has the wrong type"),
    ("orders", {"currency": "usd"}, "currency: must be an ISO 4217"),
    ("orders", {"channel": "fax"}, "channel: must be one of"),
    ("order_lines", {"quantity": "0"}, "quantity: must not be 0"),
    ("order_lines", {"line_number": "0"}, "line_number: must be >= 1"),
    ("order_lines", {"quantity": "two"}, "quantity: has the wrong type"),
    ("order_lines", {"unit_price": "-0.01"}, "unit_price: must be >= 0"),
    ("products", {"price": None}, "price: is missing"),
    ("web_events", {"anonymous_id": None}, "needs anonymous_id or device_id"),
    ("web_events", {"type": "click"}, "type: must be one of"),
    ("web_events", {"product_id": None}, "product_id is required when type is"),
    ("web_events", {"type": "email_click"}, "subscriber_id is required when type is email_click"),
    ("app_events", {"user_id": None}, "user_id is required when type is identify"),
    ("app_events", {"platform": "windows"}, "platform: must be one of"),
    ("email_events", {"subscriber_id": None}, "subscriber_id: is missing"),
    ("email_events", {"type": "spam"}, "type: must be one of"),
    ("call_center_interactions", {"duration_seconds": "-5"}, "duration_seconds: must be >= 0"),
    ("call_center_interactions", {"contact_id": None}, "needs contact_id or phone"),
    ("consents", {"purpose": "sales"}, "purpose: must be one of"),
    ("consents", {"identifier_type": "ssn"}, "identifier_type: must be one of"),
]


def _check(source: str, row: dict[str, str | None]):
    contract = get_contract(source)
    names = {c.name: a for c in contract.columns for a in (c.name, *c.aliases) if a in row}
    batch = pa.RecordBatch.from_pylist(
        [{c: row[a] for c, a in names.items()}],
        schema=pa.schema([(c, pa.string()) for c in names]),
    )
    return validate_batch(batch, contract, 1, phone_region="US", source_timezone="UTC")


def test_every_source_has_a_valid_example() -> None:
    assert set(VALID) == set(CONTRACTS)


@pytest.mark.parametrize("source", sorted(VALID))
def test_contract_accepts_a_well_formed_row(source: str) -> None:
    result = _check(source, VALID[source])
    assert result.bad_reasons == []
    assert len(result.good) == 1


def test_accepted_rows_are_normalised() -> None:
    good = _check("shop_customers", VALID["shop_customers"]).good.iloc[0]
    assert good["phone"] == "+12125550134"
    assert good["created_at"].tzinfo is None  # stored as naive UTC
    crm = _check("crm_contacts", VALID["crm_contacts"]).good.iloc[0]
    assert crm["first_name"] == "Ann"
    assert pd.isna(crm["phone"])  # 'n/a' is a null token, not a bad phone
    sub = _check("email_subscribers", VALID["email_subscribers"]).good.iloc[0]
    assert sub["email"] == "ann.lee@example.com"


@pytest.mark.parametrize(("source", "change", "reason"), BAD, ids=[f"{s}-{r}" for s, _, r in BAD])
def test_contract_rejects_bad_value_with_reason(source: str, change: dict, reason: str) -> None:
    result = _check(source, {**VALID[source], **change})
    assert len(result.good) == 0
    assert result.bad_rows == [1]
    assert reason in result.bad_reasons[0]


def test_a_row_with_several_problems_reports_them_all() -> None:
    row = {**VALID["shop_customers"], "email": "x", "country_code": "USA", "created_at": "?"}
    reasons = _check("shop_customers", row).bad_reasons[0]
    for column in ("email", "country_code", "created_at"):
        assert f"{column}:" in reasons


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UnknownSourceError, match="shop_customers"):
        get_contract("shop_customer")


@pytest.mark.parametrize("source", sorted(VALID))
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_values_are_loaded_or_quarantined_with_a_reason_never_a_crash(source, data) -> None:
    """Property: whatever text a source row holds, validation neither raises nor loses it."""
    text = st.one_of(st.none(), st.text(max_size=40),
                     st.sampled_from(["", " ", "null", "0", "1e309", "-1", "2024-13-45",
                                      "NaN", "test@test.com", "+1", "\x00"]))  # fmt: skip
    rows = [{column: data.draw(text) for column in VALID[source]}
            for _ in range(data.draw(st.integers(1, 4)))]  # fmt: skip
    rows.append(VALID[source])  # one good row, so a batch is never wholly bad by construction
    batch = pa.RecordBatch.from_pylist(rows, schema=pa.schema(
        [(c, pa.string()) for c in VALID[source]]))  # fmt: skip
    result = validate_batch(batch, get_contract(source), 1, phone_region="US",
                            source_timezone="UTC")  # fmt: skip
    assert len(result.good) + len(result.bad_rows) == len(rows)
    assert all(reason for reason in result.bad_reasons)
    assert len(result.bad_records) == len(result.bad_rows)
