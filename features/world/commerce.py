"""Orders and order lines: what people buy, when, through which channel, under which account.

Purchase times follow each person's rate, the retail calendar and their own seasonality (a skier
buys in winter). The main category of an order follows affinity and season, or, for a repeat
order, is often a complement of the previous order's (tent -> sleeping bag, stove -> fuel, socks
-> socks again). Clicked email campaigns add orders of the promoted category within days. The
price band picks the tier. Account holders are usually logged in; everyone else checks out as a
guest with an email and a shipping name and address.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.world.campaigns import EmailActivity
from features.world.catalog import Catalog, draw_products
from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.devices import Devices
from features.world.fields import NameNoise, render_address_columns, render_emails, render_names
from features.world.geo import Geography
from features.world.names import NamePools
from features.world.noise import draw_mask, vary_gmail_dots
from features.world.population import Population
from features.world.records import Registry
from features.world.strings import (
    build_ids,
    count_id_digits,
    repeat_string,
    replace_where,
    set_null_where,
    take,
    to_timestamps,
    to_vocabulary,
)

WEB, APP, CALL_CENTER = 0, 1, 2
CHANNELS = ("web", "app", "call_center")


@dataclass(frozen=True)
class Orders:
    """Orders in time order, and their lines."""

    person: np.ndarray
    day: np.ndarray
    channel: np.ndarray
    account: np.ndarray  # account index, -1 for a guest checkout
    category: np.ndarray  # main category
    ids: pa.Array
    total: np.ndarray
    line_order: np.ndarray  # index of the line's order
    line_number: np.ndarray
    line_product: np.ndarray
    line_quantity: np.ndarray
    line_price: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


def draw_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row of a non-negative weight matrix, proportional to the weights."""
    cumulative = np.cumsum(weights, axis=1)
    level = rng.random(len(weights)) * cumulative[:, -1]
    return np.minimum((level[:, None] >= cumulative).sum(axis=1), weights.shape[1] - 1)


