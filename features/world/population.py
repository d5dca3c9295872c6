"""Persons and households with their true identity and latent behavioural traits.

Households of one to five people share an address, (mostly) a surname and sometimes a landline;
children are young adults; some are twins or named after their father. These are the hard
negatives of identity resolution: different people who look alike. The traits (category
affinities, price band, channel habits, purchase rate, churn) drive all later behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.world.catalog import Catalog
from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.geo import Addresses, Geography, draw_addresses, draw_phone_numbers, draw_states
from features.world.names import (
    NamePools,
    draw_email_addresses,
    draw_first_names,
    draw_last_names,
)
from features.world.strings import take

HEAD, PARTNER, CHILD = 0, 1, 2


@dataclass(frozen=True)
class Population:
    """Every person as parallel arrays (index = person number - 1)."""

    household: np.ndarray
    household_head: np.ndarray  # person index of the household's head
    household_size: np.ndarray
    role: np.ndarray
    male: np.ndarray
    first_name: np.ndarray  # codes into NamePools.first
    last_name: np.ndarray  # current surname, codes into NamePools.last
    maiden_name: np.ndarray  # surname before a marriage in the window, -1 if none
    name_changed_day: np.ndarray  # nan if no change
    birth_day: np.ndarray  # days since the Unix epoch
    twin: np.ndarray
    address: np.ndarray  # current address, index into `addresses`
    previous_address: np.ndarray  # address before a move in the window, -1 if none
    moved_day: np.ndarray  # nan if no move
    mobile: np.ndarray  # 10 digits, 0 if none
    landline: np.ndarray  # the household's landline, 0 if none
    email: pa.Array  # main address
    other_email: pa.Array  # a second address (work, newer, ...)
    addresses: Addresses
    # latent traits
    affinity: np.ndarray  # (people, categories), rows sum to 1
    price_band: np.ndarray  # 0 low, 1 mid, 2 high
    purchase_rate: np.ndarray  # orders per year while active
    first_seen_day: np.ndarray
    churn_day: np.ndarray  # nothing happens at or after it
    churn_hazard: np.ndarray  # per year
    web_propensity: np.ndarray  # multiplier of browse sessions
    app_user: np.ndarray
    app_propensity: np.ndarray  # multiplier of app sessions
    app_order_share: np.ndarray  # share of an app user's online orders placed in the app
    ios: np.ndarray
    email_open_propensity: np.ndarray
    email_click_propensity: np.ndarray
    call_propensity: np.ndarray

    @property
    def size(self) -> int:
        """Number of persons."""
        return len(self.household)

    def last_name_at(self, index: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Surname codes as of `day` (maiden name before a marriage)."""
        before = self.name_changed_day[index] > day  # nan compares False: no change
        return np.where(before, self.maiden_name[index], self.last_name[index])

    def address_at(self, index: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Address index as of `day` (the old address before a move)."""
        before = self.moved_day[index] > day
        return np.where(before, self.previous_address[index], self.address[index])

    def active_window(self, horizon: int, margin: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
        """[from, to) float days in which each person can start an action inside the window.

        `margin` days are kept free before churn and the window's end so that the few events
        following an action (a confirmation page, a click) still fall inside both.
        """
        lo = np.maximum(self.first_seen_day, 0.0)
        hi = np.minimum(self.churn_day, horizon) - margin
        return lo, np.maximum(hi, lo)


def _draw_households(
    cfg: WorldConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household id, position inside the household, and household size of every person."""
    weights = np.asarray(cfg.household_size_weights) / sum(cfg.household_size_weights)
    sizes = rng.choice(np.arange(1, 6), size=cfg.people + 5, p=weights)
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, cfg.people) + 1)
    sizes = sizes[:count].copy()
    sizes[-1] -= ends[count - 1] - cfg.people
    household = np.repeat(np.arange(count), sizes)
    head = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.arange(cfg.people) - head[household]
    return household, position, sizes[household]


