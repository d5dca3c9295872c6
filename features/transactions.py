"""Bring-your-own transactions: a CSV or Parquet file of purchases as a feature source.

The file becomes the `purchases` relation of features.event_log, keyed by the file's customer
id instead of a profile (no identity step), so the same purchase, category, owned-product,
price and tenure features and the same point-in-time rule apply. Roles are given as
`customer_id=COL,product_id=COL,at=COL,quantity=COL,price=COL` (optional `order_id=COL`;
without it, one customer's lines at one moment are one order). An optional products file
(`product_id=COL,category=COL`, optional `price=COL`) adds categories and, with a price, the
category reference prices of the price-band features.

Rows that cannot be used (no customer, product or time, a quantity that is zero or not whole,
a missing or negative price) are left out and counted by reason; a missing column is an error.
Times without an offset are read in CDP_SOURCE_TIMEZONE and stored as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from features.errors import ConfigError, ContractError, EmptyInputError
from features.relations import day_of, register_category_prices, us
from features.settings import Settings

TRANSACTION_ROLES = {"customer_id": True, "product_id": True, "at": True, "quantity": True,
                     "price": True, "order_id": False}  # fmt: skip
PRODUCT_ROLES = {"product_id": True, "category": True, "price": False}
REJECTIONS = {
    "no customer": "customer_id IS NULL",
    "no product": "product_id IS NULL",
    "bad time": "occurred_at IS NULL",
    "bad quantity": "quantity IS NULL OR quantity = 0 OR quantity <> FLOOR(quantity)",
    "bad price": "price IS NULL OR price < 0",
}


def parse_map(text: str, roles: dict[str, bool], flag: str = "--map") -> dict[str, str]:
    """Parse 'role=COLUMN,...'; unknown or missing roles are a ConfigError."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, column = (x.strip() for x in part.partition("="))
        if not sep or not column:
            raise ConfigError(f"{flag} entry {part!r} is not ROLE=COLUMN")
        if role not in roles:
            raise ConfigError(f"{flag}: unknown role {role!r}; roles: {', '.join(roles)}")
        mapping[role] = column
    missing = [r for r, required in roles.items() if required and r not in mapping]
    if missing:
        raise ConfigError(f"{flag} must name the column of: {', '.join(missing)}")
    return mapping


