"""Purchases: recency/frequency/monetary, category affinities, price band and order channels.

All read `purchases_v` (order lines cut at $as_of; a negative quantity is a return). Money is
summed in integer cents and divided once, so every engine gives the same value to the bit.
"""

from __future__ import annotations

from features.definitions import Feature, FeatureView, quote, within

BOUGHT = "quantity > 0"
RFM_WINDOWS = ("30d", "90d", "365d", "all")
YEAR = "365d"


def _cents(condition: str, value: str = "amount_cents") -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


def _orders(condition: str) -> str:
    return f"COUNT(DISTINCT CASE WHEN {condition} THEN order_id END)"


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _rfm() -> list[Feature]:
    out = []
    for w in RFM_WINDOWS:
        bought = f"{BOUGHT} AND {within(w)}"
        out += [
            Feature("rfm", "orders", w, "Orders with at least one bought line.", _orders(bought)),
            Feature("rfm", "spend", w, "Money spent on bought lines (currency units).",
                    f"CAST({_cents(bought)} AS DOUBLE) / 100", default=0.0, dtype="float"),
        ]  # fmt: skip
    for w in ("30d", "90d", "365d"):
        out.append(Feature("rfm", "units", w, "Units bought.",
                           _cents(f"{BOUGHT} AND {within(w)}", "quantity")))  # fmt: skip
    for w in ("365d", "all"):
        bought = f"{BOUGHT} AND {within(w)}"
        value = f"{_ratio(_cents(bought), _orders(bought))} / 100"
        out.append(Feature("rfm", "avg_order_value", w, "Spend per order (currency units).",
                           value, default=None, dtype="float"))  # fmt: skip
    returned = f"quantity < 0 AND {within(YEAR)}"
    out += [
        Feature("rfm", "returned_units", YEAR, "Units returned.", _cents(returned, "-quantity")),
        Feature("rfm", "return_rate", YEAR, "Units returned per unit bought.",
                _ratio(_cents(returned, "-quantity"),
                       _cents(f"{BOUGHT} AND {within(YEAR)}", "quantity")), default=None,
                dtype="float"),
        Feature("rfm", "days_since_last_order", "all", "Whole days since the last purchase.",
                f"$as_of_day - MAX(CASE WHEN {BOUGHT} THEN day END)", default=None),
        Feature("tenure", "days_since_first_order", "all", "Whole days since the first purchase.",
                f"$as_of_day - MIN(CASE WHEN {BOUGHT} THEN day END)", default=None),
    ]  # fmt: skip
    return out


def _categories(categories: dict[str, str]) -> list[Feature]:
    bought = f"{BOUGHT} AND {within(YEAR)}"
    out = [Feature("category", "distinct_categories", YEAR, "Categories bought from.",
                   f"COUNT(DISTINCT CASE WHEN {bought} THEN category END)")]  # fmt: skip
    for value, name in categories.items():
        in_c = f"category = {quote(value)}"
        out += [
            Feature("category", f"spend_share_{name}", YEAR,
                    f"Share of spend on {value}.",
                    _ratio(_cents(f"{bought} AND {in_c}"), _cents(bought)), default=None,
                    dtype="float"),
            Feature("category", f"orders_{name}", YEAR, f"Orders containing {value}.",
                    _orders(f"{bought} AND {in_c}")),
            Feature("category", f"days_since_{name}", "all",
                    f"Whole days since {value} was last bought.",
                    f"$as_of_day - MAX(CASE WHEN {BOUGHT} AND {in_c} THEN day END)",
                    default=None),
        ]  # fmt: skip
    return out


