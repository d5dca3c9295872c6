"""Contracts of behavioural streams: web and app events, email events, calls, consents."""

from __future__ import annotations

import pandera.pandas as pa

from features.contracts.base import (
    Column,
    SourceContract,
    at_least_one,
    key_id,
    one_of,
    phone,
    ref_id,
    required_when,
    timestamp,
)

EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "identify", "email_click")
PURPOSES = ("email_marketing", "advertising", "personalization", "profiling")
IDENTIFIER_TYPES = (
    "email",
    "phone",
    "customer_id",
    "contact_id",
    "subscriber_id",
    "anonymous_id",
    "device_id",
)


def _behaviour_columns(*extra: Column) -> tuple[Column, ...]:
    return (
        key_id("event_id", "event id; replays with the same id are ignored"),
        ref_id("anonymous_id", description="cookie or app-install id"),
        ref_id("device_id", required=False, description="app device id"),
        ref_id("user_id", description="shop customer_id once logged in"),
        ref_id("subscriber_id", required=False, description="set by email clicks"),
        ref_id("campaign_id", required=False),
        one_of("type", EVENT_TYPES),
        ref_id("product_id"),
        *extra,
        timestamp("occurred_at", aliases=("at",)),
    )


_BEHAVIOUR_RULES = (
    at_least_one(("anonymous_id", "device_id")),
    required_when("user_id", "type", ("identify",)),
    required_when("product_id", "type", ("product_view", "add_to_cart")),
    required_when("subscriber_id", "type", ("email_click",)),
)

WEB_EVENTS = SourceContract(
    name="web_events",
    description="Website events keyed by cookie (anonymous_id); user_id once logged in.",
    kind="event",
    key=("event_id",),
    columns=_behaviour_columns(),
    row_checks=_BEHAVIOUR_RULES,
)

APP_EVENTS = SourceContract(
    name="app_events",
    description="Mobile-app events keyed by device_id and install id; user_id once logged in.",
    kind="event",
    key=("event_id",),
    columns=_behaviour_columns(one_of("platform", ("ios", "android", "web"), nullable=True)),
    row_checks=_BEHAVIOUR_RULES,
)

EMAIL_EVENTS = SourceContract(
    name="email_events",
    description="Marketing-cloud sends, opens, clicks, unsubscribes per subscriber and campaign.",
    kind="event",
    key=("event_id",),
    columns=(
        key_id("event_id", "event id"),
        ref_id("subscriber_id", nullable=False),
        ref_id("campaign_id", nullable=False),
        one_of("type", ("send", "open", "click", "unsubscribe", "bounce")),
        ref_id("promoted_product_id"),
        ref_id("promoted_category"),
        timestamp("occurred_at", aliases=("at",)),
    ),
)

CALL_CENTER_INTERACTIONS = SourceContract(
    name="call_center_interactions",
    description="Call-center contacts with reason, caller phone and the order they concern.",
    kind="event",
    key=("interaction_id",),
    columns=(
        key_id("interaction_id", "interaction id"),
        ref_id("contact_id"),
        phone("phone", required=True),
        ref_id("order_id"),
        one_of(
            "reason",
            ("order_status", "return", "product_question", "complaint", "billing", "other"),
        ),
        ref_id("agent_id"),
        Column(
            "duration_seconds",
            type="int",
            checks=(pa.Check.ge(0, error="must be >= 0"),),
        ),
        timestamp("occurred_at", aliases=("at",)),
    ),
    row_checks=(at_least_one(("contact_id", "phone")),),
)

CONSENTS = SourceContract(
    name="consents",
    description="Consent grants and revocations per identifier and purpose; the latest wins.",
    kind="event",
    key=("consent_id",),
    columns=(
        key_id("consent_id", "consent record id"),
        one_of("identifier_type", IDENTIFIER_TYPES),
        ref_id("identifier_value", nullable=False),
        one_of("purpose", PURPOSES),
        one_of("status", ("granted", "revoked")),
        ref_id("source", required=False),
        timestamp("occurred_at", aliases=("at",)),
    ),
)
