"""Calibrated propensity: P(purchase within the horizon), overall and per major category.

One LightGBM binary model per target (inputs: the features of features/ plus BG/NBD's
P(active) and P(buy), training.bgnbd), trained on sliding point-in-time snapshots
(training.snapshots) except the newest; the newest snapshot is the later time slice that
chooses the number of trees, the weight of the trees in an average with a logistic regression
on RFM, and calibrates that average (isotonic regression when it holds enough buyers, else
Platt scaling), so a score of 0.3 means that about 30% of such customers
bought. Targets: `any`, and `purchase_<category>` for each category with at least
`min_positives` buyers in both the training rows and the calibration slice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import ConfigError, ContractError
from training.baselines import RfmLogistic
from training.bgnbd import ORDERS, RECENCY, TENURE, BgNbd
from training.snapshots import TrainingSet

log = logging.getLogger("cdp.training")
ANY = "any"
BGNBD_COLUMNS = ("bgnbd__p_alive", "bgnbd__p_buy")


def _has_rfm(frame: pd.DataFrame) -> bool:
    return all(c in frame.columns for c in (ORDERS, RECENCY, TENURE))


@dataclass(frozen=True)
class PropensityParams:
    """LightGBM settings of every target (trees chosen by early stopping up to max_trees)."""

    learning_rate: float = 0.02
    num_leaves: int = 4
    min_child_samples: int = 200
    max_trees: int = 1000
    early_stopping_rounds: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    threads: int = 1


class _Calibrator:
    """Isotonic (enough buyers) or Platt scaling of raw scores, fitted on the later slice."""

    def __init__(self, raw: np.ndarray, labels: np.ndarray, isotonic_min_positives: int):
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        self.method = "isotonic" if labels.sum() >= isotonic_min_positives else "platt"
        if self.method == "isotonic":
            self.model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self.model.fit(raw, labels)
        else:
            self.model = LogisticRegression().fit(_logit(raw)[:, None], labels)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model.predict(raw)
        return self.model.predict_proba(_logit(raw)[:, None])[:, 1]


def _blend_weight(trees: np.ndarray, linear: np.ndarray, labels: np.ndarray) -> float:
    """The share of the trees in a trees/linear average that ranks the later slice best (ROC-AUC
    on a 0.1 grid; ties keep more trees). Trees win on rich data; on a few thousand rows a
    three-variable logistic regression often extrapolates better to an unseen season."""
    from sklearn.metrics import roc_auc_score

    grid = np.round(np.linspace(1, 0, 11), 1)
    scores = [roc_auc_score(labels, w * trees + (1 - w) * linear) for w in grid]
    return float(grid[int(np.argmax(scores))])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class Propensity:
    """Probability that a customer buys (in a category) within `horizon_days`."""

    horizon_days: int = 90
    snapshots: int = 6
    every_days: int = 30
    min_positives: int = 50
    isotonic_min_positives: int = 200
    params: PropensityParams = field(default_factory=PropensityParams)
    seed: int = 42

    def fit(self, training: TrainingSet, feature_names: list[str]) -> Propensity:
        """Fit every target on `training` (rows of several snapshots, oldest first)."""
        import lightgbm as lgb

        started = time.perf_counter()
        if len(training.snapshots) < 2:
            raise ConfigError("propensity needs at least 2 snapshots: the newest calibrates")
        rows = training.rows
        newest = rows["as_of"] == max(training.snapshots)
        train, later = rows[~newest], rows[newest]
        if train.empty or later.empty:
            raise ContractError("no customers with history in the training snapshots")
        # BG/NBD's P(active) and P(buy) are fitted on the training rows only (not the slice).
        self.bgnbd_ = BgNbd(self.horizon_days).fit(train) if _has_rfm(train) else None
        train, later = self._with_bgnbd(train), self._with_bgnbd(later)
        self.feature_names_ = list(feature_names) + (
            list(BGNBD_COLUMNS) if self.bgnbd_ is not None else []
        )
        self.targets_: dict[str, str] = {}
        for column in training.label_columns:
            name = ANY if column == "label__any_purchase" else column.removeprefix("label__")
            enough = min(train[column].sum(), later[column].sum()) >= self.min_positives
            if name == ANY or enough:
                self.targets_[name] = column
        self.boosters_, self.calibrators_, self.trees_ = {}, {}, {}
        self.linear_: dict[str, RfmLogistic] = {}
        self.weights_: dict[str, float] = {}
        for name, column in self.targets_.items():
            if train[column].nunique() < 2 or later[column].nunique() < 2:
                raise ContractError(f"target {name}: the training snapshots hold one class only")
            params = self._lgb_params()
            valid = lgb.Dataset(later[self.feature_names_], later[column])
            booster = lgb.train(
                params, lgb.Dataset(train[self.feature_names_], train[column]),
                num_boost_round=self.params.max_trees, valid_sets=[valid],
                callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
            )  # fmt: skip
            trees = max(1, booster.best_iteration)
            labels = later[column].to_numpy()
            raw = booster.predict(later[self.feature_names_], num_iteration=trees)
            self.boosters_[name] = booster
            self.trees_[name] = trees
            if _has_rfm(train):
                linear = RfmLogistic(self.seed).fit(train, train[column].to_numpy())
                self.linear_[name] = linear
                self.weights_[name] = _blend_weight(raw, linear.predict_proba(later), labels)
                raw = self._raw(name, later)
            self.calibrators_[name] = _Calibrator(raw, labels, self.isotonic_min_positives)
        self.training_summary_ = {
            "snapshots": [str(s) for s in training.snapshots], "train_rows": len(train),
            "calibration_rows": len(later), "targets": list(self.targets_),
            "calibration": {n: c.method for n, c in self.calibrators_.items()},
            "tree_weight": dict(self.weights_),
        }  # fmt: skip
        self.fit_seconds_ = time.perf_counter() - started
        log.info("propensity: %d targets in %.1fs", len(self.targets_), self.fit_seconds_)
        return self

    def _lgb_params(self) -> dict[str, object]:
        p = self.params
        return {
            "objective": "binary", "metric": "binary_logloss", "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves, "min_child_samples": p.min_child_samples,
            "feature_fraction": p.feature_fraction, "bagging_fraction": p.bagging_fraction,
            "bagging_freq": 1, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": p.threads, "verbose": -1,
        }  # fmt: skip

    def _with_bgnbd(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.bgnbd_ is None:
            return frame
        return pd.concat([frame.drop(columns=list(BGNBD_COLUMNS), errors="ignore"),
                          self.bgnbd_.transform(frame)], axis=1)  # fmt: skip

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """One calibrated probability column per target, rows aligned with `features`."""
        features = self._with_bgnbd(features)
        missing = [c for c in self.feature_names_ if c not in features.columns]
        if missing:
            raise ContractError(f"features missing for propensity: {', '.join(missing[:5])}")
        out = {name: self.calibrators_[name](self._raw(name, features)) for name in self.boosters_}
        return pd.DataFrame(out, index=features.index)

    def _raw(self, name: str, frame: pd.DataFrame) -> np.ndarray:
        """The uncalibrated score: trees, blended with the RFM logistic regression."""
        # The configured threads: LightGBM's default (every core) costs about 1 ms of thread
        # start-up per call, which dominates scoring one profile after a real-time event.
        raw = self.boosters_[name].predict(frame[self.feature_names_],
                                           num_iteration=self.trees_[name],
                                           num_threads=self.params.threads)  # fmt: skip
        if name not in self.linear_:
            return raw
        weight = self.weights_[name]
        return weight * raw + (1 - weight) * self.linear_[name].predict_proba(frame)

    def importance(self, target: str = ANY) -> pd.Series:
        """Gain importance of each feature for one target, largest first."""
        booster = self.boosters_[target]
        values = booster.feature_importance("gain", iteration=self.trees_[target])
        return pd.Series(values, index=self.feature_names_).sort_values(ascending=False)
