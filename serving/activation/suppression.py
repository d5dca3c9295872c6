"""Suppression lists: hashed identifiers of everyone who bought a product or a category, for
an ad platform's exclusion list (so buyers stop seeing ads for what they already have).

A list is still personal data sent to an ad platform, so the audience rules apply to it: no
erased person, only people with advertising consent (serving.activation.rules), and only
emails and phones of the buyer alone that the platform accepts. Buyers left off are counted
per reason; buyers = listed + removed.
"""

from __future__ import annotations

import logging

from features.event_log import from_us, to_us
from features.online.store import OnlineStore, borrowed_store, now_us
from features.settings import Settings
from serving.activation.audience import check_subject
from serving.activation.hashing import sha256_hex
from serving.activation.requests import SuppressionCounts, SuppressionRequest, SuppressionResult
from serving.activation.rules import (
    bought_sql,
    consented_sql,
    fill_erased,
    fill_ids,
    load_identifiers,
)
from serving.activation.tables import prepare_store

log = logging.getLogger("cdp.activation")


def build_suppression(
    settings: Settings,
    request: SuppressionRequest,
    *,
    at: object | None = None,
    store: OnlineStore | None = None,
) -> SuppressionResult:
    """Hashed emails and phones of the buyers of `request`'s product or category before `at`
    (default now). Raises NotFoundError naming the field for an unknown product or category."""
    with borrowed_store(settings, store) as store:
        return _build(store, request, now_us() if at is None else to_us(at), settings)


def _build(store: OnlineStore, request: SuppressionRequest, at_us: int, settings):
    con = prepare_store(store)
    check_subject(con, request.product_id, request.category)
    fill_erased(con)
    bought, params = bought_sql(request.product_id, request.category,
                                request.bought_within_days, at_us)  # fmt: skip
    consented, more = consented_sql(["advertising"])
    rows = con.execute(
        f"WITH consented AS ({consented}) SELECT b.profile_id, CASE "
        "WHEN b.profile_id IN (SELECT profile_id FROM temp.erased_ids) THEN 'erased' "
        "WHEN b.profile_id NOT IN (SELECT profile_id FROM consented) THEN 'no_consent' END "
        f"FROM (SELECT DISTINCT profile_id FROM ({bought})) b ORDER BY b.profile_id",
        {**params, **more, "at": at_us},
    ).fetchall()
    kept = [p for p, reason in rows if reason is None]
    fill_ids(con, "listed", kept)
    found = load_identifiers(con, "listed", request.platform, settings.phone_region)
    removed = {
        "erased": sum(1 for _, r in rows if r == "erased"),
        "no_consent": sum(1 for _, r in rows if r == "no_consent"),
        "unreachable": sum(1 for p in kept if p not in found),
    }
    emails = sorted({sha256_hex(e) for es, _ in found.values() for e in es})
    phones = sorted({sha256_hex(p) for _, ps in found.values() for p in ps})
    counts = SuppressionCounts(buyers=len(rows), removed=removed, listed=len(found))
    log.info("suppression list: %d buyers, %d listed", counts.buyers, counts.listed)
    return SuppressionResult(
        product_id=request.product_id, category=request.category, platform=request.platform,
        generated_at=from_us(at_us), counts=counts, hashed_emails=emails, hashed_phones=phones,
    )  # fmt: skip
