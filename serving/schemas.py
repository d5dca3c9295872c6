"""Request bodies of the service, as pydantic models: validation names the field that is wrong,
and the field descriptions and examples become the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IdentifierType = Literal[
    "email", "phone", "profile_id", "anonymous_id", "device_id", "customer_id", "contact_id",
    "subscriber_id", "order_id",
]  # fmt: skip
Channel = Literal["call_center", "email", "web", "app", "sms", "ads"]


class _Body(BaseModel):
    # Unknown fields are refused so a misspelt option is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Identifier(_Body):
    """One identifier of a person: an email, a phone, a profile id, a cookie or device id, or
    a source system's own id."""

    type: IdentifierType = Field(description="Kind of identifier.")
    value: str = Field(min_length=1, max_length=320, description="The identifier as typed.")


class NextBestOfferRequest(_Body):
    """Look a person up by one identifier and rank the offers for them."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"identifier": {"type": "email", "value": "jane.doe@example.com"}, "k": 5,
         "channel": "call_center"},
    ]})  # fmt: skip
    identifier: Identifier
    k: int = Field(default=5, ge=1, le=20, description="Number of offers.")
    channel: Channel = Field(default="call_center", description="Where the offer is made.")


class ProfileRequest(_Body):
    """The unified profile behind one identifier."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"identifier": {"type": "phone", "value": "+1 212 555 0134"}, "activity": 10},
    ]})  # fmt: skip
    identifier: Identifier
    activity: int = Field(default=10, ge=0, le=100, description="Recent events to return.")


class MatchRequest(_Body):
    """A person record as a source system holds it; at least a name, email or phone."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com",
         "phone": "212-555-0134", "date_of_birth": "1980-04-02", "postcode": "02110"},
    ]})  # fmt: skip
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    full_name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    date_of_birth: str | None = Field(default=None, max_length=32, description="YYYY-MM-DD")
    address_line: str | None = Field(default=None, max_length=400)
    city: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=32)


class PropensityRequest(_Body):
    """Calibrated probabilities for up to 1,000 profiles."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"profile_ids": ["p_000000000001"], "target": "any"},
    ]})  # fmt: skip
    profile_ids: list[str] = Field(min_length=1, max_length=1000)
    target: str = Field(
        default="any", max_length=100,
        description="`any` (any purchase in the horizon) or `purchase_<category>`.",
    )  # fmt: skip


class EventsRequest(_Body):
    """A batch of source events; each is applied once (by its id) however often it is sent."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"events": [{"source": "web_events", "event": {
            "event_id": "web_x1", "anonymous_id": "anon_1", "type": "product_view",
            "product_id": "prd_0001", "occurred_at": "2026-11-29T10:00:00Z"}}]},
    ]})  # fmt: skip
    events: list[SourceEvent] = Field(min_length=1, max_length=1000)


class SourceEvent(_Body):
    """One event with the columns of its source contract (see docs/features.md)."""

    source: Literal["orders", "web_events", "app_events", "email_events",
                    "call_center_interactions", "consents"]  # fmt: skip
    event: dict[str, object] = Field(description="The event's columns; orders carry `lines`.")


EventsRequest.model_rebuild()


class ForgetRequest(_Body):
    """Erase the person behind one identifier everywhere (admin only; issue #7)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"identifier": {"type": "email", "value": "jane.doe@example.com"}},
    ]})  # fmt: skip
    identifier: Identifier
