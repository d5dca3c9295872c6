"""Contracts of the systems that hold known persons: shop accounts, CRM, email marketing."""

from __future__ import annotations

from features.contracts.base import (
    SourceContract,
    birth_date,
    country_code,
    email,
    key_id,
    one_of,
    person_name,
    phone,
    postcode,
    text,
    timestamp,
)

_ADDRESS = (text("address_line"), text("city", max_length=100), postcode(), country_code())

SHOP_CUSTOMERS = SourceContract(
    name="shop_customers",
    description="E-commerce accounts: one row per account; a person may hold several.",
    kind="entity",
    key=("customer_id",),
    columns=(
        key_id("customer_id", "shop account id (the user_id of logged-in events)"),
        email("email"),
        person_name("first_name"),
        person_name("last_name"),
        phone("phone"),
        birth_date(),
        *_ADDRESS,
        timestamp("created_at"),
        timestamp("updated_at", nullable=True, required=False),
    ),
)

CRM_CONTACTS = SourceContract(
    name="crm_contacts",
    description="Call-center CRM contacts: names, phones as agents typed them; email often absent.",
    kind="entity",
    key=("contact_id",),
    columns=(
        key_id("contact_id", "CRM contact id"),
        person_name("first_name"),
        person_name("last_name"),
        email("email", required=False),
        phone("phone"),
        birth_date(),
        *_ADDRESS,
        timestamp("created_at"),
        timestamp("updated_at", nullable=True, required=False),
    ),
)

EMAIL_SUBSCRIBERS = SourceContract(
    name="email_subscribers",
    description="Marketing-cloud subscribers: an email, sometimes a name and postcode.",
    kind="entity",
    key=("subscriber_id",),
    columns=(
        key_id("subscriber_id", "marketing-cloud subscriber id"),
        email("email", nullable=False),
        person_name("first_name"),
        person_name("last_name"),
        postcode(),
        one_of("status", ("subscribed", "unsubscribed", "bounced")),
        timestamp("subscribed_at"),
    ),
)
