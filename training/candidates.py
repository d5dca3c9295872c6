"""Candidate generators of the next-best-product ranker, and the history they read.

`History` is everything known at one moment (`as_of`): per customer×product purchase stats, per
product popularity, the co-purchase and item-kNN neighbourhoods, category affinities and recent
views or cart adds. Each generator proposes its top products per customer with a score:

- repurchase: the customer's own products, by time-decayed order count;
- copurchase: products bought in the same orders as the customer's products (cosine);
- item_knn: item-kNN over customers×products with BM25 weighting (the `implicit` package);
- category: the customer's category shares × the product's recent popularity in its category;
- interest: products viewed or put in the cart lately and not bought since;
- trending: products whose last week sells above their last quarter's pace;
- popular: the best-sellers of the last weeks (also what fills a short list).

The pool is the union; every generator's score is then computed for every pair of the pool, so
the ranker sees all signals of a pair, not only those of the generator that proposed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from training.interactions import Interactions

DAY_US = 86_400_000_000
GENERATORS = ("repurchase", "copurchase", "item_knn", "category", "interest", "trending",
              "popular")  # fmt: skip
CHUNK_USERS = 4_000


@dataclass(frozen=True)
class CandidateSettings:
    """How many products each generator proposes, and the windows it looks at."""

    generators: tuple[str, ...] = GENERATORS
    per_generator: int = 30
    repurchase_max: int = 200
    neighbours: int = 50
    popular_days: int = 14
    trending_days: int = 7
    halflife_days: float | None = None  # None: chosen from the data (see decay_halflife)


def decay_halflife(bought: pd.DataFrame) -> float:
    """The median gap in days between a customer's consecutive orders, within [7, 180].

    Repurchase weights halve over one typical gap, so the decay follows the business's own
    rhythm (weekly groceries or yearly boots) instead of a constant.
    """
    orders = bought.drop_duplicates(["entity_id", "order_id"])[["entity_id", "t"]]
    orders = orders.sort_values(["entity_id", "t"])
    gaps = orders.groupby("entity_id")["t"].diff().dropna() / DAY_US
    gaps = gaps[gaps >= 1]
    return float(np.clip(gaps.median() if len(gaps) else 30.0, 7.0, 180.0))


@dataclass
class History:
    """Everything the generators and the pair features need, at `as_of_us`."""

    as_of_us: int
    users: pd.Index
    items: pd.Index
    halflife_days: float
    pairs: pd.DataFrame  # per (user, item) codes: purchase stats
    user_stats: pd.DataFrame  # per user code
    item_stats: pd.DataFrame  # per item code
    decayed: sparse.csr_matrix  # users x items, time-decayed order counts
    counts: sparse.csr_matrix  # users x items, order counts
    copurchase: sparse.csr_matrix  # items x items, top neighbours, cosine
    knn: sparse.csr_matrix  # items x items, BM25 item-kNN similarity
    user_categories: pd.DataFrame  # user, category, share
    interest: pd.DataFrame  # user, item, interest_score, days_since_interest
    item_categories: pd.Series  # per item code: category or None
    popular: np.ndarray  # item codes, best first
    trending: np.ndarray  # item codes, best first


def build_history(
    data: Interactions, as_of_us: int, settings: CandidateSettings, seed: int = 0
) -> History:
    """Summarise the interactions known before `as_of_us` for the generators."""
    data = data.before(as_of_us)
    bought = data.bought
    halflife = settings.halflife_days or decay_halflife(bought)
    users = pd.Index(sorted(set(bought["entity_id"]) | set(data.interest["entity_id"])))
    items = pd.Index(sorted(set(data.purchases["product_id"]) | set(data.interest["product_id"])))
    lines = bought.assign(u=users.get_indexer(bought["entity_id"]),
                          i=items.get_indexer(bought["product_id"]))  # fmt: skip
    orders = lines.groupby(["u", "i", "order_id"], sort=False).agg(
        t=("t", "max"), units=("quantity", "sum")).reset_index()  # fmt: skip
    age_days = (as_of_us - orders["t"]) / DAY_US
    orders["w"] = 0.5 ** (age_days / halflife)
    pairs = orders.groupby(["u", "i"]).agg(
        orders=("order_id", "size"), units=("units", "sum"), first_t=("t", "min"),
        last_t=("t", "max"), decayed=("w", "sum")).reset_index()  # fmt: skip
    returned = data.purchases[data.purchases["quantity"] < 0]
    returned = returned.groupby(["entity_id", "product_id"])["quantity"].sum().reset_index()
    returned = returned.assign(u=users.get_indexer(returned["entity_id"]),
                               i=items.get_indexer(returned["product_id"]))  # fmt: skip
    pairs = pairs.merge(returned[["u", "i", "quantity"]], on=["u", "i"], how="left")
    pairs["returned"] = -pairs.pop("quantity").fillna(0)
    shape = (len(users), len(items))
    decayed = sparse.csr_matrix((pairs["decayed"], (pairs["u"], pairs["i"])), shape=shape)
    counts = sparse.csr_matrix((pairs["orders"].astype(float), (pairs["u"], pairs["i"])),
                               shape=shape)  # fmt: skip
    item_stats = _item_stats(lines, pairs, len(items), as_of_us)
    item_stats["orders_popular"] = _recent_orders(lines, len(items), as_of_us,
                                                  settings.popular_days)  # fmt: skip
    popular = _top_items(item_stats["orders_popular"], item_stats["orders_all"],
                         settings.per_generator)  # fmt: skip
    recent = _recent_orders(lines, len(items), as_of_us, settings.trending_days)
    pace = item_stats["orders_90d"] * settings.trending_days / 90
    trend = (recent + 1) / (pace + 1)
    support = recent >= max(3.0, np.quantile(recent[recent > 0], 0.75) if (recent > 0).any() else 3)
    trending = _top_items(trend.where(support, 0.0), recent, settings.per_generator)
    item_stats["trend"] = trend
    return History(
        as_of_us, users, items, halflife, pairs, _user_stats(lines, len(users), as_of_us),
        item_stats, decayed, counts, _copurchase(lines, len(items), settings.neighbours),
        _bm25(counts, settings.neighbours), _user_categories(data, pairs, items),
        _interest(data, users, items, as_of_us),
        pd.Series(items.map(data.categories()), dtype=object), popular, trending,
    )  # fmt: skip


def _recent_orders(lines: pd.DataFrame, n_items: int, as_of_us: int, days: int) -> pd.Series:
    recent = lines[lines["t"] >= as_of_us - days * DAY_US]
    counts = recent.groupby("i")["order_id"].nunique()
    return counts.reindex(range(n_items), fill_value=0).astype(float).rename_axis(None)


def _top_items(score: pd.Series, tie: pd.Series, n: int) -> np.ndarray:
    frame = pd.DataFrame(
        {
            "score": np.asarray(score, dtype=float),
            "tie": np.asarray(tie, dtype=float),
            "i": np.arange(len(score)),
        }
    )
    frame = frame[frame["score"] > 0].sort_values(["score", "tie", "i"],
                                                  ascending=[False, False, True])  # fmt: skip
    return frame["i"].to_numpy()[:n]


def _item_stats(lines: pd.DataFrame, pairs: pd.DataFrame, n_items: int, as_of_us: int):
    stats = pd.DataFrame(index=pd.RangeIndex(n_items))
    for days in (7, 14, 30, 90):
        stats[f"orders_{days}d"] = _recent_orders(lines, n_items, as_of_us, days)
    stats["orders_all"] = (
        lines.groupby("i")["order_id"].nunique().reindex(stats.index, fill_value=0)
    )
    recent = lines[lines["t"] >= as_of_us - 30 * DAY_US]
    stats["buyers_30d"] = recent.groupby("i")["u"].nunique().reindex(stats.index, fill_value=0)
    buyers = pairs.groupby("i")["u"].size().reindex(stats.index, fill_value=0)
    rebuyers = pairs[pairs["orders"] >= 2].groupby("i")["u"].size()
    stats["buyers_all"] = buyers
    stats["rebuy_rate"] = rebuyers.reindex(stats.index, fill_value=0) / buyers.clip(lower=1)
    first = lines.groupby("i")["t"].min().reindex(stats.index)
    stats["age_days"] = ((as_of_us - first) / DAY_US).fillna(-1)
    price = lines[lines["quantity"] > 0].assign(p=lambda x: x["amount_cents"] / x["quantity"])
    stats["price"] = price.groupby("i")["p"].median().reindex(stats.index) / 100
    return stats.fillna({"price": np.nan}).astype(float)


def _user_stats(lines: pd.DataFrame, n_users: int, as_of_us: int) -> pd.DataFrame:
    grouped = lines.groupby("u")
    stats = pd.DataFrame({
        "user_orders": grouped["order_id"].nunique(),
        "user_items": grouped["i"].nunique(),
        "user_days_since_order": (as_of_us - grouped["t"].max()) / DAY_US,
        "user_lines_per_order": grouped.size() / grouped["order_id"].nunique(),
    }).reindex(pd.RangeIndex(n_users))  # fmt: skip
    return stats


def _copurchase(lines: pd.DataFrame, n_items: int, neighbours: int) -> sparse.csr_matrix:
    """Items x items: cosine of the orders two products share, top `neighbours` per row."""
    baskets = lines.drop_duplicates(["order_id", "i"])
    order_codes = pd.factorize(baskets["order_id"], sort=True)[0]
    n_orders = order_codes.max() + 1 if len(baskets) else 0
    x = sparse.csr_matrix((np.ones(len(baskets)), (order_codes, baskets["i"])),
                          shape=(n_orders, n_items))  # fmt: skip
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    norms[norms == 0] = 1
    co = sparse.diags(1 / norms) @ co @ sparse.diags(1 / norms)
    return _keep_top(co.tocsr(), neighbours)


def _keep_top(matrix: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        if start == end:
            continue
        data, idx = matrix.data[start:end], matrix.indices[start:end]
        keep = np.lexsort((idx, -data))[:n]  # ties by product code: deterministic
        rows.append(np.full(len(keep), row))
        cols.append(idx[keep])
        vals.append(data[keep])
    if not rows:
        return sparse.csr_matrix(matrix.shape)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=matrix.shape)  # fmt: skip


def _bm25(counts: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    """Items x items similarity of implicit's BM25 item-kNN over customers x products."""
    from implicit.nearest_neighbours import BM25Recommender

    if counts.nnz == 0:
        return sparse.csr_matrix((counts.shape[1], counts.shape[1]))
    import warnings

    model = BM25Recommender(K=neighbours, K1=1.2, B=0.75, num_threads=1)
    with warnings.catch_warnings():  # implicit converts its own BM25-weighted copy to CSR
        warnings.simplefilter("ignore")
        model.fit(counts, show_progress=False)
    similarity = model.similarity.tocsr()
    similarity.setdiag(0)
    similarity.eliminate_zeros()
    return similarity


