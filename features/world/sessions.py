"""Building blocks shared by web and app events: an event collector and session layouts.

A session is anchored at a time and laid out as offsets inside it, so the events of one visit
are ordered the way a tracker records them: product views before the add-to-cart, the login
(identify) before events that carry the user id, the confirmation page after the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.world.catalog import Catalog, draw_products
from features.world.clock import Clock
from features.world.population import Population

PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, IDENTIFY, EMAIL_CLICK = 0, 1, 2, 3, 4
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "identify", "email_click")
JUNK_ACCOUNT = -2  # the literal user id '0' some app builds send
_SECOND = 1 / 86_400


# Narrow dtypes: web events of a million people are tens of millions of rows.
_DTYPES = {
    "person": np.int32,
    "day": np.float64,
    "kind": np.int8,
    "slot": np.int32,
    "product": np.int32,
    "account": np.int32,
    "subscriber": np.int32,
    "campaign": np.int32,
}


@dataclass
class EventCollector:
    """Accumulates event columns block by block; `columns()` concatenates them once."""

    parts: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {name: [] for name in _DTYPES}
    )

    def add(
        self,
        person: np.ndarray,
        day: np.ndarray,
        kind: int | np.ndarray,
        slot: np.ndarray,
        product: np.ndarray | int = -1,
        account: np.ndarray | int = -1,
        subscriber: np.ndarray | int = -1,
        campaign: np.ndarray | int = -1,
    ) -> None:
        """Append one block of events; scalars are broadcast."""
        rows = len(person)
        values = {
            "person": person,
            "day": day,
            "kind": kind,
            "slot": slot,
            "product": product,
            "account": account,
            "subscriber": subscriber,
            "campaign": campaign,
        }
        for name, value in values.items():
            column = np.broadcast_to(np.asarray(value, dtype=_DTYPES[name]), (rows,))
            self.parts[name].append(np.array(column))

    def columns(self) -> dict[str, np.ndarray]:
        """All blocks concatenated, in the order they were added; the collector is emptied."""
        out = {}
        for name in list(self.parts):
            chunks = self.parts.pop(name)
            out[name] = np.concatenate(chunks) if chunks else np.zeros(0, _DTYPES[name])
            del chunks
        return out


def step_back(
    anchor: np.ndarray, floor: np.ndarray, seconds: np.ndarray, share: float
) -> np.ndarray:
    """A time `seconds` before `anchor`, squeezed to stay after `floor` (the first-seen day)."""
    return anchor - np.minimum(seconds * _SECOND, np.maximum(anchor - floor, 0) * share)


def draw_viewed_products(
    clock: Clock,
    pop: Population,
    catalog: Catalog,
    person: np.ndarray,
    day: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Products someone browses: category by affinity and season, tier by price band."""
    weight = pop.affinity[person] * catalog.season[:, clock.month(day)].T.astype(np.float32)
    cumulative = np.cumsum(weight, axis=1)
    level = rng.random(len(person)) * cumulative[:, -1]
    category = np.minimum((level[:, None] >= cumulative).sum(axis=1), weight.shape[1] - 1)
    return draw_products(catalog, rng, category, pop.price_band[person], day)


