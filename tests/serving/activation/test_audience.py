"""Audiences against the generator's truth, their counts, the frequency cap, erasures, and
real-time events reaching the next audience."""

from __future__ import annotations

import json
import re

import duckdb
import pandas as pd
import pytest

from features.errors import ConfigError, NotFoundError
from features.event_log import to_us
from features.online.realtime import apply_event
from features.online.store import OnlineStore
from serving.activation.audience import build_audience
from serving.activation.hashing import hash_email, hash_phone
from serving.activation.requests import AudienceRequest
from serving.activation.scores import score_profiles
from serving.activation.tables import record_erasure
from tests.serving.activation.truth import buyers, people_of, person_consents, person_identifiers
from tests.serving.conftest import AT

pytestmark = pytest.mark.slow
LATER = str(pd.Timestamp(AT) + pd.Timedelta(hours=1))


def audience(settings, at: str = AT, **fields):
    """build_audience of a request written as keywords."""
    return build_audience(settings, AudienceRequest(**fields), at=at)


def _identifier(settings, profile_id: str, kind: str) -> str | None:
    with OnlineStore(settings) as store:
        row = store.con.execute(
            "SELECT MIN(identifier_value) FROM identifiers WHERE entity_id = ? "
            "AND identifier_type = ?",
            (profile_id, kind),
        ).fetchone()
    return row[0]


def _category(settings, product_id: str) -> str:
    with OnlineStore(settings) as store:
        return store.con.execute(
            "SELECT category FROM products WHERE product_id = ?", (product_id,)
        ).fetchone()[0]


def test_members_are_nobody_who_bought_opted_out_or_was_erased(
    home, truth, popular_product
) -> None:
    category = _category(home, popular_product)
    first = audience(home, target="any", min_score=0.0, channel="email", preview=False)
    exact = people_of(truth, [m.profile_id for m in first.members]).query("exact")
    erased_profile, by_email = exact["profile_id"].iloc[0], exact["profile_id"].iloc[1]
    email = _identifier(home, by_email, "email")
    with OnlineStore(home) as store:
        record_erasure(store, profile_id=erased_profile)
        record_erasure(store, identifier_type="email", identifier_value=email)
    erased = set(exact.set_index("profile_id").loc[[erased_profile, by_email], "person_id"])

    consents = person_consents(truth, AT).set_index(["person_id", "purpose"])
    cases = [
        ({"channel": "email", "product_id": popular_product, "min_score": 0.0},
         buyers(truth, AT, product_id=popular_product)),
        ({"channel": "ads", "format": "hashed", "platform": "google", "category": category,
          "min_score": 0.0}, buyers(truth, AT, category=category)),
        ({"channel": "onsite", "purpose": "profiling", "top_n": 300}, set()),
    ]  # fmt: skip
    for fields, bought in cases:
        result = audience(home, target="any", **fields)
        removed = result.counts.removed
        assert removed["erased"] == 2, fields
        people = people_of(truth, [m.profile_id for m in result.members])
        assert len(people) >= result.counts.members > 100
        consented = pd.Series(True, index=people.index)
        for purpose in result.purposes:
            keys = list(zip(people["person_id"], [purpose] * len(people), strict=True))
            granted = consents.reindex(keys)
            consented &= (granted["granted"].eq(True) & ~granted["revoked"].eq(True)).to_numpy()
        wrong = people[~consented | people["person_id"].isin(bought | erased)]
        # Every person who should not be there sits in a profile identity got wrong (a merge
        # of two people, or a person split over two profiles): activation keeps the rules.
        assert not wrong["exact"].any(), (fields, wrong[wrong["exact"]])
        assert people["exact"].mean() > 0.7  # the check covers most members
        assert removed["no_consent"] > 0 and (not bought or removed["already_bought"] > 0)


def test_hashed_members_carry_only_their_own_identifiers(home, truth) -> None:
    result = audience(home, target="any", min_score=0.0, channel="ads",
                      format="hashed", platform="meta", preview=False)  # fmt: skip
    own = person_identifiers(truth)
    digests: dict[str, set[str]] = {}
    for person, kind, value in own.itertuples(index=False):
        digest = hash_email(value, "meta") if kind == "email" else hash_phone(value, "meta")
        digests.setdefault(person, set()).add(digest)
    people = people_of(truth, [m.profile_id for m in result.members]).query("exact")
    person_of = dict(zip(people["profile_id"], people["person_id"], strict=True))
    checked = 0
    for member in result.members:
        if member.profile_id in person_of:
            sent = set(member.hashed_emails) | set(member.hashed_phones)
            assert sent and sent <= digests[person_of[member.profile_id]]
            checked += 1
    assert checked > 100
    text = result.model_dump_json()
    assert "@" not in text and not re.search(r"\+\d{10}", text)  # no raw email or phone


