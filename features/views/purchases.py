"""Purchases: recency/frequency/monetary, category affinities, price band, order channels and
products owned.

Line features read `purchases_v` (order lines cut at $as_of; a negative quantity is a return);
order features first fold the lines of each order into one row (its last bought line's time,
its bought amount, when it held each category), so counting orders is a plain sum rather than
a COUNT(DISTINCT) per feature, whose per-group sets do not fit memory at a million profiles.
Money is summed in integer cents and divided once, so every engine gives the same value.
"""

from __future__ import annotations

from features.definitions import Feature, FeatureView, quote, within

BOUGHT = "quantity > 0"
RFM_WINDOWS = ("30d", "90d", "365d", "all")
YEAR = "365d"


def _cents(condition: str, value: str = "amount_cents") -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _placed(window: str, column: str = "bought_t") -> str:
    """The order (its last bought line) lies in the window."""
    return f"{column} IS NOT NULL" if window == "all" else within(window, column)


def _lines(categories: dict[str, str]) -> list[Feature]:
    out = []
    for w in RFM_WINDOWS:
        out.append(Feature("rfm", "spend", w, "Money spent on bought lines (currency units).",
                           f"CAST({_cents(f'{BOUGHT} AND {within(w)}')} AS DOUBLE) / 100",
                           default=0.0, dtype="float"))  # fmt: skip
    for w in ("30d", "90d", "365d"):
        out.append(Feature("rfm", "units", w, "Units bought.",
                           _cents(f"{BOUGHT} AND {within(w)}", "quantity")))  # fmt: skip
    returned = f"quantity < 0 AND {within(YEAR)}"
    bought = f"{BOUGHT} AND {within(YEAR)}"
    out += [
        Feature("rfm", "returned_units", YEAR, "Units returned.", _cents(returned, "-quantity")),
        Feature("rfm", "return_rate", YEAR, "Units returned per unit bought.",
                _ratio(_cents(returned, "-quantity"), _cents(bought, "quantity")), default=None,
                dtype="float"),
        Feature("rfm", "days_since_last_order", "all", "Whole days since the last purchase.",
                f"$as_of_day - MAX(CASE WHEN {BOUGHT} THEN day END)", default=None),
        Feature("tenure", "days_since_first_order", "all", "Whole days since the first purchase.",
                f"$as_of_day - MIN(CASE WHEN {BOUGHT} THEN day END)", default=None),
        Feature("category", "distinct_categories", YEAR, "Categories bought from.",
                f"COUNT(DISTINCT CASE WHEN {bought} THEN category END)"),
    ]  # fmt: skip
    for value, name in categories.items():
        in_c = f"category = {quote(value)}"
        out += [
            Feature("category", f"spend_share_{name}", YEAR, f"Share of spend on {value}.",
                    _ratio(_cents(f"{bought} AND {in_c}"), _cents(bought)), default=None,
                    dtype="float"),
            Feature("category", f"days_since_{name}", "all",
                    f"Whole days since {value} was last bought.",
                    f"$as_of_day - MAX(CASE WHEN {BOUGHT} AND {in_c} THEN day END)",
                    default=None),
        ]  # fmt: skip
    return out


def _orders(categories: dict[str, str], channels: tuple[str, ...]) -> FeatureView:
    held = "".join(
        f', MAX(CASE WHEN {BOUGHT} AND category = {quote(value)} THEN t END) AS "t_{name}"'
        for value, name in categories.items()
    )
    query = (
        "SELECT entity_id, {features} FROM (SELECT entity_id, order_id, "
        f"MAX(channel) AS channel, MAX(CASE WHEN {BOUGHT} THEN t END) AS bought_t, "
        f"{_cents(BOUGHT)} AS bought_cents{held} "
        "FROM purchases_v GROUP BY entity_id, order_id) o GROUP BY entity_id"
    )
    out = [Feature("rfm", "orders", w, "Orders with at least one bought line.",
                   _count(_placed(w))) for w in RFM_WINDOWS]  # fmt: skip
    for w in ("365d", "all"):
        spend = _cents(_placed(w), "bought_cents")
        out.append(Feature("rfm", "avg_order_value", w, "Spend per order (currency units).",
                           f"{_ratio(spend, _count(_placed(w)))} / 100", default=None,
                           dtype="float"))  # fmt: skip
    for value, name in categories.items():
        out.append(Feature("category", f"orders_{name}", YEAR, f"Orders containing {value}.",
                           _count(_placed(YEAR, f'"t_{name}"'))))  # fmt: skip
    for channel in channels:
        out.append(Feature("channel", f"{channel}_order_share", YEAR,
                           f"Share of orders placed through {channel}.",
                           _ratio(_count(f"{_placed(YEAR)} AND channel = {quote(channel)}"),
                                  _count(_placed(YEAR))), default=None, dtype="float"))  # fmt: skip
    return FeatureView("fv_orders", ("purchases",), query, tuple(out))


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


def purchase_views(categories: dict[str, str], channels: tuple[str, ...]) -> list[FeatureView]:
    """The views over order lines and orders."""
    lines = FeatureView(
        "fv_purchases",
        ("purchases",),
        "SELECT entity_id, {features} FROM purchases_v GROUP BY entity_id",
        tuple(_lines(categories) + _price()),
    )
    return [lines, _orders(categories, channels)]


# Per entity, product and order first: an order counts once per product without COUNT(DISTINCT).
_BY_PRODUCT = (
    "SELECT entity_id, product_id, MAX(category) AS category, SUM(quantity) AS net_quantity, "
    "MIN(first_t) AS first_t, MAX(last_t) AS last_t, MIN(first_day) AS first_day, "
    "SUM(bought) AS orders FROM (SELECT entity_id, product_id, order_id, "
    "MAX(category) AS category, SUM(quantity) AS quantity, "
    f"MIN(CASE WHEN {BOUGHT} THEN t END) AS first_t, MAX(CASE WHEN {BOUGHT} THEN t END) AS last_t, "
    f"MIN(CASE WHEN {BOUGHT} THEN day END) AS first_day, "
    f"MAX(CASE WHEN {BOUGHT} THEN 1 ELSE 0 END) AS bought "
    "FROM purchases_v GROUP BY entity_id, product_id, order_id) l GROUP BY entity_id, product_id"
)


def owned_views() -> list[FeatureView]:
    """Products owned and when: per product, net quantity kept, first purchase, re-purchases."""
    query = f"SELECT entity_id, {{features}} FROM ({_BY_PRODUCT}) p GROUP BY entity_id"
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
    "SELECT entity_id, product_id, category, first_t AS first_bought_us, "
    f"last_t AS last_bought_us, net_quantity, orders FROM ({_BY_PRODUCT}) p "
    "WHERE net_quantity > 0"
)
