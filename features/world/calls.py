"""Call-center interactions: calls about recent orders, plus questions and complaints.

Only people with a CRM contact call (the contact is created at the first call if it did not
exist). Calls about an order come 1-14 days after it (where is it, I want to return it); others
arrive at the person's own rate. The caller id is the person's mobile, sometimes the household
landline, sometimes withheld.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from features.world.clock import Clock
from features.world.commerce import Orders
from features.world.config import WorldConfig
from features.world.noise import CALLER_ID_WEIGHTS, format_phones
from features.world.population import Population
from features.world.records import RecordSet, Registry
from features.world.strings import build_ids, count_id_digits, take, to_timestamps, to_vocabulary

REASONS = ("order_status", "return", "product_question", "complaint", "billing", "other")
# Median call length in seconds per reason: complaints and billing take longest.
_MEDIAN_SECONDS = np.array([180, 360, 300, 600, 420, 240])
# Reasons of calls not about a known order (order_status: the caller has no order number).
_FREE_REASONS = np.array([0.15, 0.0, 0.35, 0.15, 0.15, 0.20])


@dataclass(frozen=True)
class Calls:
    """Calls in time order."""

    person: np.ndarray
    day: np.ndarray
    reason: np.ndarray
    order: np.ndarray  # order index, -1 if none recorded
    number: np.ndarray  # caller id digits, 0 if withheld
    duration: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


def build_calls(
    cfg: WorldConfig,
    clock: Clock,
    pop: Population,
    registry: Registry,
    orders: Orders,
    rng: np.random.Generator,
) -> tuple[Calls, Registry]:
    """Draw calls; return them with the registry whose contacts start no later than their calls."""
    lo, hi = pop.active_window(clock.horizon)
    known = registry.contact_of[orders.person] >= 0
    p_call = np.minimum(cfg.call_after_order_rate * pop.call_propensity[orders.person], 0.9)
    after = np.flatnonzero(known & (rng.random(len(orders)) < p_call))
    after_day = orders.day[after] + rng.uniform(1, 14, len(after))
    after_reason = np.where(rng.random(len(after)) < 0.55, 0, 1)
    after_order = np.where(rng.random(len(after)) < 0.85, after, -1)

    caller = registry.contacts.person
    rate = cfg.random_calls_per_year * pop.call_propensity[caller]
    person = np.repeat(caller, rng.poisson(rate * clock.exposure(lo[caller], hi[caller]) / 365))
    free_day = clock.draw_times(rng, lo[person], hi[person])
    free_reason = rng.choice(len(REASONS), size=len(person), p=_FREE_REASONS)

    person = np.concatenate([orders.person[after], person])
    day = np.concatenate([after_day, free_day])
    reason = np.concatenate([after_reason, free_reason])
    order = np.concatenate([after_order, np.full(len(free_day), -1)])
    keep = day < hi[person]  # nobody calls after churning or after the window
    person, day, reason, order = (a[keep] for a in (person, day, reason, order))
    by_time = np.lexsort((person, day))
    person, day, reason, order = (a[by_time] for a in (person, day, reason, order))

    rows = len(person)
    landline = pop.landline[person]
    use_landline = (landline > 0) & (
        (pop.mobile[person] == 0) | (rng.random(rows) < cfg.landline_use_rate)
    )
    number = np.where(use_landline, landline, pop.mobile[person])
    number = np.where(rng.random(rows) < cfg.caller_id_withheld_rate, 0, number)
    duration = np.round(_MEDIAN_SECONDS[reason] * np.exp(rng.normal(0, 0.6, rows))).astype(np.int32)
    calls = Calls(person, day, reason, order, number, duration)
    return calls, _backdate_contacts(registry, calls, rng)


def _backdate_contacts(registry: Registry, calls: Calls, rng: np.random.Generator) -> Registry:
    """Move each contact's creation to its first call when the call came first, renumbering."""
    contacts = registry.contacts
    first_call = np.full(len(registry.contact_of), np.inf)
    np.minimum.at(first_call, calls.person, calls.day)
    opened = first_call[contacts.person] - rng.uniform(30, 300, len(contacts)) / 86_400
    created = np.minimum(contacts.created_day, opened)
    updated = np.maximum(contacts.updated_day, created)
    order = np.lexsort((contacts.person, created))
    ids = build_ids("crm_", np.arange(1, len(order) + 1), count_id_digits(len(order)))
    renumbered = RecordSet(
        contacts.person[order], created[order], updated[order], ids, contacts.second[order]
    )
    contact_of = np.full(len(registry.contact_of), -1, dtype=np.int64)
    contact_of[renumbered.person] = np.arange(len(order))
    return replace(registry, contacts=renumbered, contact_of=contact_of)


def render_calls(
    clock: Clock, registry: Registry, orders: Orders, calls: Calls, rng: np.random.Generator
) -> pa.Table:
    """The call_center_interactions file."""
    rows = len(calls)
    agents = int(np.clip(rows / 1500, 12, 400))
    agent_ids = build_ids("agt_", np.arange(1, agents + 1), 4)
    return pa.table(
        {
            "interaction_id": build_ids("call_", np.arange(1, rows + 1), count_id_digits(rows, 8)),
            "contact_id": registry.contacts.ids.take(pa.array(registry.contact_of[calls.person])),
            "phone": format_phones(calls.number, rng, CALLER_ID_WEIGHTS),
            "order_id": take(orders.ids, calls.order),
            "reason": take(to_vocabulary(REASONS), calls.reason),
            "agent_id": agent_ids.take(pa.array(rng.integers(0, agents, rows))),
            "duration_seconds": pa.array(calls.duration, type=pa.int32()),
            "at": to_timestamps(clock.to_us(calls.day)),
        }
    )