def test_counts_add_up_and_the_score_selects(home) -> None:
    with OnlineStore(home) as store:
        scored = store.con.execute(
            "SELECT COUNT(*) FROM propensity_scores WHERE target = 'any'"
        ).fetchone()[0]
    top = audience(home, target="any", top_n=40, channel="email", preview=False)
    assert top.counts.candidates == scored
    assert top.counts.members == len(top.members) == 40
    assert sum(top.counts.removed.values()) + top.counts.members == scored
    scores = [m.score for m in top.members]
    assert scores == sorted(scores, reverse=True)
    assert all(m.channel_id.startswith("sub_") for m in top.members)
    floor = scores[-1]
    by_score = audience(home, target="any", min_score=floor, channel="email",
                        preview=True)  # fmt: skip
    assert by_score.members == []  # a preview returns counts only
    assert by_score.counts.members >= 40
    assert by_score.counts.removed["below_min_score"] == (
        top.counts.removed["beyond_top_n"] + 40 - by_score.counts.members
    )
    again = audience(home, target="any", top_n=40, channel="email", preview=False)
    assert again.members == top.members and again.activation_id == top.activation_id


def test_the_frequency_cap_counts_exports_and_email_sends(home) -> None:
    first = audience(home, target="any", top_n=50, channel="email")
    capped = audience(home, at=LATER, target="any", top_n=50, channel="email",
                      frequency_cap_days=1)  # fmt: skip
    assert capped.counts.removed["frequency_cap"] == 50
    assert not {m.profile_id for m in first.members} & {m.profile_id for m in capped.members}
    # A preview is not an export; another channel is not capped by email exports.
    audience(home, target="any", top_n=50, channel="ads", format="hashed", platform="google",
             preview=True)  # fmt: skip
    ads = audience(home, at=LATER, target="any", top_n=50, channel="ads", format="hashed",
                   platform="google", frequency_cap_days=1)  # fmt: skip
    assert ads.counts.removed["frequency_cap"] == 0
    # The email engine's own sends of the last 14 days count too (a campaign went out then).
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    sent = {r[0] for r in con.execute(
        "SELECT DISTINCT r.profile_id FROM email_events e JOIN identity_records r "
        "ON r.source = 'email_subscribers' AND r.record_id = e.subscriber_id "
        "WHERE e.type = 'send' AND e.occurred_at >= ?::TIMESTAMP - INTERVAL 14 DAY "
        "AND e.occurred_at < ?::TIMESTAMP", [AT, AT]).fetchall()}  # fmt: skip
    con.close()
    emailed = audience(home, target="any", min_score=0.0, channel="email", frequency_cap_days=14,
                       preview=False, at=AT)  # fmt: skip
    assert sent and not sent & {m.profile_id for m in emailed.members}
    assert emailed.counts.removed["frequency_cap"] >= 50


