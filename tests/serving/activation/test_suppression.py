"""Suppression lists against the generator's truth: buyers' own identifiers, consent-checked."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from features.online.store import OnlineStore
from serving.activation.hashing import hash_email, hash_phone
from serving.activation.requests import SuppressionRequest
from serving.activation.suppression import build_suppression
from serving.activation.tables import record_erasure
from tests.serving.activation.truth import buyers, person_consents, person_identifiers
from tests.serving.conftest import AT

pytestmark = pytest.mark.slow


def _owners(truth, platform: str) -> dict[str, set[str]]:
    """Digest -> the people whose records carry that email or phone."""
    owners: dict[str, set[str]] = {}
    for person, kind, value in person_identifiers(truth).itertuples(index=False):
        digest = hash_email(value, platform) if kind == "email" else hash_phone(value, platform)
        owners.setdefault(digest, set()).add(person)
    return owners


def _buyer_profiles(settings, category: str, since: str | None = None) -> set[str]:
    """Profiles with a bought line of the category before AT, straight from the warehouse."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT r.profile_id FROM orders o JOIN order_lines l USING (order_id) "
            "JOIN products p USING (product_id) JOIN identity_records r "
            "ON (r.source = 'shop_customers' AND r.record_id = o.customer_id) "
            "OR (r.source = 'orders' AND r.record_id = o.order_id AND o.customer_id IS NULL) "
            "WHERE p.category = ? AND l.quantity > 0 AND o.ordered_at < ?::TIMESTAMP "
            "AND o.ordered_at >= COALESCE(?::TIMESTAMP, '1900-01-01'::TIMESTAMP)",
            [category, AT, since],
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def test_a_suppression_list_holds_consenting_buyers_own_identifiers(home, truth) -> None:
    category = "tents"
    result = build_suppression(home, SuppressionRequest(category=category, platform="google"),
                               at=AT)  # fmt: skip
    counts = result.counts
    assert counts.buyers == len(_buyer_profiles(home, category)) > 50
    assert counts.buyers == counts.listed + sum(counts.removed.values())
    assert counts.removed["no_consent"] > 0 and counts.listed > 20
    owners = _owners(truth, "google")
    bought = buyers(truth, AT, category=category)
    consents = person_consents(truth, AT).set_index(["person_id", "purpose"])
    exact = set(truth.sql("SELECT person_id FROM exact_profiles").df()["person_id"])
    listed = result.hashed_emails + result.hashed_phones
    assert listed == sorted(result.hashed_emails) + sorted(result.hashed_phones)
    checked = 0
    for digest in listed:
        people = owners[digest]  # every digest is of someone's own email or phone
        if people <= exact:  # identity got these people right: the rules must hold exactly
            checked += 1
            assert people & bought, digest
            for person in people:
                state = consents.reindex([(person, "advertising")]).iloc[0].eq(True)
                assert state["granted"] and not state["revoked"], person
    assert checked > 0.7 * len(listed)


def test_recent_buyers_and_erasures(home) -> None:
    request = SuppressionRequest(category="tents", platform="meta")
    everyone = build_suppression(home, request, at=AT)
    recent = build_suppression(home, request.model_copy(update={"bought_within_days": 90}),
                               at=AT)  # fmt: skip
    since = str(pd.Timestamp(AT) - pd.Timedelta(days=90))
    assert recent.counts.buyers == len(_buyer_profiles(home, "tents", since))
    assert 0 < recent.counts.buyers < everyone.counts.buyers
    assert set(recent.hashed_emails) <= set(everyone.hashed_emails)
    buyer = sorted(_buyer_profiles(home, "tents"))[0]
    with OnlineStore(home) as store:
        record_erasure(store, profile_id=buyer)
    after = build_suppression(home, request, at=AT)
    assert after.counts.removed["erased"] == 1
    assert after.counts.buyers == everyone.counts.buyers
