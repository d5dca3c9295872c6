"""Calibrated propensity: P(purchase within the horizon), overall and per major category.

One LightGBM binary model per target (inputs: the features of features/ plus BG/NBD's
P(active) and P(buy), training.bgnbd), trained on sliding point-in-time snapshots
(training.snapshots). A time split first: trees are fitted on every snapshot except the newest,
and the newest (the later slice) chooses the number of trees and the weight of the trees in an
average with a logistic regression on RFM. Then, with `calibration_folds` >= 2 (the default),
the trees and the regression are refitted on all snapshots, and the calibration map is fitted
on out-of-fold scores of every snapshot (folds by customer; training.calibration chooses Platt
or isotonic by an inner time split); with 0, on the later slice's scores alone (isotonic when
it holds enough buyers, else Platt). Either way a score of 0.3 means that about 30% of such
customers bought. Targets: `any`, and `purchase_<category>` for each category with at least
`min_positives` buyers in both the training rows and the later slice.
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
from training.calibration import Calibrator, choose_calibrator, customer_folds
from training.snapshots import TrainingSet

log = logging.getLogger("cdp.training")
ANY = "any"
BGNBD_COLUMNS = ("bgnbd__p_alive", "bgnbd__p_buy")
# Models pickled before training.calibration existed name their calibrators by this path.
_Calibrator = Calibrator


def _has_rfm(frame: pd.DataFrame) -> bool:
    return all(c in frame.columns for c in (ORDERS, RECENCY, TENURE))


@dataclass(frozen=True)
class PropensityParams:
    """LightGBM settings of every target (trees chosen by early stopping up to max_trees)."""

    learning_rate: float = 0.02
    num_leaves: int = 4
    min_child_samples: int = 200
    max_trees: int = 500
    early_stopping_rounds: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    threads: int = 1


def _blend_weight(trees: np.ndarray, linear: np.ndarray, labels: np.ndarray) -> float:
    """The share of the trees in a trees/linear average that ranks the later slice best (ROC-AUC
    on a 0.1 grid; ties keep more trees). Trees win on rich data; on a few thousand rows a
    three-variable logistic regression often extrapolates better to an unseen season."""
    from sklearn.metrics import roc_auc_score

    grid = np.round(np.linspace(1, 0, 11), 1)
    scores = [roc_auc_score(labels, w * trees + (1 - w) * linear) for w in grid]
    return float(grid[int(np.argmax(scores))])


@dataclass
class Propensity:
    """Probability that a customer buys (in a category) within `horizon_days`."""

    horizon_days: int = 90
    snapshots: int = 6
    every_days: int = 30
    min_positives: int = 50
    isotonic_min_positives: int = 200
    calibration_folds: int = 2
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
        pooled = pd.concat([train, later])
        newest_rows = np.arange(len(pooled)) >= len(train)
        folds = (customer_folds(pooled[training.key], self.calibration_folds)
                 if self.calibration_folds >= 2 else None)  # fmt: skip
        # The features are binned once for every target, fold and refit (subsets share the
        # bins; only the labels change): binning 200 columns cost as much as 100 rounds.
        binned = lgb.Dataset(pooled[self.feature_names_], params=self._lgb_params(),
                             free_raw_data=False).construct()  # fmt: skip
        for name, column in self.targets_.items():
            if train[column].nunique() < 2 or later[column].nunique() < 2:
                raise ContractError(f"target {name}: the training snapshots hold one class only")
            labels = pooled[column].to_numpy()
            binned.set_label(labels)
            booster = lgb.train(
                self._lgb_params(), binned.subset(np.flatnonzero(~newest_rows)),
                num_boost_round=self.params.max_trees,
                valid_sets=[binned.subset(np.flatnonzero(newest_rows))],
                callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
            )  # fmt: skip
            self.trees_[name] = max(1, booster.best_iteration)
            self.boosters_[name] = booster
            later_labels = labels[newest_rows]
            if _has_rfm(train):
                self.linear_[name] = RfmLogistic(self.seed).fit(train, train[column].to_numpy())
                trees = booster.predict(later[self.feature_names_], num_iteration=self.trees_[name])
                linear = self.linear_[name].predict_proba(later)
                self.weights_[name] = _blend_weight(trees, linear, later_labels)
            if folds is None:
                buyers = later_labels.sum()
                method = "isotonic" if buyers >= self.isotonic_min_positives else "platt"
                self.calibrators_[name] = Calibrator(method, self._raw(name, later), later_labels)
            else:
                self._cross_fit(name, pooled, binned, labels, folds, newest_rows)
        self.training_summary_ = {
            "snapshots": [str(s) for s in training.snapshots], "train_rows": len(train),
            "calibration_rows": len(later) if folds is None else len(pooled),
            "calibration_folds": 0 if folds is None else self.calibration_folds,
            "targets": list(self.targets_),
            "calibration": {n: c.method for n, c in self.calibrators_.items()},
            "tree_weight": dict(self.weights_),
        }  # fmt: skip
        self.fit_seconds_ = time.perf_counter() - started
        log.info("propensity: %d targets in %.1fs", len(self.targets_), self.fit_seconds_)
        return self

    def _fit_trees_and_linear(self, name: str, pooled: pd.DataFrame, binned,
                              labels: np.ndarray, rows: np.ndarray):  # fmt: skip
        """A booster with the chosen number of trees (and the RFM regression) on the pooled rows
        at positions `rows`; `binned` holds every pooled row and `labels` its labels."""
        import lightgbm as lgb

        labels = labels[rows]
        if np.unique(labels).size < 2:
            raise ContractError(f"target {name}: a calibration fold holds one class only")
        data = binned if rows.size == binned.num_data() else binned.subset(rows)
        booster = lgb.train(self._lgb_params(), data, num_boost_round=self.trees_[name])
        linear = (RfmLogistic(self.seed).fit(pooled.iloc[rows], labels)
                  if name in self.weights_ else None)  # fmt: skip
        return booster, linear

    def _cross_fit(self, name: str, pooled: pd.DataFrame, binned, labels: np.ndarray,
                   folds: np.ndarray, newest: np.ndarray) -> None:  # fmt: skip
        """Out-of-fold raw scores of every row of every snapshot (folds by customer) calibrate;
        the trees and the regression are then refitted on all rows."""
        out_of_fold = np.zeros(len(pooled))
        for k in np.unique(folds):
            held = folds == k
            booster, linear = self._fit_trees_and_linear(name, pooled, binned, labels,
                                                         np.flatnonzero(~held))  # fmt: skip
            out_of_fold[held] = self._blend(name, booster, linear, pooled[held])
        self.boosters_[name], linear = self._fit_trees_and_linear(
            name, pooled, binned, labels, np.arange(len(pooled))
        )
        if linear is not None:
            self.linear_[name] = linear
        self.calibrators_[name] = choose_calibrator(out_of_fold, labels, newest,
                                                    self.isotonic_min_positives)  # fmt: skip

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
        return self._blend(name, self.boosters_[name], self.linear_.get(name), frame)

    def _blend(self, name: str, booster, linear: RfmLogistic | None, frame: pd.DataFrame):
        # The configured threads: LightGBM's default (every core) costs about 1 ms of thread
        # start-up per call, which dominates scoring one profile after a real-time event.
        raw = booster.predict(frame[self.feature_names_], num_iteration=self.trees_[name],
                              num_threads=self.params.threads)  # fmt: skip
        if linear is None:
            return raw
        weight = self.weights_[name]
        return weight * raw + (1 - weight) * linear.predict_proba(frame)

    def importance(self, target: str = ANY) -> pd.Series:
        """Gain importance of each feature for one target, largest first."""
        booster = self.boosters_[target]
        values = booster.feature_importance("gain", iteration=self.trees_[target])
        return pd.Series(values, index=self.feature_names_).sort_values(ascending=False)
