"""The feature catalogue: every feature view, assembled for the relations at hand.

Feature names follow `<group>__<name>__<window>`; groups: rfm, category, owned, price,
channel, behaviour, email, calls, tenure, consent (consent is kept beside, not a model input).
"""

from __future__ import annotations

from collections.abc import Sequence

from features.definitions import RELATIONS, Catalogue, category_slugs, check_unique


def build_catalogue(
    entity_key: str,
    categories: Sequence[str],
    relations: Sequence[str],
    channels: Sequence[str] = (),
) -> Catalogue:
    """The catalogue of features computable from `relations` (names in definitions.RELATIONS).

    `categories` are the product categories features are broken down by (from the catalog);
    `channels` the order channels (empty when the transactions carry none).
    """
    from features.views.behaviour import behaviour_views
    from features.views.engagement import call_views, email_views
    from features.views.profile import consent_views, tenure_views
    from features.views.purchases import owned_views, purchase_views

    unknown = set(relations) - set(RELATIONS)
    if unknown:
        raise ValueError(f"unknown relations {sorted(unknown)}")
    available = tuple(r for r in RELATIONS if r in relations)
    slugs = category_slugs([c for c in categories if c is not None])
    views = []
    if "purchases" in available:
        views += purchase_views(slugs, tuple(channels)) + owned_views()
    if "behaviour" in available:
        views += [v for v in behaviour_views(slugs) if set(v.relations) <= set(available)]
    if "email" in available:
        views += email_views(slugs)
    if "calls" in available:
        views += call_views()
    views += tenure_views(available)
    if "consents" in available:
        views += consent_views()
    check_unique(f for view in views for f in view.features)
    return Catalogue(entity_key, tuple(sorted(slugs)), available, tuple(channels), tuple(views))
