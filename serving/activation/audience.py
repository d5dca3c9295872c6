"""Audiences: the best-scored people for a target, minus everyone who must not be contacted.

Candidates are the profiles scored for the target (serving.activation.scores). Each is removed
under the first reason that applies, in this order (serving.activation.rules has the rules):

1. `erased`: on the erasure block list (by profile id, or by the digest of an identifier);
2. `no_consent`: not contactable for every purpose the request needs (the channel's, advertising
   for hashed output, and the request's own `purpose`);
3. `already_bought`: bought the promoted product (or any product of the promoted category);
4. `frequency_cap`: contacted on the channel in the last N days (email sends, earlier exports);
5. `unreachable`: no address the output can carry (email: no subscription; hashed: no email or
   phone of the profile alone that the platform accepts);

then `below_min_score` or `beyond_top_n` (best score first, ties by profile id). So the top N
are the N best people who may be contacted, and candidates = members + every removal.

An export (not a preview) is recorded in `act.activation_runs` and `act.activations`, so later
frequency caps see it. Members carry profile ids, the channel's own ids or SHA-256 digests:
never a raw email or phone, whatever the caller's role.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter

from features.errors import ConfigError, NotFoundError
from features.event_log import from_us, to_us
from features.online.store import OnlineStore, borrowed_store, now_us
from features.settings import Settings
from serving.activation.hashing import sha256_hex
from serving.activation.requests import (
    CHANNEL_ADDRESS,
    SUPPRESSION_REASONS,
    AudienceCounts,
    AudienceMember,
    AudienceRequest,
    AudienceResult,
)
from serving.activation.rules import (
    bought_sql,
    consented_sql,
    contacted_sql,
    fill_erased,
    fill_ids,
    load_channel_ids,
    load_identifiers,
)
from serving.activation.tables import prepare_store

log = logging.getLogger("cdp.activation")


def build_audience(
    settings: Settings,
    request: AudienceRequest,
    *,
    at: object | None = None,
    store: OnlineStore | None = None,
) -> AudienceResult:
    """The audience of `request` as of `at` (default now), recorded unless it is a preview.

    `store`: an open OnlineStore to use (the service's; default: one opened and closed here).
    Raises ConfigError naming the field for a target that is not scored, NotFoundError for an
    unknown product or category, WarehouseError without an online store.
    """
    with borrowed_store(settings, store) as store:
        return _build(store, request, now_us() if at is None else to_us(at), settings)


def _build(store: OnlineStore, request: AudienceRequest, at_us: int, settings) -> AudienceResult:
    con = prepare_store(store)
    check_subject(con, request.product_id, request.category)
    version, scored_at = _score_provenance(con, request.target)
    fill_erased(con)
    ctes, params = _reason_ctes(request, at_us)
    rows = con.execute(
        f"WITH {ctes} SELECT c.profile_id, c.score, CASE "
        "WHEN c.profile_id IN (SELECT profile_id FROM temp.erased_ids) THEN 'erased' "
        "WHEN c.profile_id NOT IN (SELECT profile_id FROM consented) THEN 'no_consent' "
        "WHEN c.profile_id IN (SELECT profile_id FROM bought) THEN 'already_bought' "
        "WHEN c.profile_id IN (SELECT profile_id FROM contacted) THEN 'frequency_cap' "
        "END FROM propensity_scores c WHERE c.target = :target "
        "ORDER BY c.score DESC, c.profile_id",
        {**params, "target": request.target, "at": at_us},
    ).fetchall()
    reasons = Counter(r[2] for r in rows if r[2] is not None)
    eligible = [(p, s) for p, s, reason in rows if reason is None]
    fill_ids(con, "eligible", (p for p, _ in eligible))
    addresses = _addresses(con, request, settings.phone_region)
    if addresses is not None:
        reasons["unreachable"] = sum(1 for p, _ in eligible if p not in addresses)
        eligible = [(p, s) for p, s in eligible if p in addresses]
    members = _select(eligible, request)
    reasons[_selection(request)] = len(eligible) - len(members)
    removed = {r: reasons.get(r, 0) for r in (*SUPPRESSION_REASONS, _selection(request))}
    counts = AudienceCounts(candidates=len(rows), removed=removed, members=len(members))
    result = AudienceResult(
        activation_id=None, target=request.target, channel=request.channel,
        purposes=request.purposes(), format=request.format, platform=request.platform,
        model_version=version, scored_at=from_us(scored_at), generated_at=from_us(at_us),
        counts=counts,
        members=[] if request.preview else _members(members, request, addresses),
    )  # fmt: skip
    if not request.preview:
        result.activation_id = _record(con, request, result, at_us)
    log.info("audience %s/%s: %d candidates, %d members", request.target, request.channel,
             counts.candidates, counts.members)  # fmt: skip
    return result


def check_subject(con: sqlite3.Connection, product_id: str | None, category: str | None) -> None:
    """NotFoundError naming the field when the product or category is not in the catalogue."""
    if product_id is not None and con.execute(
        "SELECT 1 FROM products WHERE product_id = ?", (product_id,)
    ).fetchone() is None:  # fmt: skip
        raise NotFoundError(f"product_id: no product {product_id!r} in the catalogue")
    if category is not None and con.execute(
        "SELECT 1 FROM products WHERE category = ? LIMIT 1", (category,)
    ).fetchone() is None:  # fmt: skip
        raise NotFoundError(f"category: no category {category!r} in the catalogue")


def _score_provenance(con, target: str) -> tuple[str, int]:
    row = con.execute(
        "SELECT MIN(model_version), MAX(model_version), MIN(scored_at) FROM propensity_scores "
        "WHERE target = ?",
        (target,),
    ).fetchone()
    if row[0] is None:
        known = [r[0] for r in con.execute("SELECT DISTINCT target FROM propensity_scores")]
        if not known:
            raise NotFoundError(
                "no propensity scores in the online store; run `cdp audience score` (after "
                "`cdp train` and `cdp promote`)"
            )
        raise ConfigError(f"target: {target!r} is not scored; scored targets: {', '.join(known)}")
    if row[0] != row[1]:
        raise ConfigError("the scores mix model versions; run `cdp audience score`")
    return row[0], row[2]


def _reason_ctes(request: AudienceRequest, at_us: int) -> tuple[str, dict[str, object]]:
    consented, params = consented_sql(request.purposes())
    parts = [f"consented AS ({consented})"]
    subject = request.product_id is not None or request.category is not None
    if subject:
        sql, more = bought_sql(request.product_id, request.category, request.bought_within_days,
                               at_us)  # fmt: skip
        parts.append(f"bought AS ({sql})")
        params.update(more)
    else:
        parts.append("bought AS (SELECT NULL AS profile_id WHERE 0)")
    if request.frequency_cap_days is not None:
        sql, more = contacted_sql(request.channel, request.frequency_cap_days, at_us)
        parts.append(f"contacted AS ({sql})")
        params.update(more)
    else:
        parts.append("contacted AS (SELECT NULL AS profile_id WHERE 0)")
    return ",\n".join(parts), params


def _addresses(con, request: AudienceRequest, region: str) -> dict | None:
    """Per eligible profile, what the output carries (None: nothing is needed)."""
    if request.format == "hashed":
        return load_identifiers(con, "eligible", request.platform, region)
    address = CHANNEL_ADDRESS[request.channel]
    if address is None:
        return None
    return load_channel_ids(con, "eligible", *address)


def _selection(request: AudienceRequest) -> str:
    return "below_min_score" if request.min_score is not None else "beyond_top_n"


def _select(eligible: list[tuple[str, float]], request: AudienceRequest):
    """The members among the eligible (already best first): by min_score or top_n."""
    if request.min_score is not None:
        return [(p, s) for p, s in eligible if s >= request.min_score]
    return eligible[: request.top_n]


def _members(members, request: AudienceRequest, addresses) -> list[AudienceMember]:
    out = []
    for profile, score in members:
        if request.format == "hashed":
            emails, phones = addresses[profile]
            out.append(AudienceMember(profile_id=profile, score=score,
                                      hashed_emails=[sha256_hex(e) for e in emails],
                                      hashed_phones=[sha256_hex(p) for p in phones]))  # fmt: skip
        else:
            channel_id = None if addresses is None else addresses[profile]
            out.append(AudienceMember(profile_id=profile, score=score, channel_id=channel_id))
    return out


def _record(con, request: AudienceRequest, result: AudienceResult, at_us: int) -> str:
    body = request.model_dump_json()
    activation_id = "act_" + sha256_hex(f"{body}|{at_us}|{result.counts.members}")[:16]
    with con:
        con.execute(
            "INSERT OR REPLACE INTO act.activation_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (activation_id, request.channel, request.target, request.format, request.platform,
             result.model_version, result.counts.members, body,
             json.dumps(result.counts.model_dump()), at_us),
        )  # fmt: skip
        con.execute("DELETE FROM act.activations WHERE activation_id = ?", (activation_id,))
        con.executemany(
            "INSERT INTO act.activations VALUES (?, ?, ?, ?)",
            ((activation_id, m.profile_id, request.channel, at_us) for m in result.members),
        )
    return activation_id
