"""The warehouse as the event log: temporary DuckDB views in the shape of features.event_log.

Reads the source tables and what `cdp resolve` wrote (identity_records, identity_index,
anonymous_links); writes nothing, so it works on a read-only connection. Events are tied to
profiles here: orders through the shop account or the guest order's record, web and app events
through the logged-in user (else the cookie or device, at query time), email events through the
subscription, calls through the CRM contact, consents through any identifier of the profile.

The category reference price a purchase is compared with is the mean list price of the
category's products launched by the time of the purchase, so a product launched later never
changes an earlier feature.
"""

from __future__ import annotations

import duckdb

from features.contracts.commerce import ORDERS
from features.errors import ContractError
from features.identity.profiles import SOURCE_ID_TYPES

DAY = 86_400_000_000
NEVER = -(2**62)  # launch time of products without one: known from the start


def us(column: str) -> str:
    """SQL: a TIMESTAMP column as integer microseconds since 1970 (stored as UTC)."""
    return f"CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000000) AS BIGINT)"


def day_of(column: str) -> str:
    """SQL: integer microseconds as whole UTC days since 1970 (floor)."""
    return f"CAST(FLOOR({column} / {DAY}.0) AS BIGINT)"


def order_channels() -> tuple[str, ...]:
    """Order channels the orders contract allows."""
    column = next(c for c in ORDERS.columns if c.name == "channel")
    return tuple(column.checks[0].statistics["allowed_values"])


_REQUIRED_TABLES = ("identity_records", "identity_index", "anonymous_links")


