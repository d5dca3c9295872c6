"""BG/NBD (Fader, Hardie and Lee, 2005): a customer buys at a Poisson rate until they silently
drop out; rates are gamma- and drop-out chances beta-distributed across customers.

Fitted by maximum likelihood on (repeat orders x, days from first to last order t_x, days since
the first order T), it turns RFM into two quantities a tree cannot easily build from the raw
columns: the probability the customer is still active, and the chance of at least one order in
the next `horizon` days. The propensity model uses them as extra inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

ORDERS = "rfm__orders__all"
RECENCY = "rfm__days_since_last_order__all"
TENURE = "tenure__days_since_first_order__all"


def rfm_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (repeat orders), t_x and T in days, from the feature columns (0 when unknown)."""
    orders = frame[ORDERS].fillna(0).to_numpy(dtype=float)
    tenure = frame[TENURE].fillna(0).to_numpy(dtype=float) + 1.0
    recency = frame[RECENCY].fillna(frame[TENURE]).fillna(0).to_numpy(dtype=float)
    x = np.maximum(orders - 1, 0)
    t_x = np.clip(tenure - 1.0 - recency, 0, None)
    return x, t_x, tenure


def _neg_log_likelihood(log_params: np.ndarray, x, t_x, big_t) -> float:
    r, alpha, a, b = np.exp(log_params)
    part = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + big_t)
    a2 = np.where(x > 0, betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b)
                  - (r + x) * np.log(alpha + t_x), -np.inf)  # fmt: skip
    return -float(np.sum(part + np.logaddexp(a1, a2)))


class BgNbd:
    """Fit on RFM feature rows; `transform` adds bgnbd__p_alive and bgnbd__p_buy."""

    def __init__(self, horizon_days: int) -> None:
        self.horizon_days = horizon_days

    def fit(self, frame: pd.DataFrame) -> BgNbd:
        """Maximum likelihood from a neutral start (deterministic)."""
        x, t_x, big_t = rfm_inputs(frame)
        result = minimize(_neg_log_likelihood, np.zeros(4), args=(x, t_x, big_t),
                          method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6,
                                                         "fatol": 1e-6})  # fmt: skip
        self.params_ = np.exp(result.x)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The P(active) and P(at least one order within the horizon | active) columns."""
        r, alpha, a, b = self.params_
        x, t_x, big_t = rfm_inputs(frame)
        odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1)
                        * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0.0)  # fmt: skip
        alive = 1 / (1 + odds)
        # Gamma-Poisson posterior: chance of no order in the horizon while active.
        none = ((alpha + big_t) / (alpha + big_t + self.horizon_days)) ** (r + x)
        return pd.DataFrame({"bgnbd__p_alive": alive, "bgnbd__p_buy": alive * (1 - none)},
                            index=frame.index)  # fmt: skip
