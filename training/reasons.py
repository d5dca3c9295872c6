"""Reasons an agent can read out: which signals made the ranker put a product on the list.

The ranker's feature contributions (LightGBM `pred_contrib`, SHAP values of the trees) are
summed per reason family (training.pairs.FAMILIES); the two families that pushed the product up
most become sentences built from the candidate's own facts: the customer's last purchase of
it, the product of theirs it is usually bought with, its category share, its trend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.candidates import DAY_US
from training.pairs import family_of


def format_age(days: float) -> str:
    """Days as words: 'today', '3 days ago', '2 weeks ago', '5 months ago'."""
    days = int(days)
    if days < 1:
        return "today"
    if days < 14:
        return f"{days} day{'s' * (days != 1)} ago"
    if days < 61:
        return f"{days // 7} weeks ago"
    return f"{days // 30} months ago"


def explain(model, top: pd.DataFrame) -> list[str]:
    """One '; '-joined reason string per row of `top` (rows of model.scored_candidates)."""
    if top.empty:
        return []
    names = model.feature_names_
    contributions = model.booster_.predict(top[names], pred_contrib=True)[:, : len(names)]
    families = pd.Series([family_of(n) for n in names])
    by_family = pd.DataFrame(contributions, columns=names).T.groupby(families.values).sum().T
    # When each of these customers last bought each product: one pass, not one scan per row.
    bought = model.history_.pairs
    bought = bought[bought["u"].isin(top["u"].unique())]
    last_bought = dict(zip(zip(bought["u"], bought["i"], strict=True), bought["last_t"],
                           strict=True))  # fmt: skip
    texts = []
    for row, (_, pair) in zip(by_family.itertuples(index=False), top.iterrows(), strict=True):
        pushed = sorted(zip(row, by_family.columns, strict=True), reverse=True)
        families = [f for value, f in pushed if value > 0] + [_strongest_source(pair)]
        sentences: list[str] = []
        for family in families:  # the two strongest families that have something to say
            sentence = _sentence(model, pair, family, last_bought)
            if sentence and sentence not in sentences:
                sentences.append(sentence)
            if len(sentences) == 2:
                break
        texts.append("; ".join(sentences) or "ranked high for customers with this history")
    return texts


def _strongest_source(pair: pd.Series) -> str:
    ranks = {f: pair.get(f"{f}_rank") for f in ("repurchase", "copurchase", "item_knn",
                                               "category", "interest", "trending")}  # fmt: skip
    ranks = {f: r for f, r in ranks.items() if r is not None and not np.isnan(r)}
    return min(ranks, key=ranks.get) if ranks else "popular"


def _name(model, code: int) -> str:
    product = model.history_.items[code]
    name = model.names_.get(product)
    return f"{name.strip().lower()} ({product})" if name else str(product)


def _anchor(model, u: int, i: int, matrix_name: str) -> int | None:
    """The customer's product that contributes most to the (u, i) neighbourhood score."""
    history = model.history_
    row = (history.decayed if matrix_name == "copurchase" else history.counts)[u]
    similarity = getattr(history, matrix_name)
    if row.nnz == 0:
        return None
    weights = row.data * np.asarray(similarity[row.indices, i].todense()).ravel()
    if weights.max() <= 0:
        return None
    return int(row.indices[np.argmax(weights)])


def _sentence(model, pair: pd.Series, family: str, last_bought: dict) -> str:
    u, i = int(pair["u"]), int(pair["i"])
    if family == "repurchase" and pair.get("pair_orders", 0) > 0:
        orders = int(pair["pair_orders"])
        times = "once" if orders == 1 else f"{orders} times"
        return f"bought it {times}, most recently {format_age(pair['pair_days_since_last'])}"
    if family in ("copurchase", "item_knn"):
        anchor = _anchor(model, u, i, "copurchase" if family == "copurchase" else "knn")
        if anchor is None:
            return ""
        last = last_bought.get((u, anchor))
        when = "" if last is None else f" {format_age((model.history_.as_of_us - last) / DAY_US)}"
        if family == "copurchase":
            return f"bought {_name(model, anchor)}{when}; it is often in the same order"
        return f"customers who buy {_name(model, anchor)} also buy it"
    if family == "category":
        category = model.history_.item_categories.iloc[i]
        share = pair.get("pair_category_share", 0)
        if category is None or not share:
            return ""
        return f"{share:.0%} of their purchases are {category}; a best-seller there"
    if family == "interest" and pair.get("interest_score", 0) > 0:
        return f"looked at it {format_age(pair['days_since_interest'])} and has not bought it yet"
    if family == "trending" and pair.get("item_trend", 0) > 1.2:
        return f"selling {pair['item_trend']:.1f}x its usual pace this week"
    if family in ("popular", "trending"):
        rank = pair.get("popular_rank")
        if rank is not None and not np.isnan(rank):
            days = model.candidates.popular_days
            return f"number {int(rank)} best-seller of the last {days} days"
        orders = pair.get("item_orders_30d", 0)
        if orders and orders > 0:
            return f"in {int(orders)} order{'s' * (int(orders) != 1)} in the last 30 days"
    return ""
