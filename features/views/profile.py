"""Tenure (how long the profile has been known) and consent flags kept beside the features.

Consent flags are the latest grant or revocation per purpose before $as_of, over every
identifier of the profile (emails, shop accounts, linked cookies). They are for activation
(who may be emailed, profiled, advertised to) and are never model inputs.
"""

from __future__ import annotations

from features.contracts.events import PURPOSES
from features.definitions import Feature, FeatureView, quote


def tenure_views(relations: tuple[str, ...]) -> list[FeatureView]:
    """Days since first seen anywhere; with records, since the account and the subscription."""
    views = [
        FeatureView(
            "fv_tenure",
            (),
            "SELECT entity_id, {features} FROM spine",
            (
                Feature(
                    "tenure",
                    "days_since_first_seen",
                    "all",
                    "Whole days since the profile's first record or event.",
                    "$as_of_day - first_day",
                    default=None,
                ),
            ),
        )
    ]
    if "records" in relations:
        features = (
            Feature("tenure", "days_since_account", "all",
                    "Whole days since the first shop account was opened.",
                    "$as_of_day - MIN(CASE WHEN kind = 'shop_account' THEN day END)",
                    default=None),
            Feature("tenure", "days_since_subscribed", "all",
                    "Whole days since the first email subscription.",
                    "$as_of_day - MIN(CASE WHEN kind = 'subscription' THEN day END)",
                    default=None),
            Feature("tenure", "record_kinds", "all",
                    "Kinds of record held: shop account, CRM contact, subscription.",
                    "COUNT(DISTINCT kind)"),
        )  # fmt: skip
        query = "SELECT entity_id, {features} FROM records_v GROUP BY entity_id"
        views.append(FeatureView("fv_records", ("records",), query, features))
    return views


def consent_views() -> list[FeatureView]:
    """Latest consent per purpose: 1 granted, 0 revoked, None never asked."""
    query = (
        "SELECT entity_id, {features} FROM (SELECT entity_id, purpose, status, ROW_NUMBER() "
        "OVER (PARTITION BY entity_id, purpose ORDER BY t DESC, event_id DESC) AS newest "
        "FROM consents_v) c WHERE newest = 1 GROUP BY entity_id"
    )
    features = tuple(
        Feature("consent", purpose, "all", f"Latest {purpose.replace('_', ' ')} consent "
                "(1 granted, 0 revoked); for activation, not a model input.",
                f"MAX(CASE WHEN purpose = {quote(purpose)} THEN "
                "CASE WHEN status = 'granted' THEN 1 ELSE 0 END END)",
                default=None, model_input=False)
        for purpose in PURPOSES
    )  # fmt: skip
    return [FeatureView("fv_consents", ("consents",), query, features)]