def _user_categories(data: Interactions, pairs: pd.DataFrame, items: pd.Index) -> pd.DataFrame:
    categories = data.categories()
    if not categories:
        return pd.DataFrame({"u": [], "category": [], "share": []})
    frame = pairs[["u", "i", "orders"]].assign(category=items[pairs["i"]].map(categories))
    frame = frame.dropna(subset=["category"]).groupby(["u", "category"])["orders"].sum()
    share = frame / frame.groupby(level="u").transform("sum")
    return share.rename("share").reset_index()


def _interest(data: Interactions, users: pd.Index, items: pd.Index, as_of_us: int):
    """Views (weight 1) and cart adds (3) of the last 30 days, halving each week, and not
    followed by a purchase of the same product."""
    recent = data.interest[data.interest["t"] >= as_of_us - 30 * DAY_US]
    empty = pd.DataFrame({"u": [], "i": [], "interest_score": [], "days_since_interest": []})
    if recent.empty:
        return empty
    weight = np.where(recent["type"] == "add_to_cart", 3.0, 1.0)
    frame = recent.assign(w=weight * 0.5 ** ((as_of_us - recent["t"]) / (7 * DAY_US)))
    frame = frame.groupby(["entity_id", "product_id"]).agg(
        interest_score=("w", "sum"), last_t=("t", "max")).reset_index()  # fmt: skip
    last_buy = data.bought.groupby(["entity_id", "product_id"])["t"].max().rename("last_buy")
    frame = frame.join(last_buy, on=["entity_id", "product_id"])
    frame = frame[frame["last_buy"].isna() | (frame["last_buy"] < frame["last_t"])]
    frame["days_since_interest"] = (as_of_us - frame["last_t"]) / DAY_US
    frame["u"] = users.get_indexer(frame["entity_id"])
    frame["i"] = items.get_indexer(frame["product_id"])
    return frame[["u", "i", "interest_score", "days_since_interest"]]