def add_purchase_sessions(
    out: EventCollector,
    lo: np.ndarray,
    order_person: np.ndarray,
    order_day: np.ndarray,
    order_account: np.ndarray,
    order_slot: np.ndarray,
    lines: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Checkout visits: view the main product, log in, add every line to the cart, confirm.

    `lines` holds (order index, product) of the orders' lines, main product first per order.
    """
    rows = len(order_person)
    floor = lo[order_person]
    line_order, line_product = lines
    first_line = np.r_[True, line_order[1:] != line_order[:-1]] if len(line_order) else line_order
    main = np.full(rows, -1, dtype=np.int64)
    main[line_order[first_line]] = line_product[first_line]
    view_day = step_back(order_day, floor, rng.uniform(600, 1800, rows), 0.75)
    out.add(order_person, view_day, PRODUCT_VIEW, order_slot, product=main)
    logged = np.flatnonzero(order_account >= 0)
    identify_day = step_back(
        order_day[logged], floor[logged], rng.uniform(120, 600, len(logged)), 0.5
    )
    out.add(
        order_person[logged],
        identify_day,
        IDENTIFY,
        order_slot[logged],
        account=order_account[logged],
    )
    cart_day = step_back(
        order_day[line_order], floor[line_order], rng.uniform(30, 110, len(line_order)), 0.25
    )
    out.add(
        order_person[line_order],
        cart_day,
        ADD_TO_CART,
        order_slot[line_order],
        product=line_product,
        account=order_account[line_order],
    )
    confirm_day = order_day + rng.uniform(1, 5, rows) * _SECOND
    out.add(order_person, confirm_day, PAGE_VIEW, order_slot, account=order_account)


def add_research_views(
    out: EventCollector,
    lo: np.ndarray,
    order_person: np.ndarray,
    order_day: np.ndarray,
    main_product: np.ndarray,
    slot_of: callable,
    mean_views: float,
    rng: np.random.Generator,
) -> None:
    """Views of the product in the days before buying it (on the shopper's device at the time)."""
    views = rng.poisson(mean_views, len(order_person))
    order = np.repeat(np.arange(len(order_person)), views)
    person = order_person[order]
    day = order_day[order] - 0.02 - rng.exponential(3.0, len(order))
    keep = day >= lo[person]
    order, person, day = order[keep], person[keep], day[keep]
    out.add(person, day, PRODUCT_VIEW, slot_of(person, day), product=main_product[order])


def add_browse_sessions(
    out: EventCollector,
    clock: Clock,
    pop: Population,
    catalog: Catalog,
    person: np.ndarray,
    day: np.ndarray,
    slot: np.ndarray,
    account: np.ndarray,
    identify: np.ndarray,
    means: tuple[float, float, float],
    rng: np.random.Generator,
    login_account: np.ndarray | None = None,
) -> None:
    """Visits without a purchase: pages, product views, sometimes an abandoned cart.

    `account` is the logged-in account of each session (-1 if anonymous) and `identify` whether
    the session starts with an explicit login; without one (an app that keeps you logged in) the
    user id is on every event of the session. `login_account` overrides the user id sent by the
    login event itself (a buggy build sending '0').
    """
    sessions = len(person)
    page_mean, product_mean, cart_rate = means
    # Capped below the 0.01-day margin left before churn and the window end.
    duration = np.minimum(rng.exponential(5 / 1440, sessions), 12 / 1440)
    login_at = np.where(identify, rng.random(sessions) * 0.3 * duration, -1.0)

    def place(count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        session = np.repeat(np.arange(sessions), count)
        offset = rng.random(len(session)) * duration[session]
        user = np.where(
            (account[session] >= 0) & (offset > login_at[session]), account[session], -1
        )
        return session, day[session] + offset, user

    s, when, user = place(1 + rng.poisson(page_mean, sessions))
    out.add(person[s], when, PAGE_VIEW, slot[s], account=user)
    views = rng.poisson(product_mean, sessions)
    s, when, user = place(views)
    product = draw_viewed_products(clock, pop, catalog, person[s], when, rng)
    out.add(person[s], when, PRODUCT_VIEW, slot[s], product=product, account=user)
    # An abandoned cart holds the session's first viewed product, added after viewing it.
    first_view = np.cumsum(views) - views
    carted = np.flatnonzero((views > 0) & (rng.random(sessions) < cart_rate))
    if len(carted):
        view_row = first_view[carted]
        cart_day = when[view_row] + rng.uniform(5, 60, len(carted)) * _SECOND
        out.add(
            person[carted],
            cart_day,
            ADD_TO_CART,
            slot[carted],
            product=product[view_row],
            account=user[view_row],
        )
    logged = np.flatnonzero(identify & (account >= 0))
    login = account if login_account is None else login_account
    out.add(
        person[logged],
        day[logged] + login_at[logged],
        IDENTIFY,
        slot[logged],
        account=login[logged],
    )
