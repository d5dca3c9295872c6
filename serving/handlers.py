"""What each endpoint does, independent of the web framework: a request model in, a JSON-ready
dict out, errors as features.errors classes (which carry their HTTP status)."""

from __future__ import annotations

import logging
import time

import pandas as pd

from features.errors import ContractError, NotFoundError
from features.online.realtime import apply_event
from serving.activation.requests import AudienceRequest, SuppressionRequest
from serving.lookups import (
    consents,
    golden_record,
    identifiers_of,
    recent_activity,
    resolve_identifier,
)
from serving.offers import select_offers
from serving.schemas import (
    EventsRequest,
    ForgetRequest,
    MatchRequest,
    NextBestOfferRequest,
    ProfileRequest,
    PropensityRequest,
)
from serving.state import ServingState

log = logging.getLogger("cdp.serving")
# The consent a channel needs before anyone is contacted through it (docs/activation.md).
CHANNEL_PURPOSE = {"email": "email_marketing", "sms": "email_marketing", "ads": "advertising"}


def _features(store, profile_id: str) -> dict[str, object]:
    try:
        return store.get_online_features(profile_id).values
    except NotFoundError:  # known, but nothing happened yet (a bare subscription)
        return {}


def _summary(state: ServingState, store, profile_id: str, values: dict) -> dict[str, object]:
    record = golden_record(store, profile_id)
    spend = values.get("rfm__spend__365d")
    tenure = [values.get(f"tenure__{n}__all") for n in ("days_since_first_seen",
                                                         "days_since_first_order")]  # fmt: skip
    name = " ".join(p for p in (record.get("first_name"), record.get("last_name")) if p)
    return {
        "profile_id": profile_id,
        "name": name or None,
        "tenure_days": max((t for t in tenure if t is not None), default=None),
        "value_band": state.value_band(spend),
        "spend_365d": spend,
        "orders_365d": values.get("rfm__orders__365d"),
        "consents": consents(values),
        "low_evidence": record.get("low_evidence", False),
    }


def next_best_offer(state: ServingState, body: NextBestOfferRequest) -> dict[str, object]:
    """The person's summary and the first k offers they do not own, with reasons."""
    models = state.require_ready()
    store = state.store()
    identifier = body.identifier
    profile_id = resolve_identifier(store, identifier.type, identifier.value,
                                    state.settings.phone_region)  # fmt: skip
    values = _features(store, profile_id)
    summary = _summary(state, store, profile_id, values)
    status = summary["consents"]
    notes: list[str] = []
    # Personalisation is allowed unless withdrawn (docs/activation.md): then only best-sellers.
    if status["personalization"] == "withdrawn":
        ranked, personal = models.offers.best_sellers, False
        notes.append("personalization consent withdrawn: best-sellers shown, not personal offers")
    else:
        ranked, personal = models.offers.offers_for(profile_id)
        if not personal:
            notes.append("no purchase history the ranker knows: best-sellers shown")
    purpose = CHANNEL_PURPOSE.get(body.channel)
    contactable = purpose is None or status[purpose] == "granted"
    if not contactable:
        notes.append(f"no {purpose} consent: do not send offers on the {body.channel} channel")
    owned = {o["product_id"]: o["last_bought_at"].date().isoformat()
             for o in store.get_owned_products(profile_id)}  # fmt: skip
    # Lists run short once owned products are taken out: best-sellers fill them.
    fill = [
        o for o in models.offers.best_sellers if o.product_id not in {r.product_id for r in ranked}
    ]
    offers, suppressed = (select_offers(ranked + fill, owned, body.k) if contactable
                          else ([], []))  # fmt: skip
    return {
        "profile": summary,
        "offers": offers,
        "suppressed": suppressed,
        "personal": personal,
        "contactable": contactable,
        "notes": notes,
        "channel": body.channel,
        "model": {"name": "nbo_ranker", "version": models.offers.version},
    }


def profile(state: ServingState, body: ProfileRequest) -> dict[str, object]:
    """The unified profile: golden record, identifiers, consents, owned products, activity."""
    state.require_ready()
    store = state.store()
    identifier = body.identifier
    profile_id = resolve_identifier(store, identifier.type, identifier.value,
                                    state.settings.phone_region)  # fmt: skip
    values = _features(store, profile_id)
    owned = store.get_owned_products(profile_id)
    for item in owned:
        item["first_bought_at"] = item["first_bought_at"].isoformat()
        item["last_bought_at"] = item["last_bought_at"].isoformat()
    return {
        "profile": _summary(state, store, profile_id, values),
        "golden_record": golden_record(store, profile_id),
        "identifiers": identifiers_of(store, profile_id),
        "owned_products": owned,
        "recent_activity": recent_activity(store, profile_id, body.activity),
    }