def _price() -> list[Feature]:
    bought = f"{BOUGHT} AND {within(YEAR)}"
    priced = f"{bought} AND ref_price_cents IS NOT NULL"

    def band(name: str, description: str, sql: str) -> Feature:
        return Feature("price", name, YEAR, description, sql, default=None, dtype="float")

    def share(condition: str) -> str:
        return _ratio(_cents(f"{priced} AND {condition}", "quantity"), _cents(priced, "quantity"))

    return [
        band("avg_unit_price", "Spend per unit bought (currency units).",
             f"{_ratio(_cents(bought), _cents(bought, 'quantity'))} / 100"),
        band("max_unit_price", "Highest unit price paid (currency units).",
             f"CAST(MAX(CASE WHEN {bought} THEN unit_price_cents END) AS DOUBLE) / 100"),
        band("price_index", "Spend over what the same units cost at their category's mean "
             "list price (1 = average, above 1 = premium).",
             _ratio(_cents(priced), _cents(priced, "quantity * ref_price_cents"))),
        band("premium_share", "Share of units bought at over 1.25x their category's mean "
             "list price.", share("unit_price_cents * 4 > ref_price_cents * 5")),
        band("budget_share", "Share of units bought at under 0.75x their category's mean "
             "list price.", share("unit_price_cents * 4 < ref_price_cents * 3")),
    ]  # fmt: skip


def _channels(channels: tuple[str, ...]) -> list[Feature]:
    bought = f"{BOUGHT} AND {within(YEAR)}"
    return [
        Feature("channel", f"{channel}_order_share", YEAR,
                f"Share of orders placed through {channel}.",
                _ratio(_orders(f"{bought} AND channel = '{channel}'"), _orders(bought)),
                default=None, dtype="float")
        for channel in channels
    ]  # fmt: skip


def purchase_views(categories: dict[str, str], channels: tuple[str, ...]) -> list[FeatureView]:
    """The views over order lines."""
    features = _rfm() + _categories(categories) + _price() + _channels(channels)
    query = "SELECT entity_id, {features} FROM purchases_v GROUP BY entity_id"
    return [FeatureView("fv_purchases", ("purchases",), query, tuple(features))]


def owned_views() -> list[FeatureView]:
    """Products owned and when: per product, net quantity kept, first purchase, re-purchases."""
    query = (
        "SELECT entity_id, {features} FROM (SELECT entity_id, product_id, "
        "SUM(quantity) AS net_quantity, MIN(CASE WHEN quantity > 0 THEN day END) AS first_day, "
        "COUNT(DISTINCT CASE WHEN quantity > 0 THEN order_id END) AS orders "
        "FROM purchases_v GROUP BY entity_id, product_id) p GROUP BY entity_id"
    )
    kept = "net_quantity > 0"
    features = (
        Feature("owned", "products", "all", "Distinct products bought and not returned.",
                f"SUM(CASE WHEN {kept} THEN 1 ELSE 0 END)"),
        Feature("owned", "days_since_newest_product", "all",
                "Whole days since the most recently acquired product was first bought.",
                f"$as_of_day - MAX(CASE WHEN {kept} THEN first_day END)", default=None),
        Feature("owned", "days_since_oldest_product", "all",
                "Whole days since the longest-owned product was first bought.",
                f"$as_of_day - MIN(CASE WHEN {kept} THEN first_day END)", default=None),
        Feature("owned", "rebought_products", "all",
                "Products bought in two or more orders (consumables, favourites).",
                "SUM(CASE WHEN orders >= 2 THEN 1 ELSE 0 END)"),
    )  # fmt: skip
    return [FeatureView("fv_owned", ("purchases",), query, features)]


OWNED_PRODUCTS_SQL = (
    "SELECT entity_id, product_id, MAX(category) AS category, "
    "MIN(CASE WHEN quantity > 0 THEN t END) AS first_bought_us, "
    "MAX(CASE WHEN quantity > 0 THEN t END) AS last_bought_us, "
    "SUM(quantity) AS net_quantity, "
    "COUNT(DISTINCT CASE WHEN quantity > 0 THEN order_id END) AS orders "
    "FROM purchases_v GROUP BY entity_id, product_id HAVING SUM(quantity) > 0"
)
