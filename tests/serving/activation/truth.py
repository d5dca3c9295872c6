"""The generator's truth about people, for checking audiences: who bought what, who consented
to what through which identifier, and which profiles are exactly one person.

Only tests read the truth. Facts are tied to people by the truth files (records -> person,
cookies -> people) and the raw source files, never by the pipeline's own identity tables,
except to list the records each profile holds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd


def open_truth(world: Path, warehouse: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the truth views below over `world` and the `warehouse`."""
    con = duckdb.connect()
    for name in ("consents", "email_subscribers", "orders", "order_lines", "web_events",
                 "app_events", "call_center_interactions", "products", "shop_customers",
                 "crm_contacts"):  # fmt: skip
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{world}/{name}.parquet')")
    for name in ("records", "people", "anonymous"):
        con.execute(f"CREATE VIEW truth_{name} AS SELECT * FROM "
                    f"read_parquet('{world}/truth/{name}.parquet')")  # fmt: skip
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    con.execute("""
        CREATE TABLE profile_people AS
        SELECT DISTINCT r.profile_id, t.person_id FROM wh.identity_records r
        JOIN truth_records t ON t.source = r.source AND t.record_id = r.record_id""")
    # A profile is exact when its records are all of one person and all that person's records.
    con.execute("""
        CREATE TABLE exact_profiles AS
        WITH per_profile AS (
            SELECT r.profile_id, MIN(t.person_id) AS person_id,
                   COUNT(DISTINCT t.person_id) AS people, COUNT(*) AS records
            FROM wh.identity_records r
            JOIN truth_records t ON t.source = r.source AND t.record_id = r.record_id
            GROUP BY r.profile_id
        ), per_person AS (SELECT person_id, COUNT(*) AS records FROM truth_records GROUP BY 1)
        SELECT p.profile_id, p.person_id FROM per_profile p JOIN per_person q USING (person_id)
        WHERE p.people = 1 AND p.records = q.records""")
    con.execute("""
        CREATE TABLE purchases_people AS
        SELECT l.product_id, l.quantity, o.ordered_at, COALESCE(a.person_id, g.person_id)
               AS person_id
        FROM orders o JOIN order_lines l USING (order_id)
        LEFT JOIN truth_records a ON a.source = 'shop_customers' AND a.record_id = o.customer_id
        LEFT JOIN truth_records g ON g.source = 'orders' AND g.record_id = o.order_id""")
    # Consents by the person who gave them: a subscription's email, an account, a cookie that
    # someone ever logged in on (a banner answer on a browser nobody identified on is nobody's
    # knowable choice), the caller of a do-not-call request (matched on number and time).
    con.execute("""
        CREATE TABLE consent_people AS
        SELECT c.*, t.person_id FROM consents c
        JOIN email_subscribers s ON c.identifier_type = 'email' AND s.email = c.identifier_value
        JOIN truth_records t ON t.source = 'email_subscribers' AND t.record_id = s.subscriber_id
        UNION
        SELECT c.*, t.person_id FROM consents c
        JOIN truth_records t ON c.identifier_type = 'customer_id'
             AND t.source = 'shop_customers' AND t.record_id = c.identifier_value
        UNION
        SELECT c.*, a.person_id FROM consents c
        JOIN truth_anonymous a ON c.identifier_type = 'anonymous_id'
             AND a.identifier_type = 'anonymous_id' AND a.identifier_value = c.identifier_value
        WHERE c.identifier_value IN (
            SELECT anonymous_id FROM web_events WHERE user_id IS NOT NULL
                OR subscriber_id IS NOT NULL
            UNION SELECT anonymous_id FROM app_events WHERE user_id IS NOT NULL
                OR subscriber_id IS NOT NULL)
        UNION
        SELECT c.*, t.person_id FROM consents c
        JOIN call_center_interactions k ON c.identifier_type = 'phone'
             AND abs(epoch(c."at") - epoch(k."at") - k.duration_seconds) < 2
        JOIN truth_records t ON t.source = 'crm_contacts' AND t.record_id = k.contact_id""")
    return con


