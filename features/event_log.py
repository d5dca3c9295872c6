"""The event log: the normalised relations every feature reads, one schema for every engine.

Offline these are DuckDB views over the warehouse (features.relations) or over a transactions
file (features.transactions); online they are SQLite tables (features.online), filled by
`materialize` and appended to by real-time events. Feature SQL never reads a source table, only
the relations below, so both engines compute the same values from the same rows.

Each relation row carries `t` (event time, integer microseconds since 1970, UTC), `day` (whole
UTC days since 1970) and `known_at`: when the row became attributable to its entity. Most rows
are known when they happen; a cookie's or device's events become a profile's only once the
cookie is linked to it (`identifiers.linked_at`, the first identify or login that claimed it),
so a feature at T never uses a link discovered after T. Cutting every relation at
`known_at < $as_of` is the whole point-in-time rule.
"""

from __future__ import annotations

LOG_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "log_purchases": (
        ("event_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("order_id", "VARCHAR"),
        ("product_id", "VARCHAR"), ("category", "VARCHAR"), ("quantity", "BIGINT"),
        ("unit_price_cents", "BIGINT"), ("amount_cents", "BIGINT"),
        ("ref_price_cents", "BIGINT"), ("channel", "VARCHAR"), ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    "log_behaviour": (
        ("event_id", "VARCHAR"), ("user_entity_id", "VARCHAR"), ("anonymous_id", "VARCHAR"),
        ("device_id", "VARCHAR"), ("source", "VARCHAR"), ("type", "VARCHAR"),
        ("product_id", "VARCHAR"), ("category", "VARCHAR"), ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    "log_email": (
        ("event_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("type", "VARCHAR"),
        ("category", "VARCHAR"), ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    "log_calls": (
        ("event_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("reason", "VARCHAR"),
        ("duration_seconds", "BIGINT"), ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    "log_records": (
        ("event_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("kind", "VARCHAR"),
        ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    "log_consents": (
        ("event_id", "VARCHAR"), ("identifier_type", "VARCHAR"), ("identifier_value", "VARCHAR"),
        ("purpose", "VARCHAR"), ("status", "VARCHAR"), ("t", "BIGINT"), ("day", "BIGINT"),
    ),
    # identifier -> entity. Source ids, emails and phones have no linked_at (known from the
    # start); stitched cookies and devices carry the time their link was first claimed.
    "identifiers": (
        ("identifier_type", "VARCHAR"), ("identifier_value", "VARCHAR"),
        ("entity_id", "VARCHAR"), ("linked_at", "BIGINT"),
    ),
}  # fmt: skip

RELATION_TABLES = {
    "purchases": "log_purchases",
    "behaviour": "log_behaviour",
    "email": "log_email",
    "calls": "log_calls",
    "records": "log_records",
    "consents": "log_consents",
}


def columns_of(table: str) -> list[str]:
    """Column names of a log table, in order."""
    return [name for name, _ in LOG_TABLES[table]]


def _known(link: str, row: str = "b") -> str:
    return f"CASE WHEN {link}.linked_at > {row}.t THEN {link}.linked_at ELSE {row}.t END"


def relation_sql(relation: str, *, one_entity: bool) -> str:
    """All rows of `relation` with `entity_id` and `known_at` (not cut at $as_of).

    With `one_entity`, every branch is filtered by `$entity_id` where an index can serve it
    (the online store computes one profile at a time).
    """
    only = " AND {col} = $entity_id" if one_entity else ""
    if relation == "behaviour":
        # One profile per event: the logged-in user, else the cookie's, else the device's.
        columns = "b.source, b.type, b.product_id, b.category, b.t, b.day"
        arms = [
            f"SELECT b.user_entity_id AS entity_id, {columns}, b.t AS known_at "
            "FROM log_behaviour b WHERE b.user_entity_id IS NOT NULL"
            + only.format(col="b.user_entity_id")
        ]
        for alias, kind, column in (("a", "anonymous_id", "anonymous_id"),
                                    ("d", "device_id", "device_id")):  # fmt: skip
            # For one profile, start from its few identifiers (CROSS JOIN keeps that order in
            # SQLite); the unlinked-event side is half the log.
            link = f"{alias}.identifier_type = '{kind}' AND {alias}.identifier_value = b.{column}"
            source = (
                f"FROM identifiers {alias} CROSS JOIN log_behaviour b WHERE {link} AND"
                if one_entity
                else f"FROM log_behaviour b JOIN identifiers {alias} ON {link} WHERE"
            )
            arm = (
                f"SELECT {alias}.entity_id, {columns}, {_known(alias)} {source} "
                f"b.user_entity_id IS NULL" + only.format(col=f"{alias}.entity_id")
            )
            if kind == "device_id":
                arm += (
                    " AND NOT EXISTS (SELECT 1 FROM identifiers x WHERE x.identifier_type = "
                    "'anonymous_id' AND x.identifier_value = b.anonymous_id)"
                )
            arms.append(arm)
        return "\n  UNION ALL ".join(arms)
    if relation == "consents":
        return (
            "SELECT i.entity_id, c.event_id, c.purpose, c.status, c.t, c.day, "
            f"{_known('i', 'c')} AS known_at FROM log_consents c JOIN identifiers i "
            "ON i.identifier_type = c.identifier_type AND i.identifier_value = c.identifier_value"
            + (" WHERE i.entity_id = $entity_id" if one_entity else "")
        )
    table = RELATION_TABLES[relation]
    columns = ", ".join(c for c in columns_of(table) if c != "event_id")
    where = " WHERE entity_id = $entity_id" if one_entity else ""
    return f"SELECT {columns}, t AS known_at FROM {table}{where}"


def to_us(value: object) -> int:
    """A moment as integer microseconds since 1970 UTC.

    Accepts a datetime or pandas Timestamp (naive = UTC, aware converted), a date (its UTC
    midnight) or an ISO-8601 string. Raises ContractError for anything else.
    """
    import datetime as dt

    import pandas as pd

    from features.errors import ContractError

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"not a timestamp: {value!r}") from exc
    if stamp is pd.NaT or pd.isna(stamp):
        raise ContractError(f"not a timestamp: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int((stamp - pd.Timestamp(0)) // pd.Timedelta(microseconds=1))


def from_us(value: int | None):
    """Integer microseconds since 1970 as a naive UTC datetime (None stays None)."""
    import datetime as dt

    if value is None:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))