def test_a_purchase_or_a_revocation_applied_in_real_time_suppresses_at_once(
    home, champion, popular_product
) -> None:
    model, version = champion
    fields = {"target": "any", "top_n": 30, "channel": "email", "product_id": popular_product}
    before = audience(home, preview=True, **fields)
    members = build_audience(home, AudienceRequest(**fields), at=AT).members
    buyer = next(m.profile_id for m in members if _identifier(home, m.profile_id, "customer_id"))
    refuser = next(m for m in members if m.profile_id != buyer)
    moment = pd.Timestamp(LATER) - pd.Timedelta(minutes=10)
    with OnlineStore(home) as store:
        bought = apply_event(store, "orders", {
            "order_id": "rt_order_1", "customer_id": _identifier(home, buyer, "customer_id"),
            "ordered_at": moment, "channel": "web",
            "lines": [{"line_number": 1, "product_id": popular_product, "quantity": 1,
                       "unit_price": 25.0}]}, at=moment)  # fmt: skip
        revoked = apply_event(store, "consents", {
            "consent_id": "rt_consent_1", "identifier_type": "subscriber_id",
            "identifier_value": refuser.channel_id, "purpose": "email_marketing",
            "status": "revoked", "occurred_at": moment}, at=moment)  # fmt: skip
        affected = [*bought.affected, *revoked.affected]
        assert buyer in affected and refuser.profile_id in affected
        score_profiles(home, model=model, model_version=version, profile_ids=affected,
                       at=moment, store=store)  # fmt: skip
        rescored = store.con.execute(
            "SELECT COUNT(*) FROM propensity_scores WHERE profile_id = ? AND scored_at = ?",
            (buyer, to_us(moment)),
        ).fetchone()[0]
    assert rescored == len(model.targets_)
    after = audience(home, at=LATER, preview=True, **fields)
    assert after.counts.removed["already_bought"] == before.counts.removed["already_bought"] + 1
    assert after.counts.removed["no_consent"] == before.counts.removed["no_consent"] + 1
    listed = build_audience(home, AudienceRequest(**fields), at=LATER).members
    assert not {buyer, refuser.profile_id} & {m.profile_id for m in listed}


def test_an_erased_profile_is_never_listed(home) -> None:
    top = audience(home, target="any", top_n=5, channel="email", preview=False)
    gone = top.members[0].profile_id
    with OnlineStore(home) as store:
        record_erasure(store, profile_id=gone)
    again = audience(home, target="any", top_n=5, channel="email", preview=False)
    assert again.counts.removed["erased"] == 1
    assert gone not in {m.profile_id for m in again.members}


def test_bad_requests_name_what_is_wrong(home) -> None:
    with pytest.raises(ConfigError, match=r"target: 'purchase_nothing' is not scored.*any"):
        audience(home, target="purchase_nothing", top_n=5, channel="email")
    with pytest.raises(NotFoundError, match="product_id: no product 'nope'"):
        audience(home, target="any", top_n=5, channel="email", product_id="nope")
    with pytest.raises(NotFoundError, match="category: no category 'nope'"):
        audience(home, target="any", top_n=5, channel="email", category="nope")
    with OnlineStore(home) as store:
        store.con.execute("DELETE FROM propensity_scores")
        store.con.commit()
    with pytest.raises(NotFoundError, match="cdp audience score"):
        audience(home, target="any", top_n=5, channel="email")
    assert json.loads(AudienceRequest(target="any", top_n=1, channel="ads").model_dump_json())


def test_a_refusal_holds_until_a_newer_explicit_grant_of_the_persons_own(home) -> None:
    fields = {"target": "any", "top_n": 30, "channel": "email"}
    member = build_audience(home, AudienceRequest(**fields), at=AT).members[0]
    refused = pd.Timestamp(LATER) - pd.Timedelta(minutes=20)
    granted = pd.Timestamp(LATER) - pd.Timedelta(minutes=10)
    with OnlineStore(home) as store:
        email = store.con.execute(
            "SELECT identifier_value FROM identifiers WHERE entity_id = ? AND identifier_type = "
            "'email'", (member.profile_id,)).fetchone()  # fmt: skip
        apply_event(store, "consents", {
            "consent_id": "order_refusal", "identifier_type": "subscriber_id",
            "identifier_value": member.channel_id, "purpose": "email_marketing",
            "status": "revoked", "occurred_at": refused}, at=refused)  # fmt: skip
    between = pd.Timestamp(LATER) - pd.Timedelta(minutes=15)
    listed = {m.profile_id for m in build_audience(home, AudienceRequest(**fields),
                                                   at=between).members}  # fmt: skip
    assert member.profile_id not in listed  # the refusal holds
    with OnlineStore(home) as store:
        apply_event(store, "consents", {
            "consent_id": "order_regrant", "identifier_type": "subscriber_id",
            "identifier_value": member.channel_id, "purpose": "email_marketing",
            "status": "granted", "occurred_at": granted}, at=granted)  # fmt: skip
    listed = {m.profile_id for m in build_audience(home, AudienceRequest(**fields),
                                                   at=LATER).members}  # fmt: skip
    assert member.profile_id in listed  # a newer explicit grant of their own overrides it
    assert email is None or email[0]  # (the profile's email is not needed for the rule)
