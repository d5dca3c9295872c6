"""Browsers, cookies, app devices and installs: the anonymous identifiers behaviour is keyed by.

Every person has one or two browsers; each browser gets a new cookie every few months (cleared
cookies, tracking prevention). App users have a phone and sometimes a second device (a newer
phone or their own tablet); reinstalling the app gives a new install id on the same device. Some
multi-person households share one tablet on which several members log in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.population import Population
from features.world.strings import draw_hex, draw_uuids

_MS_PER_DAY = 86_400_000
_OWNER_SHIFT = 37  # ms in the window fit in 2**37 (4 years), owners in the remaining bits


@dataclass(frozen=True)
class Segments:
    """Consecutive ids of one owner (a browser or a device): id k is valid from start[k]."""

    owner: np.ndarray
    start: np.ndarray
    key: np.ndarray  # sorted (owner, start) packed into int64 for searchsorted

    def __len__(self) -> int:
        return len(self.owner)

    def at(self, owner: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Index of the id an owner used at `day`."""
        probe = (owner.astype(np.int64) << _OWNER_SHIFT) + _to_ms(day)
        return np.searchsorted(self.key, probe, side="right") - 1


def _to_ms(day: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(day, 0, None) * _MS_PER_DAY).astype(np.int64)


def _build_segments(
    owner: np.ndarray, start: np.ndarray, switches: np.ndarray, switch_day: np.ndarray
) -> Segments:
    """Segments from each owner's first start plus extra starts at `switch_day` (any order)."""
    all_owner = np.concatenate([owner, switches])
    all_start = np.concatenate([start, switch_day])
    order = np.lexsort((all_start, all_owner))
    all_owner, all_start = all_owner[order], all_start[order]
    key = (all_owner.astype(np.int64) << _OWNER_SHIFT) + _to_ms(all_start)
    return Segments(all_owner, all_start, key)


@dataclass(frozen=True)
class Devices:
    """Everyone's browsers and cookies; app users' devices and installs."""

    browsers: np.ndarray  # per person: 1 or 2
    cookies: Segments  # owner = person * 2 + browser
    device_person: np.ndarray  # owner of each device; -1 for a shared tablet
    device_household: np.ndarray
    device_ios: np.ndarray
    installs: Segments  # owner = device
    first_device: np.ndarray  # per person, -1 if not an app user
    second_device: np.ndarray  # per person, -1 if none
    second_is_upgrade: np.ndarray  # the second device replaces the first at `switch_day`
    switch_day: np.ndarray
    tablet: np.ndarray  # per person: the household's shared tablet, -1 if none
    uses_app: np.ndarray  # per person: has app events at all

    def device_at(
        self, person: np.ndarray, day: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The device a person uses the app on at `day`: own phone(s), or the family tablet."""
        rows = len(person)
        first, second = self.first_device[person], self.second_device[person]
        upgraded = self.second_is_upgrade[person] & (day >= self.switch_day[person])
        concurrent = (second >= 0) & ~self.second_is_upgrade[person] & (rng.random(rows) < 0.3)
        device = np.where((second >= 0) & (upgraded | concurrent), second, first)
        tablet = self.tablet[person]
        on_tablet = (tablet >= 0) & ((device < 0) | (rng.random(rows) < 0.5))
        return np.where(on_tablet, tablet, device)

    def identifiers(self, rng: np.random.Generator) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Cookie ids, device ids (IDFV upper-case UUIDs on iOS, 16 hex on Android), install ids."""
        cookie_ids = draw_uuids(rng, len(self.cookies))
        ios_ids = draw_uuids(rng, len(self.device_ios), upper=True)
        android_ids = draw_hex(rng, len(self.device_ios), 16)
        device_ids = pc.if_else(pa.array(self.device_ios), ios_ids, android_ids)
        install_ids = draw_uuids(rng, len(self.installs))
        return cookie_ids, device_ids, install_ids


def build_devices(
    cfg: WorldConfig, clock: Clock, pop: Population, rng: np.random.Generator
) -> Devices:
    """Draw browsers with cookie churn, app devices with reinstalls, and shared tablets."""
    n = pop.size
    lo, hi = pop.active_window(clock.horizon)
    browsers = 1 + (rng.random(n) < cfg.second_browser_rate)
    owner = np.flatnonzero(np.arange(2 * n) % 2 < browsers[np.arange(2 * n) // 2])
    person = owner // 2
    # A cookie may have been set before the window; rotations happen at a steady rate within it.
    rotations = rng.poisson((hi[person] - lo[person]) / cfg.cookie_lifetime_days)
    rotating = np.repeat(owner, rotations)
    rotate_person = rotating // 2
    rotate_day = lo[rotate_person] + rng.random(len(rotating)) * (hi - lo)[rotate_person]
    cookies = _build_segments(owner, np.zeros(len(owner)), rotating, rotate_day)

    households = int(pop.household.max()) + 1
    big = np.bincount(pop.household, minlength=households) >= 2
    has_tablet = big & (rng.random(households) < cfg.shared_tablet_rate)
    app_user = pop.app_user
    phones = np.flatnonzero(app_user)
    with_second = phones[rng.random(len(phones)) < cfg.second_device_rate]
    tablet_households = np.flatnonzero(has_tablet)
    device_person = np.concatenate([phones, with_second, np.full(len(tablet_households), -1)])
    device_household = np.concatenate(
        [pop.household[phones], pop.household[with_second], tablet_households]
    )
    device_ios = np.concatenate(
        [
            pop.ios[phones],
            np.where(
                rng.random(len(with_second)) < 0.9, pop.ios[with_second], ~pop.ios[with_second]
            ),
            rng.random(len(tablet_households)) < 0.6,
        ]
    )
    devices = len(device_person)
    first_device = np.full(n, -1, dtype=np.int64)
    first_device[phones] = np.arange(len(phones))
    second_device = np.full(n, -1, dtype=np.int64)
    second_device[with_second] = len(phones) + np.arange(len(with_second))
    upgrade = np.zeros(n, dtype=bool)
    upgrade[with_second] = rng.random(len(with_second)) < 0.6
    switch_day = lo + rng.random(n) * (hi - lo)
    tablet_of_household = np.full(households, -1, dtype=np.int64)
    tablet_of_household[tablet_households] = (
        len(phones) + len(with_second) + np.arange(len(tablet_households))
    )
    tablet = tablet_of_household[pop.household]

    reinstalled = np.flatnonzero(rng.random(devices) < cfg.reinstall_rate)
    reinstall_day = rng.uniform(0, clock.horizon, len(reinstalled))
    installs = _build_segments(np.arange(devices), np.zeros(devices), reinstalled, reinstall_day)
    return Devices(
        browsers=browsers,
        cookies=cookies,
        device_person=device_person,
        device_household=device_household,
        device_ios=device_ios,
        installs=installs,
        first_device=first_device,
        second_device=second_device,
        second_is_upgrade=upgrade,
        switch_day=switch_day,
        tablet=tablet,
        uses_app=app_user | (tablet >= 0),
    )