def register_warehouse_relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the event-log views over the warehouse; return the product categories.

    Raises ContractError when the warehouse has no resolved profiles yet.
    """
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    missing = [t for t in _REQUIRED_TABLES if t not in tables]
    if missing:
        raise ContractError(
            f"the warehouse has no {', '.join(missing)}; run `cdp resolve` before building features"
        )
    source_types = " ".join(f"WHEN '{s}' THEN '{t}'" for s, t in SOURCE_ID_TYPES.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE identifiers AS
        SELECT CASE source {source_types} END AS identifier_type, record_id AS identifier_value,
               profile_id AS entity_id, CAST(NULL AS BIGINT) AS linked_at
        FROM identity_records WHERE profile_id IS NOT NULL
        UNION ALL
        SELECT identifier_type, identifier_value, profile_id, {us("first_seen_at")}
        FROM anonymous_links
        UNION ALL
        SELECT identifier_type, identifier_value, profile_id, CAST(NULL AS BIGINT)
        FROM identity_index WHERE identifier_type IN ('email', 'phone')
    """)
    register_category_prices(con, "products", "price", f"{us('created_at')}")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW log_purchases AS
        SELECT l.order_id || ':' || CAST(l.line_number AS VARCHAR) AS event_id,
               COALESCE(c.entity_id, g.entity_id) AS entity_id, o.order_id, l.product_id,
               p.category, l.quantity,
               CAST(ROUND(l.unit_price * 100) AS BIGINT) AS unit_price_cents,
               l.quantity * CAST(ROUND(l.unit_price * 100) AS BIGINT) AS amount_cents,
               r.ref_price_cents, o.channel, o.t, {day_of("o.t")} AS day
        FROM (SELECT *, {us("ordered_at")} AS t FROM orders) o
        JOIN order_lines l ON l.order_id = o.order_id
        LEFT JOIN identifiers c ON c.identifier_type = 'customer_id'
             AND c.identifier_value = o.customer_id
        LEFT JOIN identifiers g ON g.identifier_type = 'order_id'
             AND g.identifier_value = o.order_id
        LEFT JOIN products p ON p.product_id = l.product_id
        LEFT JOIN category_prices r ON r.category = p.category AND o.t >= r.valid_from
             AND (r.valid_to IS NULL OR o.t < r.valid_to)
        WHERE COALESCE(c.entity_id, g.entity_id) IS NOT NULL
    """)
    behaviour = " UNION ALL ".join(
        f"""SELECT '{name}:' || e.event_id AS event_id,
               COALESCE(u.entity_id, s.entity_id) AS user_entity_id, e.anonymous_id, e.device_id,
               '{name}' AS source, e.type, e.product_id, p.category, e.t, {day_of("e.t")} AS day
        FROM (SELECT *, {us("occurred_at")} AS t FROM {name}_events) e
        LEFT JOIN identifiers u ON u.identifier_type = 'customer_id'
             AND u.identifier_value = e.user_id
        LEFT JOIN identifiers s ON s.identifier_type = 'subscriber_id'
             AND s.identifier_value = e.subscriber_id
        LEFT JOIN products p ON p.product_id = e.product_id"""
        for name in ("web", "app")
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW log_behaviour AS {behaviour}")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW log_email AS
        SELECT e.event_id, s.entity_id, e.type, e.promoted_category AS category, e.t,
               {day_of("e.t")} AS day
        FROM (SELECT *, {us("occurred_at")} AS t FROM email_events) e
        JOIN identifiers s ON s.identifier_type = 'subscriber_id'
             AND s.identifier_value = e.subscriber_id
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW log_calls AS
        SELECT e.interaction_id AS event_id, c.entity_id, e.reason, e.duration_seconds, e.t,
               {day_of("e.t")} AS day
        FROM (SELECT *, {us("occurred_at")} AS t FROM call_center_interactions) e
        JOIN identifiers c ON c.identifier_type = 'contact_id' AND c.identifier_value = e.contact_id
    """)
    records = " UNION ALL ".join(
        f"""SELECT '{source}:' || r.{key} AS event_id, i.entity_id, '{kind}' AS kind, r.t,
               {day_of("r.t")} AS day
        FROM (SELECT {key}, {us(at)} AS t FROM {source}) r
        JOIN identifiers i ON i.identifier_type = '{key}' AND i.identifier_value = r.{key}"""
        for source, key, kind, at in (
            ("shop_customers", "customer_id", "shop_account", "created_at"),
            ("crm_contacts", "contact_id", "crm_contact", "created_at"),
            ("email_subscribers", "subscriber_id", "subscription", "subscribed_at"),
        )
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW log_records AS {records}")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW log_consents AS
        SELECT consent_id AS event_id, identifier_type, identifier_value, purpose, status, t,
               {day_of("t")} AS day
        FROM (SELECT *, {us("occurred_at")} AS t FROM consents) c
    """)
    rows = con.execute(
        "SELECT DISTINCT category FROM products WHERE category IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def register_category_prices(
    con: duckdb.DuckDBPyConnection, table: str, price: str | None, launched: str | None
) -> None:
    """`category_prices`: per category, intervals [valid_from, valid_to) of the mean list price
    in cents over the products launched so far (`launched`: SQL of a launch time in
    microseconds, NULL = always known). Without a price column the table is empty."""
    if price is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE category_prices (category VARCHAR, valid_from BIGINT, "
            "valid_to BIGINT, ref_price_cents BIGINT)"
        )
        return
    launched_sql = f"COALESCE({launched}, {NEVER})" if launched else str(NEVER)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE category_prices AS
        WITH launches AS (
            SELECT category, {launched_sql} AS launched,
                   CAST(ROUND({price} * 100) AS BIGINT) AS cents
            FROM {table} WHERE category IS NOT NULL AND {price} IS NOT NULL
        ), steps AS (
            SELECT category, launched,
                   SUM(SUM(cents)) OVER (PARTITION BY category ORDER BY launched) AS total,
                   SUM(COUNT(*)) OVER (PARTITION BY category ORDER BY launched) AS n
            FROM launches GROUP BY category, launched
        )
        SELECT category, launched AS valid_from,
               LEAD(launched) OVER (PARTITION BY category ORDER BY launched) AS valid_to,
               CAST(ROUND(CAST(total AS DOUBLE) / n) AS BIGINT) AS ref_price_cents
        FROM steps
    """)
