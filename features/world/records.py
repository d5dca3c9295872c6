"""Source person records: who has a shop account, a CRM contact, an email subscription.

A record is a snapshot of a person as one system saw them when it was last written, with that
system's habits and errors: nicknames and ALL CAPS in the CRM, old addresses and maiden names in
records not touched since a move or a marriage, a second account under another email, gmail dot
variants, typos, swapped names, phone layouts, junk values. The registry built here is the
skeleton later stages attach behaviour to; rendering turns it into the source files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.fields import (
    NameNoise,
    render_address_columns,
    render_emails,
    render_names,
    render_phones,
)
from features.world.geo import Geography
from features.world.names import NamePools
from features.world.noise import (
    AGENT_PHONE_WEIGHTS,
    FORM_PHONE_WEIGHTS,
    capitalize_emails,
    draw_mask,
    mistype_domains,
    pad_whitespace,
    vary_gmail_dots,
)
from features.world.population import Population
from features.world.strings import (
    build_ids,
    count_id_digits,
    repeat_string,
    replace_where,
    set_null_where,
    to_dates,
    to_timestamps,
)


@dataclass(frozen=True)
class RecordSet:
    """Records of one source: owner, creation and last-update days, and their ids."""

    person: np.ndarray
    created_day: np.ndarray
    updated_day: np.ndarray
    ids: pa.Array
    second: np.ndarray  # the person's later, duplicate record

    def __len__(self) -> int:
        return len(self.person)


@dataclass(frozen=True)
class Registry:
    """Every known-person record, and per person which record to use when."""

    accounts: RecordSet
    contacts: RecordSet
    subscribers: RecordSet
    subscriber_email: pa.Array  # as typed at sign-up
    subscriber_bounces: np.ndarray
    account_of: np.ndarray  # per person: first account index or -1
    second_account_of: np.ndarray  # per person: duplicate account index or -1
    contact_of: np.ndarray  # per person: contact index or -1

    def account_at(
        self, person: np.ndarray, day: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The account a person logs into at `day` (-1 if none exists yet).

        After opening a duplicate account people use either one, half of the time each.
        """
        first = self.account_of[person]
        second = self.second_account_of[person]
        created = self.accounts.created_day
        exists = (first >= 0) & (created[np.maximum(first, 0)] <= day)
        use_second = (
            (second >= 0) & (created[np.maximum(second, 0)] <= day) & (rng.random(len(day)) < 0.5)
        )
        return np.where(use_second, second, np.where(exists, first, -1))


def _number_by_creation(
    person: np.ndarray, created: np.ndarray, updated: np.ndarray, second: np.ndarray, prefix: str
) -> RecordSet:
    """Records numbered in creation order, the way a database sequence hands out ids."""
    order = np.lexsort((person, created))
    ids = build_ids(prefix, np.arange(1, len(order) + 1), count_id_digits(len(order)))
    return RecordSet(person[order], created[order], updated[order], ids, second[order])


def _index_by_person(records: RecordSet, size: int, second: bool) -> np.ndarray:
    table = np.full(size, -1, dtype=np.int64)
    pick = np.flatnonzero(records.second == second)
    table[records.person[pick]] = pick
    return table


def _draw_signup_days(
    rng: np.random.Generator, person: np.ndarray, pop: Population, horizon: int, within: float
) -> tuple[np.ndarray, np.ndarray]:
    """A sign-up soon after a person is first seen (never after churn), and a later update."""
    first = pop.first_seen_day[person]
    last = np.minimum(pop.churn_day[person], horizon - 0.01)
    room = np.maximum(last - first, 0.0)
    created = first + rng.random(len(person)) * np.minimum(within, room)
    edited = rng.random(len(person)) < 0.4
    updated = np.where(edited, created + rng.random(len(person)) * (last - created), created)
    return created, np.maximum(updated, created)


