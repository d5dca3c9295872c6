"""Contracts of commerce data: orders (account or guest), their lines, the product catalog."""

from __future__ import annotations

import pandera.pandas as pa

from features.contracts.base import (
    Column,
    SourceContract,
    amount,
    at_least_one,
    email,
    key_id,
    one_of,
    person_name,
    postcode,
    ref_id,
    text,
    timestamp,
)

ORDERS = SourceContract(
    name="orders",
    description="Orders from an account (customer_id) or a guest checkout (guest_email).",
    kind="entity",
    key=("order_id",),
    columns=(
        key_id("order_id", "order id"),
        ref_id("customer_id", description="shop account; missing for guest orders"),
        email("guest_email"),
        person_name("ship_first_name"),
        person_name("ship_last_name"),
        text("ship_address_line"),
        text("ship_city", max_length=100),
        postcode("ship_postcode"),
        one_of("channel", ("web", "app", "call_center", "store")),
        Column(
            "currency",
            role="text",
            nullable=False,
            checks=(pa.Check.str_matches(r"^[A-Z]{3}$", error="must be an ISO 4217 code"),),
        ),
        amount("total_amount"),
        timestamp("ordered_at"),
    ),
    row_checks=(at_least_one(("customer_id", "guest_email")),),
)

ORDER_LINES = SourceContract(
    name="order_lines",
    description="Order lines; a negative quantity is a return.",
    kind="entity",
    key=("order_id", "line_number"),
    columns=(
        ref_id("order_id", nullable=False),
        Column(
            "line_number",
            type="int",
            nullable=False,
            checks=(pa.Check.ge(1, error="must be >= 1"),),
        ),
        ref_id("product_id", nullable=False),
        Column(
            "quantity", type="int", nullable=False, checks=(pa.Check.ne(0, error="must not be 0"),)
        ),
        amount("unit_price"),
    ),
)

PRODUCTS = SourceContract(
    name="products",
    description="The product catalog with category and list price.",
    kind="entity",
    key=("product_id",),
    columns=(
        key_id("product_id", "product id"),
        text("name", required=True, nullable=False, max_length=200),
        text("category", required=True, nullable=False, max_length=100),
        text("subcategory", max_length=100),
        text("brand", max_length=100),
        amount("price"),
        timestamp("created_at", nullable=True, required=False),
    ),
)
