"""Web and app behaviour: product and category views, repeated views, abandoned carts, visits.

Reads `behaviour_v`: events of the profile's logged-in sessions, and of its cookies and devices
once they were linked to it (see features.event_log).
"""

from __future__ import annotations

from features.definitions import Feature, FeatureView, quote, within

VIEW_WINDOWS = ("1d", "7d", "30d")


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _activity(categories: dict[str, str]) -> list[Feature]:
    viewed = "type = 'product_view'"
    app = f"source = 'app' AND {within('90d')}"
    out = [
        Feature("behaviour", "product_views", w, "Product pages viewed.",
                _count(f"{viewed} AND {within(w)}"))
        for w in VIEW_WINDOWS
    ]  # fmt: skip
    for value, name in categories.items():
        in_c = f"category = {quote(value)}"
        out += [
            Feature("behaviour", f"views_{name}", w, f"Product pages of {value} viewed.",
                    _count(f"{viewed} AND {in_c} AND {within(w)}"))
            for w in VIEW_WINDOWS
        ]  # fmt: skip
    for w in ("7d", "30d"):
        out += [
            Feature("behaviour", "cart_adds", w, "Products added to the cart.",
                    _count(f"type = 'add_to_cart' AND {within(w)}")),
            Feature("behaviour", "page_views", w, "Other pages viewed.",
                    _count(f"type = 'page_view' AND {within(w)}")),
        ]  # fmt: skip
    out += [
        Feature("behaviour", "days_since_last_visit", "all",
                "Whole days since the last web or app event.",
                "$as_of_day - MAX(day)", default=None),
        Feature("behaviour", "days_since_last_product_view", "all",
                "Whole days since the last product page view.",
                f"$as_of_day - MAX(CASE WHEN {viewed} THEN day END)", default=None),
        Feature("channel", "app_event_share", "90d",
                "Share of web and app events that came from the app.",
                f"CAST({_count(app)} AS DOUBLE) / NULLIF({_count(within('90d'))}, 0)",
                default=None, dtype="float"),
    ]  # fmt: skip
    return out


def _repeated() -> FeatureView:
    query = (
        "SELECT entity_id, {features} FROM (SELECT entity_id, product_id, "
        f"{_count(within('7d'))} AS views_7d, COUNT(*) AS views_30d FROM behaviour_v "
        f"WHERE type = 'product_view' AND {within('30d')} "
        "GROUP BY entity_id, product_id) v GROUP BY entity_id"
    )
    features = (
        Feature("behaviour", "distinct_products_viewed", "7d", "Different products viewed.",
                _count("views_7d > 0")),
        Feature("behaviour", "distinct_products_viewed", "30d", "Different products viewed.",
                "COUNT(*)"),
        Feature("behaviour", "max_views_one_product", "7d",
                "Most views of any one product (repeated interest).", "MAX(views_7d)"),
        Feature("behaviour", "max_views_one_product", "30d",
                "Most views of any one product (repeated interest).", "MAX(views_30d)"),
        Feature("behaviour", "repeat_viewed_products", "30d",
                "Products viewed on two or more occasions.", _count("views_30d >= 2")),
    )  # fmt: skip
    return FeatureView("fv_repeated_views", ("behaviour",), query, features)


def _carts() -> FeatureView:
    # A product counts once: its last add in the window, not followed by a purchase of it.
    query = (
        "SELECT c.entity_id, {features} FROM (SELECT entity_id, product_id, "
        "MAX(t) AS last_add_t FROM behaviour_v "
        f"WHERE type = 'add_to_cart' AND {within('30d')} GROUP BY entity_id, product_id) c "
        "LEFT JOIN (SELECT entity_id, product_id, MAX(t) AS last_buy_t FROM purchases_v "
        "WHERE quantity > 0 GROUP BY entity_id, product_id) b "
        "ON b.entity_id = c.entity_id AND b.product_id = c.product_id GROUP BY c.entity_id"
    )
    unbought = "(b.last_buy_t IS NULL OR b.last_buy_t < c.last_add_t)"
    features = tuple(
        Feature("behaviour", "carted_not_bought", w,
                "Products added to the cart and not bought since.",
                _count(f"{unbought} AND {within(w, 'c.last_add_t')}"))
        for w in ("7d", "30d")
    )  # fmt: skip
    return FeatureView("fv_carts", ("behaviour", "purchases"), query, features)


def behaviour_views(categories: dict[str, str]) -> list[FeatureView]:
    """The views over web and app events."""
    activity = FeatureView(
        "fv_behaviour",
        ("behaviour",),
        "SELECT entity_id, {features} FROM behaviour_v GROUP BY entity_id",
        tuple(_activity(categories)),
    )
    return [activity, _repeated(), _carts()]
