"""The two models as MLflow pyfunc models: one pickled artifact each holds the whole inference
path (candidates + ranker; BG/NBD + boosters + calibrators), so a service loads one thing."""

from __future__ import annotations

import pickle

import mlflow.pyfunc
import pandas as pd


class RankerModel(mlflow.pyfunc.PythonModel):
    """Input: a frame whose first column holds customer (profile) ids; params: k.
    Output: entity_id, rank, product_id, score, reasons."""

    def load_context(self, context) -> None:
        """Unpickle the fitted training.ranker.NextBestProduct."""
        with open(context.artifacts["model"], "rb") as handle:
            self.model = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        """Top-k products per customer with reasons."""
        k = int((params or {}).get("k") or self.model.k)
        entities = model_input.iloc[:, 0].astype(str).tolist()
        return self.model.recommend(entities, k)


class PropensityModel(mlflow.pyfunc.PythonModel):
    """Input: the features of features/ (one row per customer). Output: one calibrated
    probability column per target (`any`, `purchase_<category>`)."""

    def load_context(self, context) -> None:
        """Unpickle the fitted training.propensity.Propensity."""
        with open(context.artifacts["model"], "rb") as handle:
            self.model = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        """Calibrated probabilities."""
        return self.model.predict(model_input).reset_index(drop=True)
