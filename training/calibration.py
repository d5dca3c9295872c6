"""Turning raw propensity scores into probabilities.

Two maps, both monotone: Platt scaling (a logistic regression on the logit of the raw score, two
parameters, no ties) and centred isotonic regression (a monotone curve through the steps of
isotonic regression, flexible, needs many buyers).
`choose_calibrator` picks one by an inner time split: each is fitted on the rows of the older
snapshots and scored (Brier) on the newest snapshot's rows; the winner is refitted on every row.

The rows are out-of-fold scores pooled over all training snapshots (`customer_folds`: every row
of a customer in one fold, so no customer's own label reaches their score), not the newest
snapshot alone: one 90-day slice carries its season's buying level (June to August, say),
while the pooled rows average the levels of every window the data holds.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class Calibrator:
    """`method` ("platt" or "isotonic") fitted on raw scores and their labels."""

    def __init__(self, method: str, raw: np.ndarray, labels: np.ndarray):
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        if method not in ("platt", "isotonic"):
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        if method == "isotonic":
            self.model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self.model.fit(raw, labels)
            self.centres_ = _block_centres(np.asarray(raw, dtype=float), self.model)
        else:
            self.model = LogisticRegression().fit(logit(raw)[:, None], labels)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            centres = getattr(self, "centres_", None)  # None: pickled before centring
            if centres is None:
                return self.model.predict(raw)
            return np.interp(np.asarray(raw, dtype=float), *centres)
        return self.model.predict_proba(logit(raw)[:, None])[:, 1]


def _block_centres(raw: np.ndarray, model) -> tuple[np.ndarray, np.ndarray]:
    """Centred isotonic regression (Oron and Flournoy, 2017): one point per constant block of
    the fitted step function, at the block's mean raw score, joined by straight lines. The map
    stays monotone and calibrated but increases strictly between the first and the last block,
    so scores the trees rank apart are no longer tied (ties cost ROC-AUC: two customers in one
    step are ordered at random)."""
    fitted = model.predict(raw)
    order = np.argsort(raw, kind="stable")
    steps = pd.Series(raw[order]).groupby(fitted[order], sort=True).mean()
    return steps.to_numpy(), steps.index.to_numpy(dtype=float)


def choose_calibrator(
    raw: np.ndarray, labels: np.ndarray, newest: np.ndarray, isotonic_min_positives: int
) -> Calibrator:
    """Platt or isotonic, whichever has the lower Brier score on the `newest` rows when fitted on
    the others (ties, and isotonic without `isotonic_min_positives` buyers in the older rows,
    keep Platt); refitted on all rows."""
    raw, labels, newest = np.asarray(raw), np.asarray(labels), np.asarray(newest, dtype=bool)
    older = ~newest
    method = "platt"
    splittable = (np.unique(labels[older]).size == 2 and newest.any()
                  and labels[older].sum() >= isotonic_min_positives)  # fmt: skip
    if splittable:
        brier = {m: float(np.mean((Calibrator(m, raw[older], labels[older])(raw[newest])
                                   - labels[newest]) ** 2))
                 for m in ("platt", "isotonic")}  # fmt: skip
        method = "isotonic" if brier["isotonic"] < brier["platt"] else "platt"
    return Calibrator(method, raw, labels)


def customer_folds(entities: object, folds: int) -> np.ndarray:
    """A fold number in [0, folds) per row, the same for every row of one entity and for any
    order of the rows (CRC-32 of the entity id)."""
    return np.array([zlib.crc32(str(e).encode()) % folds for e in entities], dtype=int)