def _register_file(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> dict[str, str]:
    if not path.exists():
        raise ContractError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: file is empty")
    literal = str(path.resolve()).replace("'", "''")
    reader = (
        f"read_parquet('{literal}')"
        if path.suffix == ".parquet"
        else f"read_csv('{literal}', all_varchar = true, header = true)"
    )
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {reader}")
        return {r[0]: r[1] for r in con.execute(f"DESCRIBE {name}").fetchall()}
    except duckdb.Error as exc:
        raise ContractError(f"{path}: cannot read: {exc}") from exc


def _text(con: duckdb.DuckDBPyConnection, table: str, column: str, kind: str) -> str:
    """An id column as text: whole floats (17850.0, as spreadsheets write ids) lose their '.0'
    when every value of the column is one; blanks become NULL."""
    quoted = f'"{column}"'
    if kind == "VARCHAR":
        [(floats,)] = con.execute(
            f"SELECT COUNT(*) > 0 AND COUNT(*) = COUNT(CASE WHEN regexp_full_match(TRIM({quoted}),"
            f" '[0-9]+[.]0+') THEN 1 END) FROM {table} WHERE NULLIF(TRIM({quoted}), '') IS NOT NULL"
        ).fetchall()
        if floats:
            return f"NULLIF(split_part(TRIM({quoted}), '.', 1), '')"
    if kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
        return (
            f"CASE WHEN {quoted} = FLOOR({quoted}) THEN CAST(CAST({quoted} AS BIGINT) AS VARCHAR)"
            f" ELSE CAST({quoted} AS VARCHAR) END"
        )
    return f"NULLIF(TRIM(CAST({quoted} AS VARCHAR)), '')"


def _check_columns(path: Path, mapping: dict[str, str], columns: dict[str, str]) -> None:
    missing = [c for c in mapping.values() if c not in columns]
    if missing:
        raise ContractError(f"{path.name}: missing column(s) {', '.join(map(repr, missing))}")


@contextmanager
def open_transactions_source(
    settings: Settings,
    path: Path,
    mapping: dict[str, str],
    products: Path | None = None,
    products_mapping: dict[str, str] | None = None,
) -> Iterator[object]:
    """A transactions file (and optional products file) as a FeatureSource keyed by customer_id."""
    from features.offline import FeatureSource
    from features.views import build_catalogue

    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{settings.warehouse_memory}'")
        con.execute(f"SET TimeZone = '{settings.source_timezone}'")
        columns = _register_file(con, "byo_raw", path)
        _check_columns(path, mapping, columns)
        ids = {
            role: _text(con, "byo_raw", mapping[role], columns[mapping[role]])
            for role in ("customer_id", "product_id", "order_id")
            if role in mapping
        }
        con.execute(f"""
            CREATE TEMP TABLE byo_rows AS
            SELECT {ids["customer_id"]} AS customer_id, {ids["product_id"]} AS product_id,
                   TRY_CAST(TRY_CAST("{mapping["at"]}" AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
                            AS TIMESTAMP) AS occurred_at,
                   TRY_CAST("{mapping["quantity"]}" AS DOUBLE) AS quantity,
                   TRY_CAST("{mapping["price"]}" AS DOUBLE) AS price,
                   {ids.get("order_id", "NULL")} AS order_id
            FROM byo_raw
        """)
        summary = _rejections(con, path)
        _register_products(con, products, products_mapping)
        con.execute(f"""
            CREATE TEMP VIEW log_purchases AS
            SELECT CAST(NULL AS VARCHAR) AS event_id, l.customer_id AS entity_id,
                   COALESCE(l.order_id, l.customer_id || '@' || CAST(l.t AS VARCHAR)) AS order_id,
                   l.product_id, p.category, CAST(l.quantity AS BIGINT) AS quantity,
                   CAST(ROUND(l.price * 100) AS BIGINT) AS unit_price_cents,
                   CAST(l.quantity AS BIGINT) * CAST(ROUND(l.price * 100) AS BIGINT)
                       AS amount_cents,
                   r.ref_price_cents, CAST(NULL AS VARCHAR) AS channel, l.t,
                   {day_of("l.t")} AS day
            FROM (SELECT *, {us("occurred_at")} AS t FROM byo_lines) l
            LEFT JOIN byo_products p ON p.product_id = l.product_id
            LEFT JOIN category_prices r ON r.category = p.category AND l.t >= r.valid_from
                 AND (r.valid_to IS NULL OR l.t < r.valid_to)
        """)
        rows = con.execute(
            "SELECT DISTINCT p.category FROM byo_products p JOIN byo_lines l "
            "ON l.product_id = p.product_id WHERE p.category IS NOT NULL ORDER BY 1"
        ).fetchall()
        categories = [r[0] for r in rows]
        catalogue = build_catalogue("customer_id", categories, ("purchases",))
        summary["categories"] = len(categories)
        yield FeatureSource(con, catalogue, "transactions", summary)
    finally:
        con.close()


def _rejections(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, object]:
    rows_in = con.execute("SELECT COUNT(*) FROM byo_rows").fetchone()[0]
    if rows_in == 0:
        raise EmptyInputError(f"{path.name}: no rows")
    counts = {}
    remaining = "1 = 1"
    for reason, condition in REJECTIONS.items():
        counts[reason] = con.execute(
            f"SELECT COUNT(*) FROM byo_rows WHERE ({remaining}) AND ({condition})"
        ).fetchone()[0]
        remaining += f" AND NOT ({condition})"
    con.execute(f"CREATE TEMP TABLE byo_lines AS SELECT * FROM byo_rows WHERE {remaining}")
    used = con.execute("SELECT COUNT(*) FROM byo_lines").fetchone()[0]
    if used == 0:
        raise ContractError(f"{path.name}: no usable rows ({counts})")
    [(customers,)] = con.execute("SELECT COUNT(DISTINCT customer_id) FROM byo_lines").fetchall()
    return {"rows_in": rows_in, "rows_used": used, "rows_left_out": rows_in - used,
            "left_out_by_reason": {k: v for k, v in counts.items() if v},
            "customers": customers}  # fmt: skip


def _register_products(
    con: duckdb.DuckDBPyConnection,
    products: Path | None,
    mapping: dict[str, str] | None,
) -> None:
    if products is None:
        con.execute(
            "CREATE TEMP TABLE byo_products (product_id VARCHAR, category VARCHAR, price DOUBLE)"
        )
        register_category_prices(con, "byo_products", None, None)
        return
    if not mapping:
        raise ConfigError("--products needs --map-products product_id=COL,category=COL")
    columns = _register_file(con, "byo_products_raw", products)
    _check_columns(products, mapping, columns)
    price = f'TRY_CAST("{mapping["price"]}" AS DOUBLE)' if "price" in mapping else "NULL"
    # A product listed twice keeps its smallest category name and highest price.
    con.execute(f"""
        CREATE TEMP TABLE byo_products AS
        SELECT product_id, MIN(category) AS category, MAX(price) AS price FROM (
            SELECT {
        _text(con, "byo_products_raw", mapping["product_id"], columns[mapping["product_id"]])
    } AS product_id,
                   {
        _text(con, "byo_products_raw", mapping["category"], columns[mapping["category"]])
    } AS category,
                   {price} AS price
            FROM byo_products_raw
        ) p WHERE product_id IS NOT NULL GROUP BY product_id
    """)
    register_category_prices(con, "byo_products", "price" if "price" in mapping else None, None)