def build_population(
    cfg: WorldConfig,
    clock: Clock,
    geo: Geography,
    pools: NamePools,
    catalog: Catalog,
    rng: np.random.Generator,
) -> Population:
    """Draw households, true identities and traits of `cfg.people` persons."""
    n, horizon = cfg.people, clock.horizon
    household, position, size = _draw_households(cfg, rng)
    head = np.arange(n) - position
    role = np.where(position == 0, HEAD, CHILD)
    role[(position == 1) & (rng.random(n) < 0.85)] = PARTNER  # else a single parent's child
    has_child = np.bincount(household, weights=role == CHILD)[household] > 0

    # Ages at `start`: parents of young adults are 40-64; others spread from 19 to 85.
    head_age = np.where(has_child, rng.uniform(40, 64, n), np.clip(rng.normal(44, 14, n), 19, 85))
    head_age = head_age[head]
    age = np.where(role == PARTNER, np.clip(head_age + rng.normal(0, 3.5, n), 19, 90), head_age)
    child_age = rng.uniform(18, np.maximum(18.5, np.minimum(30, head_age - 20)))
    age = np.where(role == CHILD, child_age, age)
    birth_day = (clock.start_epoch_day - age * 365.25).astype(np.int32)

    male = rng.random(n) < 0.5
    male = np.where((role == PARTNER) & (rng.random(n) < 0.92), ~male[head], male)
    first_name = draw_first_names(pools, rng, male)
    surname = draw_last_names(pools, rng, n)
    own_surname = (role == PARTNER) & (rng.random(n) >= cfg.partner_same_surname_rate)
    last_name = np.where(own_surname, surname, surname[head])

    # Twins: the second child takes the first child's birth day and a different first name.
    first_child = np.where(role == CHILD, position, 99)
    first_child_pos = np.minimum.reduceat(
        first_child, np.r_[0, np.flatnonzero(np.diff(household)) + 1]
    )
    children = np.bincount(household, weights=role == CHILD)
    twin_household = (children >= 2) & (rng.random(len(children)) < cfg.twin_rate)
    second = (
        (role == CHILD) & (position == first_child_pos[household] + 1) & twin_household[household]
    )
    twin = second.copy()
    twin[np.flatnonzero(second) - 1] = True
    birth_day[second] = birth_day[np.flatnonzero(second) - 1]
    for _ in range(8):  # redraw the rare same-name twins; a handful of rows at most
        same = second & (first_name == np.roll(first_name, 1))
        if not same.any():
            break
        first_name[same] = draw_first_names(pools, rng, male[same])
    junior = (role == CHILD) & male & male[head] & ~twin & (rng.random(n) < cfg.junior_rate)
    first_name = np.where(junior, first_name[head], first_name)

    # Marriage in the window: a partner who took the head's surname had another before.
    eligible = (role == PARTNER) & ~male & ~own_surname
    p_change = min(1.0, cfg.name_change_rate * n / max(1, eligible.sum()))
    changed = eligible & (rng.random(n) < p_change)
    maiden_name = np.where(changed, draw_last_names(pools, rng, n), -1)
    maiden_name = np.where(
        changed & (maiden_name == last_name), (maiden_name + 1) % len(pools.last), maiden_name
    )
    name_changed_day = np.where(changed, rng.uniform(30, horizon - 30, n), np.nan)

    # Addresses: one per household, then moves (whole households, or young adults leaving home).
    households = len(children)
    home_state = draw_states(geo, rng, households)
    leaving = (role == CHILD) & (age < 26) & (rng.random(n) < 0.3)
    p_household = max(0.0, (cfg.move_rate * n - leaving.sum()) / n)
    household_moves = rng.random(households) < p_household
    mover_household = np.flatnonzero(household_moves)
    # Most moves stay in the state; the new address is drawn once per moving household.
    new_state = np.where(
        rng.random(households) < 0.7, home_state, draw_states(geo, rng, households)
    )
    leaver = np.flatnonzero(leaving & ~household_moves[household])
    addresses = draw_addresses(
        geo,
        rng,
        np.concatenate([home_state, new_state[mover_household], new_state[household[leaver]]]),
    )
    home = household.astype(np.int64)
    new_home = np.full(households, -1, dtype=np.int64)
    new_home[mover_household] = households + np.arange(len(mover_household))
    address = np.where(household_moves[household], new_home[household], home)
    address[leaver] = households + len(mover_household) + np.arange(len(leaver))
    moved = household_moves[household].copy()
    moved[leaver] = True
    household_day = rng.uniform(30, horizon - 30, households)
    moved_day = np.where(
        household_moves[household], household_day[household], rng.uniform(30, horizon - 30, n)
    )
    moved_day = np.where(moved, moved_day, np.nan)
    previous_address = np.where(moved, home, -1)

    state = geo.city_state[addresses.city[home]]
    has_mobile = rng.random(n) < cfg.mobile_phone_rate
    has_landline = rng.random(households) < cfg.landline_rate
    landline_h = np.zeros(households, dtype=np.int64)
    landline_h[has_landline] = draw_phone_numbers(
        geo, rng, home_state[has_landline], np.zeros(0, np.int64)
    )
    mobile = np.zeros(n, dtype=np.int64)
    mobile[has_mobile] = draw_phone_numbers(geo, rng, state[has_mobile], landline_h[has_landline])

    first_text = take(pools.first, first_name)
    birth_year = 1970 + (birth_day / 365.25).astype(np.int64)
    birth_surname = take(pools.last, np.where(changed, maiden_name, last_name))
    email = draw_email_addresses(rng, first_text, birth_surname, birth_year)
    other_email = draw_email_addresses(
        rng, first_text, take(pools.last, last_name), birth_year, email
    )

    traits = _draw_traits(cfg, catalog, horizon, head, age, rng)
    return Population(
        household=household.astype(np.int64),
        household_head=head,
        household_size=size,
        role=role.astype(np.int8),
        male=male,
        first_name=first_name,
        last_name=last_name,
        maiden_name=maiden_name,
        name_changed_day=name_changed_day,
        birth_day=birth_day,
        twin=twin,
        address=address,
        previous_address=previous_address,
        moved_day=moved_day,
        mobile=mobile,
        landline=landline_h[household],
        email=email,
        other_email=other_email,
        addresses=addresses,
        **traits,
    )