def build_registry(
    cfg: WorldConfig, clock: Clock, pop: Population, rng: np.random.Generator
) -> Registry:
    """Decide the records of every source and when each was created and last updated."""
    n, horizon = pop.size, clock.horizon
    everyone = np.arange(n)

    holder = everyone[rng.random(n) < cfg.shop_account_rate]
    created, updated = _draw_signup_days(rng, holder, pop, horizon, 60.0)
    last = np.minimum(pop.churn_day[holder], horizon - 0.01)
    room = last - created
    # Only accounts with a month of life left can get a duplicate; scale so the share of all
    # account holders meets the rate.
    roomy = room > 30
    p_dup = min(1.0, cfg.duplicate_account_rate * len(holder) / max(1, roomy.sum()))
    dup = roomy & (rng.random(len(holder)) < p_dup)
    dup_created = created[dup] + rng.uniform(0.2, 1.0, dup.sum()) * room[dup]
    dup_updated = dup_created + rng.random(dup.sum()) * (last[dup] - dup_created)
    accounts = _number_by_creation(
        np.concatenate([holder, holder[dup]]),
        np.concatenate([created, dup_created]),
        np.concatenate([updated, np.where(rng.random(dup.sum()) < 0.3, dup_updated, dup_created)]),
        np.r_[np.zeros(len(holder), bool), np.ones(dup.sum(), bool)],
        "cust_",
    )

    # Callers are likelier to be in the CRM: selection grows with call propensity.
    weight = np.minimum(pop.call_propensity, 4.0)
    p_contact = np.minimum(cfg.crm_contact_rate * weight / weight.mean(), 0.95)
    contact = everyone[rng.random(n) < p_contact]
    c_created, c_updated = _draw_signup_days(rng, contact, pop, horizon, 400.0)
    contacts = _number_by_creation(
        contact, c_created, c_updated, np.zeros(len(contact), bool), "crm_"
    )

    subscriber = everyone[rng.random(n) < cfg.subscriber_rate]
    s_created, _ = _draw_signup_days(rng, subscriber, pop, horizon, 180.0)
    s_last = np.minimum(pop.churn_day[subscriber], horizon - 0.01)
    roomy = s_last - s_created > 30
    p_again = min(1.0, cfg.second_subscription_rate * len(subscriber) / max(1, roomy.sum()))
    again = roomy & (rng.random(len(subscriber)) < p_again)
    again_day = s_created[again] + rng.uniform(0.1, 1.0, again.sum()) * (s_last - s_created)[again]
    sub_person = np.concatenate([subscriber, subscriber[again]])
    sub_day = np.concatenate([s_created, again_day])
    is_second = np.r_[np.zeros(len(subscriber), bool), np.ones(again.sum(), bool)]
    subscribers = _number_by_creation(sub_person, sub_day, sub_day, is_second, "sub_")
    account_of = _index_by_person(accounts, n, second=False)
    email, bounces = _draw_subscriber_emails(cfg, pop, subscribers, account_of, rng)
    return Registry(
        accounts=accounts,
        contacts=contacts,
        subscribers=subscribers,
        subscriber_email=email,
        subscriber_bounces=bounces,
        account_of=account_of,
        second_account_of=_index_by_person(accounts, n, second=True),
        contact_of=_index_by_person(contacts, n, second=False),
    )


def _draw_subscriber_emails(
    cfg: WorldConfig,
    pop: Population,
    subs: RecordSet,
    account_of: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pa.Array, np.ndarray]:
    """The address each subscription was made with, and which of them bounce."""
    rows = len(subs)
    main = pop.email.take(pa.array(subs.person))
    other = pop.other_email.take(pa.array(subs.person))
    has_account = account_of[subs.person] >= 0
    use_other = has_account & (rng.random(rows) < cfg.subscriber_other_email_rate)
    # A second subscription is made with the address the first one did not use.
    first_use_other = np.zeros(len(pop.email), dtype=bool)
    first_use_other[subs.person[~subs.second]] = use_other[~subs.second]
    use_other = np.where(subs.second, ~first_use_other[subs.person], use_other)
    email = replace_where(main, use_other, other)
    email = vary_gmail_dots(email, draw_mask(rng, rows, cfg.gmail_dot_variant_rate), rng)
    bounces = draw_mask(rng, rows, cfg.bounce_rate)
    email = mistype_domains(email, bounces, rng)
    email = capitalize_emails(email, draw_mask(rng, rows, cfg.email_case_rate), rng)
    email = pad_whitespace(email, draw_mask(rng, rows, cfg.whitespace_rate), rng)
    return email, bounces


def _build_truth(source: str, ids: pa.Array, person: np.ndarray, person_ids: pa.Array) -> pa.Table:
    return pa.table(
        {
            "source": repeat_string(source, len(ids)),
            "record_id": ids,
            "person_id": person_ids.take(pa.array(person)),
        }
    )