def _draw_baseline_purchases(
    cfg: WorldConfig, clock: Clock, pop: Population, catalog: Catalog, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times per person: a Poisson process thinned by the person's own seasonality."""
    lo, hi = pop.active_window(clock.horizon)
    by_month = pop.affinity @ catalog.season.astype(np.float32)  # (people, 12)
    peak = by_month.max(axis=1)
    expected = pop.purchase_rate / 365.0 * clock.exposure(lo, hi) * peak
    person = np.repeat(np.arange(pop.size), rng.poisson(expected))
    day = clock.draw_times(rng, lo[person], hi[person])
    keep = rng.random(len(person)) * peak[person] < by_month[person, clock.month(day)]
    return person[keep], day[keep]


def _draw_main_categories(
    cfg: WorldConfig,
    clock: Clock,
    pop: Population,
    catalog: Catalog,
    person: np.ndarray,
    day: np.ndarray,
    fixed: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Main category per order (rows sorted by person, then time), one order rank at a time."""
    first = np.r_[True, person[1:] != person[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(person)), 0))
    rank = np.arange(len(person)) - start
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2 if len(rank) else 1))
    category = np.full(len(person), -1, dtype=np.int64)
    has_complement = catalog.complements.sum(axis=1) > 0
    for k in range(len(bounds) - 1):  # order rank 1, 2, ...: each depends on the one before
        rows = by_rank[bounds[k] : bounds[k + 1]]
        weight = pop.affinity[person[rows]] * catalog.season[:, clock.month(day[rows])].T
        choice = draw_rows(rng, weight)
        if k > 0:
            previous = category[rows - 1]
            follow = has_complement[previous] & (rng.random(len(rows)) < cfg.complement_rate)
            if follow.any():
                choice[follow] = draw_rows(rng, catalog.complements[previous[follow]])
        category[rows] = np.where(fixed[rows] >= 0, fixed[rows], choice)
    return category


def build_orders(
    cfg: WorldConfig,
    clock: Clock,
    pop: Population,
    catalog: Catalog,
    registry: Registry,
    devices: Devices,
    email: EmailActivity,
    rng: np.random.Generator,
) -> Orders:
    """All orders of the window with their lines, prices and totals."""
    base_person, base_day = _draw_baseline_purchases(cfg, clock, pop, catalog, rng)
    person = np.concatenate([base_person, email.intent_person])
    day = np.concatenate([base_day, email.intent_day])
    fixed_category = np.r_[np.full(len(base_person), -1), email.intent_category]
    fixed_product = np.r_[np.full(len(base_person), -1), email.intent_product]
    from_email = np.r_[np.zeros(len(base_person), bool), np.ones(len(email.intent_person), bool)]
    order = np.lexsort((day, person))
    person, day = person[order], day[order]
    fixed_category, fixed_product, from_email = (
        fixed_category[order],
        fixed_product[order],
        from_email[order],
    )
    category = _draw_main_categories(cfg, clock, pop, catalog, person, day, fixed_category, rng)

    rows = len(person)
    app = devices.uses_app[person] & (rng.random(rows) < pop.app_order_share[person])
    by_phone = ~from_email & (
        rng.random(rows) < np.minimum(0.03 * pop.call_propensity[person], 0.2)
    )
    channel = np.where(by_phone, CALL_CENTER, np.where(app, APP, WEB)).astype(np.int8)
    account = registry.account_at(person, day, rng)
    guest = (channel != CALL_CENTER) & (rng.random(rows) < cfg.guest_checkout_rate)
    account = np.where(guest, -1, account)

    # Lines: the main category first, then complements of it or other liked categories.
    count = 1 + rng.poisson(cfg.extra_lines_mean, rows)
    line_order = np.repeat(np.arange(rows), count)
    position = np.arange(len(line_order)) - np.repeat(np.cumsum(count) - count, count)
    line_category = category[line_order].copy()
    extra = np.flatnonzero(position > 0)
    main = category[line_order[extra]]
    weight = (
        pop.affinity[person[line_order[extra]]]
        * catalog.season[:, clock.month(day[line_order[extra]])].T
    )
    other = draw_rows(rng, weight)
    complement_ok = catalog.complements[main].sum(axis=1) > 0
    use_complement = complement_ok & (rng.random(len(extra)) < 0.55)
    other[use_complement] = draw_rows(rng, catalog.complements[main[use_complement]])
    line_category[extra] = other
    product = draw_products(
        catalog, rng, line_category, pop.price_band[person[line_order]], day[line_order]
    )
    promoted = (position == 0) & (fixed_product[line_order] >= 0)
    product = np.where(promoted, fixed_product[line_order], product)
    # The same product twice in an order is one line; keep its first occurrence.
    key = line_order.astype(np.int64) * catalog.size + product
    _, first_index = np.unique(key, return_index=True)
    keep = np.zeros(len(key), dtype=bool)
    keep[first_index] = True
    line_order, product, position = line_order[keep], product[keep], position[keep]

    lines = len(line_order)
    consumable = catalog.consumable[catalog.product_category[product]]
    quantity = np.where(consumable, rng.geometric(0.55, lines), 1 + (rng.random(lines) < 0.06))
    sale = clock.on_sale(day[line_order])
    discounted = rng.random(lines) < np.where(sale, 0.6, 0.12)
    discount = np.where(discounted, rng.choice([0.10, 0.15, 0.20, 0.25, 0.30], lines), 0.0)
    price = np.round(catalog.product_price[product] * (1 - discount), 2)
    total = np.round(np.bincount(line_order, weights=quantity * price, minlength=rows), 2)

    # Number orders in time order, as an order sequence would.
    by_time = np.lexsort((person, day))
    new_index = np.empty(rows, dtype=np.int64)
    new_index[by_time] = np.arange(rows)
    line_new = new_index[line_order]
    line_sort = np.lexsort((position, line_new))
    line_new = line_new[line_sort]
    first_line = np.r_[True, line_new[1:] != line_new[:-1]]
    line_start = np.maximum.accumulate(np.where(first_line, np.arange(lines), 0))
    return Orders(
        person=person[by_time],
        day=day[by_time],
        channel=channel[by_time],
        account=account[by_time],
        category=category[by_time],
        ids=build_ids("ord_", np.arange(1, rows + 1), count_id_digits(rows, 9)),
        total=total[by_time],
        line_order=line_new,
        line_number=(np.arange(lines) - line_start + 1).astype(np.int32),
        line_product=product[line_sort],
        line_quantity=quantity[line_sort].astype(np.int32),
        line_price=price[line_sort],
    )


def render_orders(
    cfg: WorldConfig, clock: Clock, geo: Geography, pools: NamePools, pop: Population,
    registry: Registry, catalog: Catalog, orders: Orders, person_ids: pa.Array,
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table, pa.Table]:  # fmt: skip
    """The orders and order_lines files, and truth rows for guest orders."""
    rows = len(orders)
    guest = orders.account < 0
    # A gift ships to another member of the household under their name and address.
    size = pop.household_size[orders.person]
    head = pop.household_head[orders.person]
    other = head + (orders.person - head + 1 + np.floor(rng.random(rows) * (size - 1))) % size
    gift = (size > 1) & (rng.random(rows) < cfg.gift_order_rate)
    recipient = np.where(gift, other, orders.person).astype(np.int64)
    first, last = render_names(cfg, pop, pools, recipient, orders.day, rng, NameNoise())
    address = render_address_columns(cfg, geo, pop, recipient, orders.day, rng, 0.0)
    typed = replace_where(
        pop.email.take(pa.array(orders.person)),
        draw_mask(rng, rows, 0.15),
        pop.other_email.take(pa.array(orders.person)),
    )
    typed = vary_gmail_dots(typed, draw_mask(rng, rows, cfg.gmail_dot_variant_rate), rng)
    guest_email = set_null_where(render_emails(cfg, typed, rng, cfg.junk_email_rate), ~guest)
    table = pa.table(
        {
            "order_id": orders.ids,
            "customer_id": take(registry.accounts.ids, orders.account),
            "guest_email": guest_email,
            "ship_first_name": first,
            "ship_last_name": last,
            "ship_address_line": address["address_line"],
            "ship_city": address["city"],
            "ship_postcode": address["postcode"],
            "channel": take(to_vocabulary(CHANNELS), orders.channel),
            "currency": repeat_string("USD", rows),
            "total_amount": pa.array(orders.total, type=pa.float64()),
            "ordered_at": to_timestamps(clock.to_us(orders.day)),
        }
    )
    lines = pa.table(
        {
            "order_id": orders.ids.take(pa.array(orders.line_order)),
            "line_number": pa.array(orders.line_number, type=pa.int32()),
            "product_id": catalog.table.column("product_id")
            .combine_chunks()
            .take(pa.array(orders.line_product)),
            "quantity": pa.array(orders.line_quantity, type=pa.int32()),
            "unit_price": pa.array(orders.line_price, type=pa.float64()),
        }
    )
    guests = np.flatnonzero(guest)
    truth = pa.table(
        {
            "source": repeat_string("orders", len(guests)),
            "record_id": orders.ids.take(pa.array(guests)),
            "person_id": person_ids.take(pa.array(orders.person[guests])),
        }
    )
    return table, lines, truth