def _utc(at: str) -> str:
    return pd.Timestamp(at).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def person_consents(con: duckdb.DuckDBPyConnection, at: str) -> pd.DataFrame:
    """Per person and purpose before `at`, over each identifier's latest choice: granted (a
    grant newer than every refusal: the most restrictive choice holds unless a newer explicit
    grant overrides it) and revoked (a refusal no newer grant overrides)."""
    return con.sql(f"""
        SELECT person_id, purpose, granted_at IS NOT NULL
                   AND (revoked_at IS NULL OR granted_at > revoked_at) AS granted,
               revoked_at IS NOT NULL AND (granted_at IS NULL OR granted_at <= revoked_at)
                   AS revoked
        FROM (SELECT person_id, purpose,
                     MAX(CASE WHEN status = 'granted' THEN "at" END) AS granted_at,
                     MAX(CASE WHEN status = 'revoked' THEN "at" END) AS revoked_at
              FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id, identifier_type,
                        identifier_value, purpose ORDER BY "at" DESC, consent_id DESC) AS newest
                    FROM consent_people WHERE "at" < TIMESTAMPTZ '{_utc(at)}')
              WHERE newest = 1 GROUP BY person_id, purpose)""").df()


def buyers(
    con: duckdb.DuckDBPyConnection,
    at: str,
    product_id: str | None = None,
    category: str | None = None,
) -> set[str]:
    """People who bought the product (or a product of the category) before `at`: a line with a
    positive quantity."""
    rows = con.execute(
        "SELECT DISTINCT person_id FROM purchases_people WHERE quantity > 0 "
        f"AND ordered_at < TIMESTAMPTZ '{_utc(at)}' AND (product_id = ? OR product_id IN "
        "(SELECT product_id FROM products WHERE category = ?))",
        [product_id, category],
    ).fetchall()
    return {r[0] for r in rows}


def person_identifiers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(person_id, kind, value): every email and phone as written on the person's records."""
    rows = con.sql("""
        SELECT t.person_id, 'email' AS kind, s.email AS value FROM shop_customers s
        JOIN truth_records t ON t.source = 'shop_customers' AND t.record_id = s.customer_id
        UNION SELECT t.person_id, 'phone', s.phone FROM shop_customers s
        JOIN truth_records t ON t.source = 'shop_customers' AND t.record_id = s.customer_id
        UNION SELECT t.person_id, 'email', c.email FROM crm_contacts c
        JOIN truth_records t ON t.source = 'crm_contacts' AND t.record_id = c.contact_id
        UNION SELECT t.person_id, 'phone', c.phone FROM crm_contacts c
        JOIN truth_records t ON t.source = 'crm_contacts' AND t.record_id = c.contact_id
        UNION SELECT t.person_id, 'email', e.email FROM email_subscribers e
        JOIN truth_records t ON t.source = 'email_subscribers' AND t.record_id = e.subscriber_id
        UNION SELECT t.person_id, 'email', o.guest_email FROM orders o
        JOIN truth_records t ON t.source = 'orders' AND t.record_id = o.order_id
    """)
    return rows.df().dropna()


def people_of(con: duckdb.DuckDBPyConnection, profile_ids: list[str]) -> pd.DataFrame:
    """(profile_id, person_id, exact) of each profile's records."""
    frame = pd.DataFrame({"profile_id": profile_ids})
    con.register("asked", frame)
    try:
        return con.sql("""
            SELECT a.profile_id, p.person_id, e.profile_id IS NOT NULL AS exact FROM asked a
            JOIN profile_people p USING (profile_id)
            LEFT JOIN exact_profiles e ON e.profile_id = a.profile_id""").df()
    finally:
        con.unregister("asked")
