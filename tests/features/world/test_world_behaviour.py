"""Behaviour carries learnable signal, and identifiers behave like real tracking data."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_tent_buyers_buy_a_sleeping_bag_later_more_often(world) -> None:
    lines = world.line_facts
    tent = lines[lines["category"] == "tents"].groupby("person_id")["ordered_at"].min()
    bags = lines[lines["category"] == "sleeping_bags"]
    later = bags.merge(tent.rename("tent_at"), left_on="person_id", right_index=True)
    after_tent = later.loc[later["ordered_at"] > later["tent_at"], "person_id"].nunique()
    others = set(lines["person_id"]) - set(tent.index)
    baseline = len(set(bags["person_id"]) & others) / len(others)
    assert len(tent) >= 100
    assert after_tent / len(tent) > 1.5 * baseline


def test_clicking_a_campaign_leads_to_buying_the_promoted_category(world) -> None:
    emails = world["email_events"]
    sends = emails.loc[
        emails["type"] == "send", ["subscriber_id", "campaign_id", "promoted_category", "at"]
    ]
    clicks = emails.loc[emails["type"] == "click", ["subscriber_id", "campaign_id"]]
    sends = sends.merge(clicks.assign(clicked=1), how="left", on=["subscriber_id", "campaign_id"])
    sends["clicked"] = sends["clicked"].notna()
    sends["person_id"] = sends["subscriber_id"].map(world.owner("email_subscribers"))
    bought = sends.merge(
        world.line_facts[["person_id", "category", "ordered_at"]],
        left_on=["person_id", "promoted_category"],
        right_on=["person_id", "category"],
        how="left",
    )
    window = (bought["ordered_at"] > bought["at"]) & (
        bought["ordered_at"] <= bought["at"] + pd.Timedelta(days=7)
    )
    hit = (
        bought.assign(hit=window)
        .groupby(["subscriber_id", "campaign_id"])
        .agg(hit=("hit", "any"), clicked=("clicked", "first"))
    )
    assert hit["clicked"].sum() >= 100
    assert hit.loc[hit["clicked"], "hit"].mean() > 5 * hit.loc[~hit["clicked"], "hit"].mean()


def test_purchases_follow_affinity_season_and_price_band(world) -> None:
    lines = world.line_facts
    affinity = world.people.filter(like="affinity_")
    affinity.columns = [c.removeprefix("affinity_") for c in affinity.columns]
    ranks = affinity.rank(axis=1, ascending=False)
    rank = ranks.stack().rename("rank")
    bought = lines.join(rank, on=["person_id", "category"])
    assert (bought["rank"] <= 3).mean() > 2 * 3 / affinity.shape[1]
    month = lines["ordered_at"].dt.month
    skis = lines["category"] == "skis"
    assert month[skis].isin([12, 1, 2]).mean() > 4 * month[skis].isin([6, 7, 8]).mean()
    tents = lines["category"] == "tents"
    assert month[tents].isin([5, 6, 7]).mean() > 1.5 * month[tents].isin([11, 12, 1]).mean()
    band = lines["person_id"].map(world.people["price_band"])
    median = lines.groupby(band)["unit_price"].median()
    assert median["low"] < median["mid"] < median["high"]


def test_consumables_are_bought_again(world) -> None:
    lines = world.line_facts
    for category in ("socks", "fuel"):
        buys = lines[lines["category"] == category].groupby("person_id")["order_id"].nunique()
        other = lines[lines["category"] == "tents"].groupby("person_id")["order_id"].nunique()
        assert (buys > 1).mean() > (other > 1).mean()


def test_logged_in_checkouts_follow_an_identify_and_product_views(world) -> None:
    orders = world["orders"]
    for name, channel in (("web_events", "web"), ("app_events", "app")):
        events = world[name]
        logged = orders[orders["customer_id"].notna() & (orders["channel"] == channel)]
        identify = events.loc[events["type"] == "identify", ["user_id", "at"]]
        pairs = logged.merge(identify, left_on="customer_id", right_on="user_id")
        near = pairs[
            (pairs["at"] <= pairs["ordered_at"])
            & (pairs["at"] >= pairs["ordered_at"] - pd.Timedelta(hours=1))
        ]
        assert near["order_id"].nunique() == len(logged), name
    web = world["web_events"]
    views = (web["type"] == "product_view").sum()
    assert views > 1.5 * len(world["order_lines"])  # many views never become a purchase


def test_calls_follow_orders_and_nobody_acts_after_churn(world) -> None:
    calls = world["call_center_interactions"]
    about = calls.dropna(subset=["order_id"]).merge(world["orders"], on="order_id")
    delay = (about["at"] - about["ordered_at"]).dt.total_seconds() / 86_400
    assert delay.between(1, 14).all()
    assert set(about["reason"]) == {"order_status", "return"}
    people = world.people
    orders = world["orders"].assign(person_id=lambda f: f["order_id"].map(world.order_person))
    facts = orders.join(people[["churned_at", "first_seen_at"]], on="person_id")
    assert (facts["ordered_at"] < facts["churned_at"].fillna(world.end)).all()
    assert (facts["ordered_at"] >= facts["first_seen_at"]).all()
    anonymous = world["truth/anonymous"]
    owners = anonymous.groupby("identifier_value")["person_id"].agg(["nunique", "first"])
    single = owners.loc[owners["nunique"] == 1, "first"]
    for name in ("web_events", "app_events"):
        events = world[name]
        person = events["anonymous_id"].map(single)
        churned = person.map(people["churned_at"])
        assert (events["at"] < churned.fillna(world.end)).all()


def test_shared_tablets_and_junk_identifiers(world) -> None:
    truth = world["truth/anonymous"]
    per_id = truth.groupby(["identifier_type", "identifier_value"])["person_id"].nunique()
    devices = per_id.loc["device_id"]
    shared = devices[devices >= 2].index
    assert len(shared) >= 10
    households = truth[truth["identifier_value"].isin(shared)].join(
        world.people["household_id"], on="person_id"
    )
    assert (households.groupby("identifier_value")["household_id"].nunique() == 1).all()
    app = world["app_events"]
    users = app[app["type"] == "identify"].groupby("device_id")["user_id"].nunique()
    assert (users.reindex(shared).fillna(0) >= 2).sum() >= 5
    junk = per_id.loc["anonymous_id"].reindex(["0", "null", "anonymous", "undefined"])
    assert (junk >= 10).all()


def test_people_have_several_cookies_over_time(world) -> None:
    truth = world["truth/anonymous"]
    cookies = truth[
        (truth["identifier_type"] == "anonymous_id")
        & ~truth["identifier_value"].isin(["0", "null", "anonymous", "undefined"])
    ]
    per_person = cookies.groupby("person_id").size()
    assert per_person.median() >= 2 and per_person.max() >= 5


def test_consents_follow_subscriptions_accounts_and_banners(world) -> None:
    consents = world["consents"]
    email = consents[consents["purpose"] == "email_marketing"]
    subscribers = world["email_subscribers"]
    assert (email["status"] == "granted").sum() == len(subscribers)
    unsubscribes = (world["email_events"]["type"] == "unsubscribe").sum()
    assert (email["status"] == "revoked").sum() == unsubscribes
    assert (subscribers["status"] == "unsubscribed").sum() == unsubscribes
    shop = consents[consents["identifier_type"] == "customer_id"]
    assert set(shop["identifier_value"]) <= set(world["shop_customers"]["customer_id"])
    assert set(shop["purpose"]) == {"advertising", "personalization", "profiling"}
    banner = consents[consents["identifier_type"] == "anonymous_id"]
    assert set(banner["identifier_value"]) <= set(world["web_events"]["anonymous_id"])
    granted = consents[consents["status"] == "granted"]
    later = consents[(consents["status"] == "revoked") & consents["source"].ne("email_platform")]
    revoked_after_grant = later.merge(granted, on=["identifier_value", "purpose"])
    assert (revoked_after_grant["at_x"] > revoked_after_grant["at_y"]).any()


def test_email_engagement_depends_on_habit(world) -> None:
    emails = world["email_events"]
    per = emails.pivot_table(
        index="subscriber_id", columns="type", values="event_id", aggfunc="count", fill_value=0
    )
    per["person_id"] = per.index.map(world.owner("email_subscribers"))
    habit = per["person_id"].map(world.people["email_open_propensity"])
    rate = per["open"] / per["send"].replace(0, np.nan)
    assert rate.corr(habit) > 0.5
