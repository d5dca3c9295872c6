"""Email marketing: campaigns every couple of weeks, and each subscriber's reaction to them.

A campaign promotes one category (chosen with the season) and often one product. It goes to a
share of active subscribers, targeted by affinity. Opens and clicks depend on the person's email
habit and on how much they like the promoted category; a click sometimes leads to buying the
promoted category within days, which the commerce stage turns into an order. Unsubscribing
stops later sends; an address with a mistyped domain bounces on its first send.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.world.catalog import Catalog
from features.world.clock import Clock
from features.world.config import WorldConfig
from features.world.population import Population
from features.world.records import Registry
from features.world.strings import build_ids, take, to_timestamps, to_vocabulary

SEND, OPEN, CLICK, UNSUBSCRIBE = 0, 1, 2, 3
EMAIL_EVENT_TYPES = ("send", "open", "click", "unsubscribe")


@dataclass(frozen=True)
class EmailActivity:
    """Email events, the clicks that reach the website, and the purchases they lead to."""

    subscriber: np.ndarray  # per event
    campaign: np.ndarray
    kind: np.ndarray
    day: np.ndarray
    campaign_ids: pa.Array
    campaign_category: np.ndarray
    campaign_product: np.ndarray  # -1 when the campaign promotes a whole category
    click_subscriber: np.ndarray
    click_campaign: np.ndarray
    click_day: np.ndarray
    intent_person: np.ndarray  # purchases triggered by a click
    intent_day: np.ndarray
    intent_category: np.ndarray
    intent_product: np.ndarray
    unsubscribed_day: np.ndarray  # per subscriber, inf if never
    bounced: np.ndarray  # per subscriber: the first send bounced

    def status(self, horizon: int) -> pa.Array:
        """subscribed / unsubscribed / bounced, as the marketing platform shows it at the end."""
        code = np.where(self.bounced, 2, np.where(self.unsubscribed_day < horizon, 1, 0))
        return take(to_vocabulary(["subscribed", "unsubscribed", "bounced"]), code)


def build_email_activity(
    cfg: WorldConfig,
    clock: Clock,
    pop: Population,
    catalog: Catalog,
    registry: Registry,
    rng: np.random.Generator,
) -> EmailActivity:
    """Simulate every campaign in order; the loop is over campaigns, never over subscribers."""
    subs = registry.subscribers
    count = len(subs)
    person = subs.person
    categories = len(catalog.category_names)
    _, stop = pop.active_window(clock.horizon)
    stop = stop[person]
    open_p = pop.email_open_propensity[person]
    click_p = pop.email_click_propensity[person]
    unsubscribed = np.full(count, np.inf)
    bounced = np.zeros(count, dtype=bool)
    bounce_pending = registry.subscriber_bounces.copy()

    days = np.arange(2.0, clock.horizon - 1, cfg.campaign_interval_days) + 14 / 24  # 14:00 UTC
    campaign_category = np.zeros(len(days), dtype=np.int64)
    campaign_product = np.full(len(days), -1, dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {"sub": [], "camp": [], "kind": [], "day": []}
    clicks: dict[str, list[np.ndarray]] = {"sub": [], "camp": [], "day": []}

    for k, day in enumerate(days):  # one campaign at a time: unsubscribes change later sends
        month = clock.month(np.array([day]))[0]
        weight = catalog.popularity * catalog.season[:, month]
        category = rng.choice(categories, p=weight / weight.sum())
        campaign_category[k] = category
        if rng.random() < 0.6:
            on_sale = (catalog.product_category == category) & (catalog.product_created_day <= day)
            candidates = np.flatnonzero(on_sale)
            p = catalog.product_weight[candidates]
            campaign_product[k] = rng.choice(candidates, p=p / p.sum())
        liking = np.minimum(categories * pop.affinity[person, category], 4.0)
        target_p = np.minimum(cfg.campaign_target_share * (0.5 + 0.5 * liking), 0.95)
        eligible = (subs.created_day <= day) & (unsubscribed > day) & ~bounced
        sent = np.flatnonzero(eligible & (rng.random(count) < target_p))
        send_day = day + rng.random(len(sent)) * (2 / 24)
        bounce_now = bounce_pending[sent]
        bounced[sent[bounce_now]] = True
        reader = ~bounce_now & (send_day < stop[sent])
        p_open = np.minimum(open_p[sent] * (0.7 + 0.3 * liking[sent]), 0.95)
        opened = reader & (rng.random(len(sent)) < p_open)
        open_day = send_day + rng.exponential(4 / 24, len(sent))
        opened &= open_day < stop[sent]
        p_click = np.minimum(click_p[sent] * (0.5 + 0.5 * liking[sent]), 0.9)
        clicked = opened & (rng.random(len(sent)) < p_click)
        click_day = open_day + rng.exponential(90 / 86_400, len(sent))
        clicked &= click_day < stop[sent]
        unsub = opened & ~clicked & (rng.random(len(sent)) < cfg.unsubscribe_rate)
        unsub_day = open_day + rng.uniform(10, 300, len(sent)) / 86_400
        unsub &= unsub_day < clock.horizon
        unsubscribed[sent[unsub]] = unsub_day[unsub]

        for kind, mask, when in (
            (SEND, np.ones(len(sent), bool), send_day),
            (OPEN, opened, open_day),
            (CLICK, clicked, click_day),
            (UNSUBSCRIBE, unsub, unsub_day),
        ):
            parts["sub"].append(sent[mask])
            parts["camp"].append(np.full(mask.sum(), k))
            parts["kind"].append(np.full(mask.sum(), kind, dtype=np.int8))
            parts["day"].append(when[mask])
        clicks["sub"].append(sent[clicked])
        clicks["camp"].append(np.full(clicked.sum(), k))
        clicks["day"].append(click_day[clicked])

    click_sub = np.concatenate(clicks["sub"])
    click_campaign = np.concatenate(clicks["camp"])
    click_day = np.concatenate(clicks["day"])
    # Some clicks end in a purchase of the promoted category within the week.
    buys = rng.random(len(click_sub)) < cfg.click_purchase_rate
    buy_day = click_day + np.minimum(rng.exponential(1.5, len(click_sub)), 6.5) + 0.003
    buys &= buy_day < stop[click_sub]
    return EmailActivity(
        subscriber=np.concatenate(parts["sub"]),
        campaign=np.concatenate(parts["camp"]),
        kind=np.concatenate(parts["kind"]),
        day=np.concatenate(parts["day"]),
        campaign_ids=build_ids("cmp_", np.arange(1, len(days) + 1), 4),
        campaign_category=campaign_category,
        campaign_product=campaign_product,
        click_subscriber=click_sub,
        click_campaign=click_campaign,
        click_day=click_day,
        intent_person=person[click_sub[buys]],
        intent_day=buy_day[buys],
        intent_category=campaign_category[click_campaign[buys]],
        intent_product=campaign_product[click_campaign[buys]],
        unsubscribed_day=unsubscribed,
        bounced=bounced,
    )


def render_email_events(
    clock: Clock, catalog: Catalog, registry: Registry, activity: EmailActivity
) -> pa.Table:
    """The email_events file, in time order."""
    order = np.lexsort((activity.kind, activity.subscriber, activity.day))
    campaign = activity.campaign[order]
    product_ids = catalog.table.column("product_id").combine_chunks()
    category_names = to_vocabulary(catalog.category_names)
    return pa.table(
        {
            "event_id": build_ids("eev_", np.arange(1, len(order) + 1), 9),
            "subscriber_id": registry.subscribers.ids.take(pa.array(activity.subscriber[order])),
            "campaign_id": activity.campaign_ids.take(pa.array(campaign)),
            "type": take(to_vocabulary(EMAIL_EVENT_TYPES), activity.kind[order]),
            "promoted_product_id": take(product_ids, activity.campaign_product[campaign]),
            "promoted_category": take(category_names, activity.campaign_category[campaign]),
            "at": to_timestamps(clock.to_us(activity.day[order])),
        }
    )
