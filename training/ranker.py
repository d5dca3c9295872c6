"""The next-best-product model: candidate generators, then a LightGBM LambdaRank ranker.

Training uses sliding snapshots before the cutoff (training.snapshots.snapshot_times): at each
snapshot the generators see only the history before it, and a candidate is relevant when the
customer bought it within the horizon after it. The newest snapshot chooses the number of
trees (early stopping on MAP@k); the ranker is then refitted on every snapshot. The fitted
object holds the whole inference path (history at the cutoff, neighbourhoods, customer
features, booster), so one pickled artifact recommends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ContractError
from features.event_log import to_us
from training.candidates import (
    DAY_US,
    CandidateSettings,
    History,
    build_history,
    generate_candidates,
)
from training.interactions import Interactions
from training.pairs import feature_columns, pair_features
from training.snapshots import snapshot_times

log = logging.getLogger("cdp.training")
UserFeatures = Callable[[object], pd.DataFrame]
OFFER_DEPTH = 25  # offers kept per customer for serving: k plus room for owned products
RECOMMEND_CHUNK = 1_000  # customers scored at a time (pairs x features stay in memory)


@dataclass(frozen=True)
class RankerParams:
    """LightGBM LambdaRank settings (trees are chosen by early stopping up to `max_trees`)."""

    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 50
    max_trees: int = 400
    early_stopping_rounds: int = 30
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambdarank_truncation_level: int = 20
    # One thread by default: on a busy 2-core machine OpenMP's spinning threads make LightGBM
    # several times slower than one thread, and one thread is deterministic by construction.
    threads: int = 1


@dataclass
class NextBestProduct:
    """Recommend the k products each customer is most likely to buy within the horizon."""

    k: int = 12
    horizon_days: int = 30
    snapshots: int = 4
    every_days: int = 30
    max_customers_per_snapshot: int = 5000
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    params: RankerParams = field(default_factory=RankerParams)
    seed: int = 42

    def fit(
        self, data: Interactions, cutoff: object, user_features: UserFeatures | None = None
    ) -> NextBestProduct:
        """Train on what was known before `cutoff`; keep the inference state at `cutoff`."""
        import lightgbm as lgb

        started = time.perf_counter()
        cutoff_us = to_us(cutoff)
        data = data.before(cutoff_us)
        if data.bought.empty:
            raise ContractError("no purchases before the cutoff: nothing to learn from")
        times = snapshot_times(cutoff, horizon_days=self.horizon_days, snapshots=self.snapshots,
                               every_days=self.every_days)  # fmt: skip
        frames = [self._training_frame(data, as_of, user_features) for as_of in times]
        frames = [f for f in frames if f is not None and f["label"].any()]
        if not frames:
            raise ContractError("no snapshot before the cutoff has buyers with history; "
                                "use an earlier horizon or fewer snapshots")  # fmt: skip
        self.feature_names_ = feature_columns(frames[0])
        self.training_summary_ = {
            "snapshots": [str(t) for t in times], "rows": int(sum(len(f) for f in frames)),
            "groups": int(sum(f["group"].nunique() for f in frames)),
            "candidate_recall": float(np.mean([f.attrs["recall"] for f in frames])),
        }  # fmt: skip
        base = self._lgb_params()
        trees = self.params.max_trees
        if len(frames) > 1:
            train, valid = pd.concat(frames[:-1], ignore_index=True), frames[-1]
            booster = lgb.train(
                base, self._dataset(train), num_boost_round=self.params.max_trees,
                valid_sets=[self._dataset(valid)],
                callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
            )  # fmt: skip
            trees = max(1, booster.best_iteration)
        everything = pd.concat(frames, ignore_index=True)
        self.booster_ = lgb.train(base, self._dataset(everything), num_boost_round=trees)
        self.trees_ = trees
        self.history_ = build_history(data, cutoff_us, self.candidates)
        self.user_features_ = user_features(cutoff) if user_features else None
        self.names_ = dict(data.names)
        self.cutoff_ = pd.Timestamp(cutoff)
        self.fit_seconds_ = time.perf_counter() - started
        log.info("ranker: %d trees on %d rows in %.1fs", trees, len(everything),
                 self.fit_seconds_)  # fmt: skip
        return self

    def _lgb_params(self) -> dict[str, object]:
        p = self.params
        return {
            "objective": "lambdarank", "metric": "map", "eval_at": [self.k],
            "learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
            "min_child_samples": p.min_child_samples, "feature_fraction": p.feature_fraction,
            "bagging_fraction": p.bagging_fraction, "bagging_freq": 1,
            "lambdarank_truncation_level": p.lambdarank_truncation_level,
            "seed": self.seed, "deterministic": True, "force_row_wise": True,
            "num_threads": p.threads, "verbose": -1,
        }  # fmt: skip

    def _dataset(self, frame: pd.DataFrame):
        import lightgbm as lgb

        sizes = frame.groupby("group", sort=False).size().to_numpy()
        return lgb.Dataset(frame[self.feature_names_], frame["label"], group=sizes,
                           free_raw_data=True)  # fmt: skip

    def _training_frame(self, data: Interactions, as_of, user_features: UserFeatures | None):
        as_of_us = to_us(as_of)
        end = as_of_us + self.horizon_days * DAY_US
        history = build_history(data, as_of_us, self.candidates)
        later = data.bought[(data.bought["t"] >= as_of_us) & (data.bought["t"] < end)]
        truth = later[["entity_id", "product_id"]].drop_duplicates()
        truth = truth[truth["entity_id"].isin(history.users)]
        if truth.empty:
            return None
        codes = np.unique(history.users.get_indexer(truth["entity_id"]))
        if len(codes) > self.max_customers_per_snapshot:  # bounded work at any size, seeded
            rng = np.random.default_rng(self.seed + int(as_of_us // DAY_US))
            codes = np.sort(rng.choice(codes, self.max_customers_per_snapshot, replace=False))
            truth = truth[truth["entity_id"].isin(set(history.users[codes]))]
        pool = generate_candidates(history, codes, self.candidates)
        frame = pair_features(history, pool, user_features(as_of) if user_features else None)
        frame = frame.copy()  # one block: the columns below are added to a defragmented frame
        bought = set(zip(history.users.get_indexer(truth["entity_id"]),
                         history.items.get_indexer(truth["product_id"]), strict=True))  # fmt: skip
        frame["label"] = [int((u, i) in bought) for u, i in zip(frame["u"], frame["i"],
                                                                strict=True)]  # fmt: skip
        frame["group"] = frame["u"] + int(as_of_us // DAY_US) * 10_000_000
        frame = frame.sort_values(["group", "i"], ignore_index=True)
        frame.attrs["recall"] = frame["label"].sum() / max(1, len(truth))
        return frame

    def _codes(self, entities: list[str] | None) -> np.ndarray:
        history = self.history_
        if entities is None:
            return np.arange(len(history.users))
        codes = history.users.get_indexer(pd.Index(entities))
        return np.unique(codes[codes >= 0])

    def scored_candidates(self, entities: list[str] | None = None) -> pd.DataFrame:
        """Every candidate of `entities` (default: all customers with history), scored."""
        return self._scored(self._codes(entities))

    def _scored(self, codes: np.ndarray) -> pd.DataFrame:
        if len(codes) == 0:  # nobody known: the caller fills with best-sellers
            return pd.DataFrame({"u": pd.Series(dtype="int64"), "i": pd.Series(dtype="int64"),
                                 "score": pd.Series(dtype=float)})  # fmt: skip
        pool = generate_candidates(self.history_, codes, self.candidates)
        frame = pair_features(self.history_, pool, self.user_features_)
        score = self.booster_.predict(frame[self.feature_names_])
        return pd.concat([frame, pd.Series(score, index=frame.index, name="score")], axis=1)

    def precompute_offers(self, depth: int = OFFER_DEPTH) -> NextBestProduct:
        """Score every known customer's top `depth` with reasons once, into `offers_`, so a
        service answers a lookup with a read (the reasons' SHAP values are the costly part)."""
        self.offers_ = self.recommend(None, k=depth)
        return self

    def recommend(self, entities: list[str] | None = None, k: int | None = None,
                  reasons: bool = True) -> pd.DataFrame:  # fmt: skip
        """Top-k products per customer: entity_id, rank, product_id, score[, reasons].

        Customers unknown at the cutoff get the best-sellers, marked as such; lists shorter
        than k are filled with best-sellers not already in them. Customers are scored a chunk
        at a time, so memory stays bounded however many there are.
        """
        from training.reasons import explain

        k = k or self.k
        history = self.history_
        codes = self._codes(entities)
        tops = [pd.DataFrame({"u": pd.Series(dtype="int64"), "i": pd.Series(dtype="int64"),
                              "score": pd.Series(dtype=float), "rank": pd.Series(dtype="int64"),
                              "reasons": pd.Series(dtype=str)})]  # fmt: skip
        for start in range(0, len(codes), RECOMMEND_CHUNK):
            frame = self._scored(codes[start : start + RECOMMEND_CHUNK])
            frame = frame.sort_values(["u", "score", "i"], ascending=[True, False, True])
            top = frame.groupby("u", sort=False).head(k).copy()
            top["rank"] = top.groupby("u").cumcount() + 1
            top["reasons"] = explain(self, top) if reasons else ""
            tops.append(top[["u", "i", "score", "rank", "reasons"]])
        top = pd.concat(tops, ignore_index=True)
        wanted = list(history.users) if entities is None else list(dict.fromkeys(entities))
        top = _fill(top, history, wanted, k)
        top["product_id"] = history.items[top["i"].to_numpy()]
        columns = ["entity_id", "rank", "product_id", "score"] + (["reasons"] if reasons else [])
        return top[columns].sort_values(["entity_id", "rank"], ignore_index=True)


def _fill(top: pd.DataFrame, history: History, wanted: list[str], k: int) -> pd.DataFrame:
    """Add best-sellers to lists shorter than k (and give unknown customers a whole list)."""
    top = top.assign(entity_id=history.users[top["u"].to_numpy()])
    have = top.groupby("entity_id").size()
    short = [e for e in wanted if have.get(e, 0) < k]
    if not short or len(history.popular) == 0:
        return top
    taken = top[top["entity_id"].isin(set(short))].groupby("entity_id")["i"].agg(set)
    floor = float(top["score"].min()) - 1 if len(top) else 0.0
    rows = []
    for entity in short:
        seen = taken.get(entity, set())
        rank = have.get(entity, 0)
        for position, item in enumerate(history.popular):
            if rank >= k:
                break
            if item not in seen:
                rank += 1
                rows.append((entity, item, rank, floor - position))
    if not rows:  # every best-seller already listed: nothing to add
        return top
    extra = pd.DataFrame(rows, columns=["entity_id", "i", "rank", "score"])
    extra["reasons"] = "one of the best-sellers of the last weeks"
    if top.empty:  # nobody known: the filled lists are the whole answer
        return extra
    return pd.concat([top, extra], ignore_index=True)
