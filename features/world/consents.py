"""Consent log: grants and revocations per identifier and purpose, from every collecting system.

email_marketing is granted when subscribing and revoked on unsubscribing; a shop account answers
personalization, profiling and advertising questions at sign-up; the cookie banner records an
advertising choice per cookie; callers sometimes ask not to be contacted for advertising. Some
grants are revoked later. The consent platform went live at `start`: choices made before it were
imported in a batch on its first day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.calls import Calls
from features.world.campaigns import EmailActivity
from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.events import EventStream
from features.world.noise import format_e164
from features.world.population import Population
from features.world.records import Registry
from features.world.strings import (
    build_ids,
    count_id_digits,
    take,
    to_timestamps,
    to_vocabulary,
)

IDENTIFIER_TYPES = ("email", "phone", "customer_id", "anonymous_id")
PURPOSES = ("email_marketing", "advertising", "personalization", "profiling")
SOURCES = ("email_platform", "shop", "web_cookie_banner", "call_center")
EMAIL, PHONE, CUSTOMER, ANONYMOUS = range(4)
EMAIL_MARKETING, ADVERTISING, PERSONALIZATION, PROFILING = range(4)
# People grant personalization more readily than advertising, and profiling least.
_GRANT_SHIFT = {PERSONALIZATION: 0.10, ADVERTISING: 0.0, PROFILING: -0.15}


def _log_day(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Choices made before go-live are imported during the platform's first day."""
    return np.where(day < 0, rng.random(len(day)), day)


def build_consents(
    cfg: WorldConfig, clock: Clock, pop: Population, registry: Registry, email: EmailActivity,
    web: EventStream, cookie_ids: pa.Array, calls: Calls, rng: np.random.Generator,
) -> pa.Table:  # fmt: skip
    """The consents file, in time order."""
    _, stop = pop.active_window(clock.horizon)
    parts: list[tuple[int, np.ndarray, int, np.ndarray, int, np.ndarray, np.ndarray]] = []
    # (identifier type, identifier index, purpose, granted, source, day, person)

    subs = registry.subscribers
    all_subs = np.arange(len(subs))
    parts.append(
        (
            EMAIL,
            all_subs,
            EMAIL_MARKETING,
            np.ones(len(subs), bool),
            0,
            _log_day(subs.created_day, rng),
            subs.person,
        )
    )
    left = np.flatnonzero(np.isfinite(email.unsubscribed_day))
    parts.append(
        (
            EMAIL,
            left,
            EMAIL_MARKETING,
            np.zeros(len(left), bool),
            0,
            email.unsubscribed_day[left],
            subs.person[left],
        )
    )

    accounts = registry.accounts
    for purpose, shift in _GRANT_SHIFT.items():  # three questions at sign-up
        answered = np.flatnonzero(rng.random(len(accounts)) < cfg.shop_consent_answer_rate)
        granted = rng.random(len(answered)) < np.clip(cfg.consent_grant_rate + shift, 0, 1)
        parts.append(
            (
                CUSTOMER,
                answered,
                purpose,
                granted,
                1,
                _log_day(accounts.created_day[answered], rng),
                accounts.person[answered],
            )
        )

    # Cookie banner: answered on the first page a cookie shows.
    seen = np.flatnonzero(web.cookie >= 0)
    cookie, first = np.unique(web.cookie[seen], return_index=True)
    answered = rng.random(len(cookie)) < cfg.cookie_banner_answer_rate
    banner_day = web.day[seen[first[answered]]] + rng.uniform(1, 20, answered.sum()) / 86_400
    parts.append(
        (
            ANONYMOUS,
            cookie[answered],
            ADVERTISING,
            rng.random(answered.sum()) < cfg.consent_grant_rate,
            2,
            banner_day,
            web.person[seen[first[answered]]],
        )
    )

    # "Please stop calling me with offers": an advertising refusal against the caller's number.
    asked = np.flatnonzero((calls.number > 0) & (rng.random(len(calls)) < 0.04))
    parts.append(
        (
            PHONE,
            asked,
            ADVERTISING,
            np.zeros(len(asked), bool),
            3,
            calls.day[asked] + calls.duration[asked] / 86_400,
            calls.person[asked],
        )
    )

    kind = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    index = np.concatenate([p[1] for p in parts])
    purpose = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
    granted = np.concatenate([p[3] for p in parts])
    source = np.concatenate([np.full(len(p[1]), p[4]) for p in parts])
    day = np.concatenate([p[5] for p in parts])
    owner = np.concatenate([p[6] for p in parts])

    # Some grants are withdrawn later, while the person is still around.
    withdraw = granted & (source != 0) & (rng.random(len(day)) < cfg.consent_revocation_rate)
    withdraw_day = day + rng.random(len(day)) * (stop[owner] - day)
    later = np.flatnonzero(withdraw & (withdraw_day > day))
    later_day = withdraw_day[later]
    kind, index, purpose, source, owner = (
        np.r_[a, a[later]] for a in (kind, index, purpose, source, owner)
    )
    granted = np.r_[granted, np.zeros(len(later), bool)]
    day = np.r_[day, later_day]

    order = np.lexsort((purpose, index, kind, day))
    rows = len(order)
    kind, index, purpose, granted, source, day = (
        a[order] for a in (kind, index, purpose, granted, source, day)
    )
    phone_text = format_e164(calls.number)
    value = pa.nulls(rows, pa.string())
    pools = (
        (EMAIL, registry.subscriber_email),
        (PHONE, phone_text),
        (CUSTOMER, accounts.ids),
        (ANONYMOUS, cookie_ids),
    )
    for code, pool in pools:
        mine = kind == code
        value = pc.if_else(pa.array(mine), take(pool, np.where(mine, index, -1)), value)
    return pa.table(
        {
            "consent_id": build_ids("cns_", np.arange(1, rows + 1), count_id_digits(rows, 9)),
            "identifier_type": take(to_vocabulary(IDENTIFIER_TYPES), kind),
            "identifier_value": value,
            "purpose": take(to_vocabulary(PURPOSES), purpose),
            "status": take(to_vocabulary(["revoked", "granted"]), granted.astype(np.int8)),
            "source": take(to_vocabulary(SOURCES), source),
            "at": to_timestamps(clock.to_us(day)),
        }
    )
