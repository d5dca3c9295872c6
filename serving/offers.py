"""Next-best-offer: the champion ranker's list for a profile, with what must not be offered
taken out at request time.

The ranker's lists are scored once when a champion is loaded (`OfferBook.build`), `depth`
deep, so a lookup is a dictionary read; what changes between loads is applied per request
from the online store, which real-time events keep current: products the person already
bought are suppressed (never advertise what a person owns), and without a personalisation
consent only the non-personal best-sellers are shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

DEPTH = 25  # scored per profile when the model carries no lists: k plus owned products


@dataclass(frozen=True)
class Offer:
    """One ranked product with the reasons an agent can read out."""

    product_id: str
    category: str | None
    score: float | None  # None for best-sellers, which the ranker did not score
    reasons: str


class OfferBook:
    """Every known profile's ranked offers, and the best-sellers for everyone else."""

    def __init__(self, version: str, lists: dict[str, list[Offer]], best_sellers: list[Offer],
                 seconds: float) -> None:  # fmt: skip
        self.version = version
        self.lists = lists
        self.best_sellers = best_sellers
        self.seconds = seconds

    @classmethod
    def build(cls, ranker, version: str, categories: dict[str, str], depth: int = DEPTH):
        """Score every customer the ranker knows (its candidates, LightGBM, reasons)."""
        started = time.perf_counter()
        # Trained models carry their lists (training.ranker.precompute_offers); older ones
        # are scored here.
        ranked = getattr(ranker, "offers_", None)
        if ranked is None:
            ranked = ranker.recommend(None, k=depth)
        lists: dict[str, list[Offer]] = {}
        for entity, group in ranked.groupby("entity_id", sort=False):
            lists[str(entity)] = _offers(group, categories)
        # A made-up id nobody has: the ranker answers with its best-sellers, marked as such.
        popular = ranker.recommend(["\x00nobody"], k=depth)
        best_sellers = [Offer(o.product_id, o.category, None, o.reasons)
                        for o in _offers(popular, categories)]  # fmt: skip
        return cls(version, lists, best_sellers, time.perf_counter() - started)

    def forget(self, profile_ids: list[str] | set[str]) -> int:
        """Drop the lists of erased profiles; return how many were held. A model trained
        before an erasure still carries them, so this runs at every load too."""
        return sum(self.lists.pop(p, None) is not None for p in profile_ids)

    def offers_for(self, profile_id: str) -> tuple[list[Offer], bool]:
        """(ranked offers, personal?) for one profile."""
        found = self.lists.get(profile_id)
        return (found, True) if found is not None else (self.best_sellers, False)


def _offers(group: pd.DataFrame, categories: dict[str, str]) -> list[Offer]:
    return [
        Offer(str(p), categories.get(str(p)), round(float(s), 6), str(r))
        for p, s, r in zip(group["product_id"], group["score"], group["reasons"], strict=True)
    ]


def select_offers(
    ranked: list[Offer], owned: dict[str, object], k: int
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The first k offers not already owned, and the owned ones that were skipped (with why)."""
    offers: list[dict[str, object]] = []
    suppressed: list[dict[str, object]] = []
    for offer in ranked:
        if len(offers) == k:
            break
        if offer.product_id in owned:
            reason = f"already bought on {owned[offer.product_id]}"
            suppressed.append({"product_id": offer.product_id, "category": offer.category,
                               "reason": reason})  # fmt: skip
            continue
        offers.append({"rank": len(offers) + 1, "product_id": offer.product_id,
                       "category": offer.category, "score": offer.score,
                       "reasons": offer.reasons})  # fmt: skip
    return offers, suppressed