def render_shop_customers(
    cfg: WorldConfig, clock: Clock, geo: Geography, pools: NamePools, pop: Population,
    registry: Registry, person_ids: pa.Array, rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table]:  # fmt: skip
    """The shop_customers file and its truth rows."""
    acc = registry.accounts
    rows = len(acc)
    first, last = render_names(cfg, pop, pools, acc.person, acc.updated_day, rng, NameNoise())
    base = replace_where(
        pop.email.take(pa.array(acc.person)), acc.second, pop.other_email.take(pa.array(acc.person))
    )
    birth = np.where(
        draw_mask(rng, rows, cfg.shop_birth_date_rate),
        pop.birth_day[acc.person],
        np.iinfo(np.int32).min,
    )
    table = pa.table(
        {
            "customer_id": acc.ids,
            "email": render_emails(cfg, base, rng),
            "first_name": first,
            "last_name": last,
            "phone": render_phones(
                cfg, pop, acc.person, cfg.shop_phone_rate, rng, FORM_PHONE_WEIGHTS
            ),
            "date_of_birth": to_dates(birth),
            **render_address_columns(
                cfg, geo, pop, acc.person, acc.updated_day, rng, cfg.missing_address_rate
            ),
            "created_at": to_timestamps(clock.to_us(acc.created_day)),
            "updated_at": to_timestamps(clock.to_us(acc.updated_day)),
        }
    )
    return table, _build_truth("shop_customers", acc.ids, acc.person, person_ids)


def render_crm_contacts(
    cfg: WorldConfig, clock: Clock, geo: Geography, pools: NamePools, pop: Population,
    registry: Registry, person_ids: pa.Array, rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table]:  # fmt: skip
    """The crm_contacts file (agents' typing: nicknames, ALL CAPS, few emails) and its truth."""
    con = registry.contacts
    rows = len(con)
    noise = NameNoise(nickname_rate=cfg.crm_nickname_rate, all_caps_rate=cfg.crm_all_caps_rate)
    first, last = render_names(cfg, pop, pools, con.person, con.updated_day, rng, noise)
    base = replace_where(
        pop.email.take(pa.array(con.person)),
        draw_mask(rng, rows, 0.2),
        pop.other_email.take(pa.array(con.person)),
    )
    email = set_null_where(
        render_emails(cfg, base, rng, cfg.junk_email_rate),
        ~draw_mask(rng, rows, cfg.crm_email_rate),
    )
    birth = np.where(
        draw_mask(rng, rows, cfg.crm_birth_date_rate),
        pop.birth_day[con.person],
        np.iinfo(np.int32).min,
    )
    table = pa.table(
        {
            "contact_id": con.ids,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": render_phones(
                cfg, pop, con.person, cfg.crm_phone_rate, rng, AGENT_PHONE_WEIGHTS
            ),
            "date_of_birth": to_dates(birth),
            **render_address_columns(
                cfg, geo, pop, con.person, con.updated_day, rng, cfg.missing_address_rate
            ),
            "created_at": to_timestamps(clock.to_us(con.created_day)),
            "updated_at": to_timestamps(clock.to_us(con.updated_day)),
        }
    )
    return table, _build_truth("crm_contacts", con.ids, con.person, person_ids)


def render_email_subscribers(
    cfg: WorldConfig, clock: Clock, geo: Geography, pools: NamePools, pop: Population,
    registry: Registry, status: pa.Array, person_ids: pa.Array, rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table]:  # fmt: skip
    """The email_subscribers file (often only an email) and its truth."""
    subs = registry.subscribers
    rows = len(subs)
    first, last = render_names(cfg, pop, pools, subs.person, subs.created_day, rng, NameNoise())
    named = draw_mask(rng, rows, cfg.subscriber_name_rate)
    only_first = named & draw_mask(rng, rows, 0.3)
    columns = render_address_columns(cfg, geo, pop, subs.person, subs.created_day, rng, 0.0)
    table = pa.table(
        {
            "subscriber_id": subs.ids,
            "email": registry.subscriber_email,
            "first_name": set_null_where(first, ~named),
            "last_name": set_null_where(last, ~named | only_first),
            "postcode": set_null_where(
                columns["postcode"], ~draw_mask(rng, rows, cfg.subscriber_postcode_rate)
            ),
            "status": status,
            "subscribed_at": to_timestamps(clock.to_us(subs.created_day)),
        }
    )
    return table, _build_truth("email_subscribers", subs.ids, subs.person, person_ids)