def _matrix_top(scores: sparse.csr_matrix, n: int) -> pd.DataFrame:
    top = _keep_top(scores, n).tocoo()
    return pd.DataFrame({"u": top.row, "i": top.col})


def _lookup(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(matrix[rows, cols]).ravel()


def generate_candidates(
    history: History, user_codes: np.ndarray, settings: CandidateSettings
) -> pd.DataFrame:
    """The candidate pool of `user_codes` (codes in history.users): one row per (u, i) with
    every generator's score and, where the generator proposed it, its rank (1 = best)."""
    chunks = [
        _chunk_candidates(history, user_codes[start : start + CHUNK_USERS], settings)
        for start in range(0, len(user_codes), CHUNK_USERS)
    ]
    if not chunks:
        return pd.DataFrame(columns=["u", "i"])
    return pd.concat(chunks, ignore_index=True)


def _chunk_candidates(history: History, codes: np.ndarray, settings: CandidateSettings):
    on = set(settings.generators)
    n = settings.per_generator
    local = history.decayed[codes]
    proposals: dict[str, pd.DataFrame] = {}
    copurchase = local @ history.copurchase if "copurchase" in on else None
    knn = history.counts[codes] @ history.knn if "item_knn" in on else None
    if "repurchase" in on:
        proposals["repurchase"] = _matrix_top(local, settings.repurchase_max)
    if copurchase is not None:
        proposals["copurchase"] = _matrix_top(copurchase.tocsr(), n)
    if knn is not None:
        proposals["item_knn"] = _matrix_top(knn.tocsr(), n)
    category = _category_scores(history, codes, n) if "category" in on else None
    if category is not None:
        proposals["category"] = category[["u", "i"]]
    interest = history.interest[history.interest["u"].isin(codes)]
    if "interest" in on and not interest.empty:
        local_codes = pd.Series(np.arange(len(codes)), index=codes)
        proposals["interest"] = pd.DataFrame({"u": local_codes[interest["u"]].to_numpy(),
                                              "i": interest["i"].to_numpy()})  # fmt: skip
    for name in ("trending", "popular"):
        if name in on:
            top = getattr(history, name)[:n]
            proposals[name] = pd.DataFrame({"u": np.repeat(np.arange(len(codes)), len(top)),
                                            "i": np.tile(top, len(codes))})  # fmt: skip
    if not proposals:
        return pd.DataFrame(columns=["u", "i"])
    pool = pd.concat(proposals.values(), ignore_index=True).drop_duplicates()
    rows, cols = pool["u"].to_numpy(), pool["i"].to_numpy()
    pool["repurchase_score"] = _lookup(local, rows, cols)
    pool["copurchase_score"] = _lookup(copurchase, rows, cols) if copurchase is not None else 0.0
    pool["item_knn_score"] = _lookup(knn, rows, cols) if knn is not None else 0.0
    pool = _merge_scores(pool, category, "category_score")
    interest_local = interest.assign(u=pd.Series(np.arange(len(codes)), index=codes)[
        interest["u"]].to_numpy()) if not interest.empty else interest  # fmt: skip
    pool = pool.merge(interest_local, on=["u", "i"], how="left")
    pool["interest_score"] = pool["interest_score"].fillna(0.0)
    pool["trending_score"] = history.item_stats["trend"].to_numpy()[cols]
    pool["popular_score"] = history.item_stats["orders_popular"].to_numpy()[cols]
    for name, frame in proposals.items():
        pool = _merge_rank(pool, frame, name)
    pool["sources"] = pool[[f"{g}_rank" for g in proposals]].notna().sum(axis=1)
    for name in GENERATORS:
        pool[f"{name}_rank"] = pool.get(f"{name}_rank", np.nan)
    pool["u"] = codes[pool["u"].to_numpy()]
    return pool.sort_values(["u", "i"], ignore_index=True)


def _merge_scores(pool: pd.DataFrame, scores: pd.DataFrame | None, column: str):
    if scores is None or scores.empty:
        pool[column] = 0.0
        return pool
    pool = pool.merge(scores[["u", "i", "score"]], on=["u", "i"], how="left")
    pool[column] = pool.pop("score").fillna(0.0)
    return pool


def _merge_rank(pool: pd.DataFrame, proposed: pd.DataFrame, name: str) -> pd.DataFrame:
    """The generator's rank of each proposed pair, by its own score (ties by product code)."""
    score = pool[["u", "i", f"{name}_score"]].merge(proposed, on=["u", "i"])
    score = score.sort_values(["u", f"{name}_score", "i"], ascending=[True, False, True])
    score[f"{name}_rank"] = score.groupby("u").cumcount() + 1
    return pool.merge(score[["u", "i", f"{name}_rank"]], on=["u", "i"], how="left")


def _category_scores(history: History, codes: np.ndarray, n: int) -> pd.DataFrame | None:
    """Category share × the product's share of its category's orders in the last 30 days."""
    if history.user_categories.empty:
        return None
    stats = pd.DataFrame({"i": np.arange(len(history.items)),
                          "category": history.item_categories.to_numpy(),
                          "orders": history.item_stats["orders_30d"].to_numpy()})  # fmt: skip
    stats = stats.dropna(subset=["category"])
    stats = stats[stats["orders"] > 0]
    stats["pop"] = stats["orders"] / stats.groupby("category")["orders"].transform("sum")
    stats = stats.sort_values(["category", "pop", "i"], ascending=[True, False, True])
    stats = stats.groupby("category").head(n)
    local = pd.Series(np.arange(len(codes)), index=codes)
    users = history.user_categories[history.user_categories["u"].isin(codes)]
    frame = users.merge(stats, on="category")
    frame["score"] = frame["share"] * frame["pop"]
    frame["u"] = local[frame["u"]].to_numpy()
    frame = frame.sort_values(["u", "score", "i"], ascending=[True, False, True])
    return frame.groupby("u").head(n)[["u", "i", "score"]]