def match(state: ServingState, body: MatchRequest) -> dict[str, object]:
    """The real-time identity match of one person record (features.identity.realtime)."""
    state.require_ready()
    record = body.model_dump(exclude_none=True)
    if not any(record.get(k) for k in ("first_name", "last_name", "full_name", "email", "phone")):
        raise ContractError("body: give at least a name, an email or a phone")
    record["dob"] = record.pop("date_of_birth", None)
    record["address"] = record.pop("address_line", None)
    started = time.perf_counter()
    found = state.matcher.match(record)
    return {
        "profile_id": found.profile_id,
        "match_probability": found.match_probability,
        "match_weight": found.match_weight,
        "threshold": state.matcher.threshold,
        "candidates": found.candidates,
        "explanation": found.explanation,
        "milliseconds": round((time.perf_counter() - started) * 1000, 3),
    }


def propensity(state: ServingState, body: PropensityRequest) -> dict[str, object]:
    """Calibrated probabilities from the champion; none for profiles that withdrew their
    profiling consent (scoring a person is profiling)."""
    models = state.require_ready()
    store = state.store()
    ids = list(dict.fromkeys(body.profile_ids))
    rows, known, unknown, withheld = [], [], [], []
    for profile_id in ids:
        try:
            values = store.get_online_features(profile_id).values
        except NotFoundError:
            unknown.append(profile_id)
            continue
        if values.get("consent__profiling__all") == 0:
            withheld.append(profile_id)
            continue
        rows.append(values)
        known.append(profile_id)
    scores: list[dict[str, object]] = []
    if rows:
        frame = pd.DataFrame(rows, columns=store.columns).astype("float64")
        predicted = models.propensity.predict(frame)
        if body.target not in predicted.columns:
            raise ContractError(f"target: unknown target {body.target!r}; one of "
                                f"{', '.join(predicted.columns)}")  # fmt: skip
        scores = [{"profile_id": p, "score": round(float(s), 6)}
                  for p, s in zip(known, predicted[body.target], strict=True)]  # fmt: skip
    return {
        "target": body.target,
        "scores": scores,
        "not_found": unknown,
        "withheld_no_profiling_consent": withheld,
        "model": {"name": "propensity", "version": models.propensity_version},
    }


def audience(state: ServingState, body: AudienceRequest) -> dict[str, object]:
    """serving.activation.build_audience over this thread's store."""
    from serving.activation.audience import build_audience

    state.require_ready()
    return build_audience(state.settings, body, store=state.store()).model_dump(mode="json")


def suppression(state: ServingState, body: SuppressionRequest) -> dict[str, object]:
    """serving.activation.build_suppression over this thread's store."""
    from serving.activation.suppression import build_suppression

    state.require_ready()
    return build_suppression(state.settings, body, store=state.store()).model_dump(mode="json")


def apply_events(state: ServingState, body: EventsRequest) -> dict[str, object]:
    """Apply each event once; return counts, the profiles touched and the rejected events
    (index and reason). Valid events of a batch are applied even when others are rejected,
    and a resent batch changes nothing twice."""
    store = state.store()
    applied = duplicates = blocked = 0
    affected: set[str] = set()
    rejected: list[dict[str, object]] = []
    with state.write_lock:
        for index, item in enumerate(body.events):
            try:
                result = apply_event(store, item.source, dict(item.event))
            except (ContractError, ValueError, TypeError, KeyError) as exc:
                message = exc.message if isinstance(exc, ContractError) else str(exc)
                rejected.append({"index": index, "field": f"events.{index}.event",
                                 "message": message})  # fmt: skip
                continue
            blocked += result.blocked
            duplicates += result.duplicate
            applied += not (result.duplicate or result.blocked)
            affected.update(result.affected)
    if affected:
        state.after_events(sorted(affected))
    return {"applied": applied, "duplicates": duplicates, "blocked": blocked,
            "rejected": rejected, "affected_profiles": sorted(affected)}  # fmt: skip


def forget(state: ServingState, body: ForgetRequest, actor: str) -> dict[str, object]:
    """Erase the person everywhere (features.privacy.erase_person) and from the service's
    memory; the receipt, which holds counts and never the identifier's value."""
    from features.privacy.erasure import erase_person

    state.require_ready()
    with state.write_lock:  # no event of theirs may be applied half-way through
        receipt = erase_person(state.settings, body.identifier.type, body.identifier.value,
                               actor=actor)  # fmt: skip
        if receipt.profile_id is not None:
            state.forget_profile(receipt.profile_id)
    log.info("erasure %s: %d rows removed", receipt.erasure_id, receipt.rows_removed)
    return receipt.to_dict()
