"""Web and app events: browsing, research before purchases, checkouts, logins, email clicks.

Web events are keyed by the cookie of the browser in use at the time, app events by the device
and its install id. Logging in (identify) ties that anonymous id to a shop account; every
logged-in checkout is preceded by one. A small share of web events carry junk anonymous ids
('0', 'null', ...) shared by many people, and some app builds send user id '0' on login.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.campaigns import EmailActivity
from features.world.catalog import Catalog
from features.world.clock import Clock
from features.world.commerce import APP, WEB, Orders
from features.world.config import WorldConfig
from features.world.devices import Devices
from features.world.noise import JUNK_ANONYMOUS_IDS, JUNK_USER_ID
from features.world.population import Population
from features.world.records import Registry
from features.world.sessions import (
    EMAIL_CLICK,
    EVENT_TYPES,
    JUNK_ACCOUNT,
    PAGE_VIEW,
    PRODUCT_VIEW,
    EventCollector,
    add_browse_sessions,
    add_purchase_sessions,
    add_research_views,
)
from features.world.strings import build_ids, repeat_string, take, to_timestamps, to_vocabulary


@dataclass(frozen=True)
class EventStream:
    """What later stages need from an events file once it is written: who each event was."""

    pairs: pa.Table  # identifier_type, identifier_value, person index
    person: np.ndarray  # per event, in file order
    day: np.ndarray  # per event
    cookie: np.ndarray  # web only: cookie index per event, -1 for junk ids


def _select_orders(orders: Orders, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Orders of one channel and their lines (order position within the subset, product)."""
    chosen = np.flatnonzero(orders.channel == channel)
    position = np.full(len(orders), -1, dtype=np.int64)
    position[chosen] = np.arange(len(chosen))
    keep = position[orders.line_order] >= 0
    return chosen, np.stack([position[orders.line_order[keep]], orders.line_product[keep]])


def _find_main_products(orders: Orders) -> np.ndarray:
    main = np.full(len(orders), -1, dtype=np.int64)
    first = orders.line_number == 1
    main[orders.line_order[first]] = orders.line_product[first]
    return main