def _draw_traits(
    cfg: WorldConfig,
    catalog: Catalog,
    horizon: int,
    head: np.ndarray,
    age: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The latent behaviour of each person: tastes, budget, rhythm, channels, lifetime."""
    n = len(head)
    alpha = cfg.affinity_concentration * len(catalog.popularity) * catalog.popularity
    own = rng.dirichlet(alpha, size=n)
    shape = cfg.purchase_rate_shape
    pre_start = rng.random(n) < cfg.pre_start_share
    first_seen = np.where(
        pre_start, -rng.uniform(0, cfg.first_seen_lookback_days, n), rng.uniform(0, horizon - 1, n)
    )
    hazard = rng.gamma(2.0, 365.0 / (2.0 * cfg.mean_lifetime_days), n)  # per year
    # Younger people are likelier app users; the scaling keeps the overall rate as configured.
    young = np.clip((60 - age) / 40, 0.2, 1.0)
    app_p = np.minimum(cfg.app_user_rate * young / young.mean(), 0.95)
    open_mean, click_mean = cfg.email_open_rate, cfg.email_click_rate
    band_p = np.asarray(cfg.price_band_weights) / sum(cfg.price_band_weights)
    return {
        "affinity": (0.65 * own + 0.35 * own[head]).astype(np.float32),  # families share hobbies
        "price_band": rng.choice(3, size=n, p=band_p).astype(np.int8),
        "purchase_rate": rng.gamma(shape, cfg.mean_orders_per_year / shape, n),
        "first_seen_day": first_seen,
        "churn_day": first_seen + rng.exponential(365.0 / hazard),
        "churn_hazard": hazard,
        "web_propensity": rng.gamma(1.5, 1 / 1.5, n),
        "app_user": rng.random(n) < app_p,
        "app_propensity": rng.gamma(1.5, 1 / 1.5, n),
        "app_order_share": rng.beta(2, 2, n),
        "ios": rng.random(n) < 0.55,
        # Beta with a small concentration: many people almost never open, a few open everything.
        "email_open_propensity": rng.beta(3 * open_mean, 3 * (1 - open_mean), n),
        "email_click_propensity": rng.beta(4 * click_mean, 4 * (1 - click_mean), n),
        "call_propensity": rng.gamma(0.8, 1 / 0.8, n) * (0.6 + age / 100),  # older call more
    }