def _sort_events(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Event order of the file: by time, ties in the order events were generated."""
    return np.lexsort((np.arange(len(columns["day"])), columns["day"]))


def _render_user_ids(registry: Registry, account: np.ndarray) -> pa.Array:
    ids = take(registry.accounts.ids, np.where(account == JUNK_ACCOUNT, -1, account))
    junk = pa.array(account == JUNK_ACCOUNT)
    return pc.if_else(junk, pa.scalar(JUNK_USER_ID), ids)


def _collect_pairs(identifier: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    key = np.unique((identifier.astype(np.int64) << 32) | person.astype(np.int64))
    return key >> 32, key & 0xFFFFFFFF


def build_web_events(
    cfg: WorldConfig, clock: Clock, pop: Population, catalog: Catalog, registry: Registry,
    devices: Devices, orders: Orders, email: EmailActivity, cookie_ids: pa.Array,
    rng: np.random.Generator,
) -> tuple[pa.Table, EventStream]:  # fmt: skip
    """The web_events file (research, checkouts, browsing, logins, email clicks) and its facts."""
    lo, hi = pop.active_window(clock.horizon)
    out = EventCollector()

    def browser(person: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.floor(rng.random(len(person)) * devices.browsers[person]).astype(np.int32)

    online = np.flatnonzero(orders.channel != APP)  # call-center buyers research online too
    add_research_views(
        out,
        lo,
        orders.person[online],
        orders.day[online],
        _find_main_products(orders)[online],
        browser,
        cfg.research_views_mean,
        rng,
    )
    web, lines = _select_orders(orders, WEB)
    person = orders.person[web]
    add_purchase_sessions(
        out,
        lo,
        person,
        orders.day[web],
        orders.account[web],
        browser(person, orders.day[web]),
        (lines[0], lines[1]),
        rng,
    )

    rate = cfg.web_sessions_per_year * pop.web_propensity * clock.exposure(lo, hi) / 365
    person = np.repeat(np.arange(pop.size), rng.poisson(rate)).astype(np.int64)
    day = clock.draw_times(rng, lo[person], hi[person])
    account = registry.account_at(person, day, rng)
    account = np.where(rng.random(len(person)) < 0.25, account, -1)
    add_browse_sessions(
        out,
        clock,
        pop,
        catalog,
        person,
        day,
        browser(person, day),
        account,
        np.ones(len(person), bool),
        (0.6, 2.0, 0.08),
        rng,
    )

    # Email clicks land on the site with the subscriber id, then show the promoted item.
    sub = email.click_subscriber
    person = registry.subscribers.person[sub]
    product = email.campaign_product[email.click_campaign]
    click_day = email.click_day + rng.uniform(1, 5, len(sub)) / 86_400
    slot = browser(person, click_day)
    out.add(
        person,
        click_day,
        EMAIL_CLICK,
        slot,
        product=product,
        subscriber=sub,
        campaign=email.click_campaign,
    )
    follow_day = click_day + rng.uniform(10, 40, len(sub)) / 86_400
    out.add(
        person, follow_day, np.where(product >= 0, PRODUCT_VIEW, PAGE_VIEW), slot, product=product
    )

    col = out.columns()
    order = _sort_events(col)
    col = {k: v[order] for k, v in col.items()}
    rows = len(order)
    owner = col["person"].astype(np.int64) * 2 + col["slot"]
    cookie = devices.cookies.at(owner, col["day"])
    junk = rng.random(rows) < cfg.junk_anonymous_id_rate
    junk_code = rng.integers(0, len(JUNK_ANONYMOUS_IDS), rows)
    anonymous = pc.if_else(
        pa.array(junk),
        take(to_vocabulary(JUNK_ANONYMOUS_IDS), junk_code),
        cookie_ids.take(pa.array(cookie)),
    )
    table = pa.table(
        {
            "event_id": build_ids("wev_", np.arange(1, rows + 1), 10),
            "anonymous_id": anonymous,
            "device_id": pa.nulls(rows, pa.string()),
            "user_id": _render_user_ids(registry, col["account"]),
            "subscriber_id": take(registry.subscribers.ids, col["subscriber"]),
            "campaign_id": take(email.campaign_ids, col["campaign"]),
            "type": take(to_vocabulary(EVENT_TYPES), col["kind"]),
            "product_id": take(catalog.table.column("product_id").combine_chunks(), col["product"]),
            "at": to_timestamps(clock.to_us(col["day"])),
        }
    )
    real_id, real_person = _collect_pairs(cookie[~junk], col["person"][~junk])
    junk_id, junk_person = _collect_pairs(junk_code[junk], col["person"][junk])
    pairs = pa.table(
        {
            "identifier_type": repeat_string("anonymous_id", len(real_id) + len(junk_id)),
            "identifier_value": pa.concat_arrays(
                [
                    cookie_ids.take(pa.array(real_id)),
                    take(to_vocabulary(JUNK_ANONYMOUS_IDS), junk_id),
                ]
            ),
            "person": np.concatenate([real_person, junk_person]),
        }
    )
    return table, EventStream(pairs, col["person"], col["day"], np.where(junk, -1, cookie))


def build_app_events(
    cfg: WorldConfig, clock: Clock, pop: Population, catalog: Catalog, registry: Registry,
    devices: Devices, orders: Orders, device_ids: pa.Array, install_ids: pa.Array,
    rng: np.random.Generator,
) -> tuple[pa.Table, EventStream]:  # fmt: skip
    """The app_events file (phones and shared tablets, app checkouts, logins) and its facts."""
    lo, hi = pop.active_window(clock.horizon)
    out = EventCollector()

    def device(person: np.ndarray, day: np.ndarray) -> np.ndarray:
        return devices.device_at(person, day, rng).astype(np.int32)

    app, lines = _select_orders(orders, APP)
    person, day = orders.person[app], orders.day[app]
    add_research_views(
        out, lo, person, day, _find_main_products(orders)[app], device, cfg.research_views_mean, rng
    )
    add_purchase_sessions(
        out, lo, person, day, orders.account[app], device(person, day), (lines[0], lines[1]), rng
    )

    users = np.flatnonzero(devices.uses_app)
    tablet_only = ~pop.app_user[users]
    rate = (
        cfg.app_sessions_per_year
        * pop.app_propensity[users]
        * np.where(tablet_only, 0.5, 1.0)
        * clock.exposure(lo[users], hi[users])
        / 365
    )
    person = np.repeat(users, rng.poisson(rate))
    day = clock.draw_times(rng, lo[person], hi[person])
    slot = device(person, day)
    shared = devices.device_person[slot] < 0
    account = registry.account_at(person, day, rng)
    account = np.where(rng.random(len(person)) < 0.85, account, -1)
    # Apps keep people logged in; on a shared tablet members switch users, so each logs in.
    identify = shared | (rng.random(len(person)) < 0.15)
    # Some app builds send user id '0' with the login event (checkout logins are unaffected).
    broken = rng.random(len(person)) < cfg.junk_user_id_rate
    add_browse_sessions(
        out,
        clock,
        pop,
        catalog,
        person,
        day,
        slot,
        account,
        identify,
        (1.0, 1.2, 0.08),
        rng,
        np.where(broken, JUNK_ACCOUNT, account),
    )

    col = out.columns()
    order = _sort_events(col)
    col = {k: v[order] for k, v in col.items()}
    rows = len(order)
    install = devices.installs.at(col["slot"], col["day"])
    table = pa.table(
        {
            "event_id": build_ids("aev_", np.arange(1, rows + 1), 10),
            "anonymous_id": install_ids.take(pa.array(install)),
            "device_id": device_ids.take(pa.array(col["slot"])),
            "user_id": _render_user_ids(registry, col["account"]),
            "subscriber_id": pa.nulls(rows, pa.string()),
            "campaign_id": pa.nulls(rows, pa.string()),
            "type": take(to_vocabulary(EVENT_TYPES), col["kind"]),
            "product_id": take(catalog.table.column("product_id").combine_chunks(), col["product"]),
            "at": to_timestamps(clock.to_us(col["day"])),
            "platform": take(
                to_vocabulary(["android", "ios"]), devices.device_ios[col["slot"]].astype(np.int8)
            ),
        }
    )
    install_id, install_person = _collect_pairs(install, col["person"])
    device_id, device_person = _collect_pairs(col["slot"], col["person"])
    pairs = pa.table(
        {
            "identifier_type": take(
                to_vocabulary(["anonymous_id", "device_id"]),
                np.repeat([0, 1], [len(install_id), len(device_id)]),
            ),
            "identifier_value": pa.concat_arrays(
                [install_ids.take(pa.array(install_id)), device_ids.take(pa.array(device_id))]
            ),
            "person": np.concatenate([install_person, device_person]),
        }
    )
    return table, EventStream(pairs, col["person"], col["day"], np.zeros(0, np.int64))
