"""Propensity scores of the online store's profiles, kept in its `propensity_scores` table.

`score_profiles` scores every profile (a batch: after materialising, after promoting a model,
and daily, since every stored feature row expires at the next UTC midnight) or only some (the
service re-scores the profiles an applied event touched, so audiences follow the store in real
time). Features come from the online store at the scoring moment
(features.online.bulk.load_online_features: stored rows while exact, expired ones recomputed in
one statement), so a score equals the champion's prediction on the offline features of that
moment.

One table never mixes model versions: re-scoring some profiles with a model other than the one
the table was scored with re-scores every profile.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from features.event_log import from_us, to_us
from features.online.bulk import load_online_features
from features.online.store import OnlineStore, borrowed_store, now_us
from features.settings import Settings
from serving.activation.tables import prepare_store

log = logging.getLogger("cdp.activation")
MODEL_NAME = "propensity"


@dataclass
class ScoreReport:
    """What one scoring run did."""

    model_version: str
    scored_at: datetime
    profiles: int
    targets: list[str]
    rows: int
    all_profiles: bool
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return {**asdict(self), "scored_at": self.scored_at.isoformat()}


def load_propensity(settings: Settings) -> tuple[object, str]:
    """The champion propensity model and its version (NotFoundError when there is none)."""
    from training.tracking import load_champion

    return load_champion(settings, MODEL_NAME)


def score_profiles(
    settings: Settings,
    *,
    model: object | None = None,
    model_version: str | None = None,
    profile_ids: Iterable[str] | None = None,
    at: object | None = None,
    store: OnlineStore | None = None,
) -> ScoreReport:
    """Score every profile (or `profile_ids`) at `at` (default now) and store the scores.

    `model`/`model_version`: a fitted training.propensity.Propensity and its registry version
    (default: the champion, loaded from MLflow; the service passes the one it holds). `store`:
    an open OnlineStore to use (default: one opened and closed here). Scores of profiles asked
    for that have no history any more are deleted.
    """
    if model is None:
        model, model_version = load_propensity(settings)
    if model_version is None:
        raise ValueError("model_version is required with model")
    with borrowed_store(settings, store) as store:
        return _score(store, model, str(model_version), profile_ids, at)


def _score(store: OnlineStore, model, version: str, profile_ids, at) -> ScoreReport:
    started = time.perf_counter()
    con = prepare_store(store)
    at_us = now_us() if at is None else to_us(at)
    ids = None if profile_ids is None else sorted({str(p) for p in profile_ids})
    if ids is not None:
        held = read_scored_version(con)
        if held is not None and held != version:
            log.info("scores are of model v%s, not v%s: scoring every profile", held, version)
            ids = None
    features = load_online_features(store, from_us(at_us), ids)
    scores = predict_scores(model, features)
    targets = list(scores.columns)
    profiles = features["entity_id"].to_numpy(dtype=object)
    rows = [
        (target, profile, float(score), version, at_us)
        for target in targets
        for profile, score in zip(profiles, scores[target].to_numpy(), strict=True)
    ]
    with con:
        if ids is None:
            con.execute("DELETE FROM propensity_scores")
        else:
            con.execute(
                "DELETE FROM propensity_scores WHERE profile_id IN "
                "(SELECT entity_id FROM temp.wanted)"
            )
        con.executemany("INSERT INTO propensity_scores VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("INSERT OR REPLACE INTO propensity_meta VALUES ('model_version', ?)",
                    (version,))  # fmt: skip
    report = ScoreReport(version, from_us(at_us), len(profiles), targets, len(rows), ids is None,
                         round(time.perf_counter() - started, 3))  # fmt: skip
    log.info("scored %d profiles x %d targets with v%s", report.profiles, len(targets), version)
    return report


def read_scored_version(con: sqlite3.Connection) -> str | None:
    """The model version every stored score is of (None before the first scoring)."""
    row = con.execute("SELECT value FROM propensity_meta WHERE key = 'model_version'").fetchone()
    return None if row is None else row[0]


def predict_scores(model, features: pd.DataFrame) -> pd.DataFrame:
    """One calibrated probability column per target, rows aligned with `features`.

    Online rows hold Python ints, floats and None; the model reads floats (None as NaN),
    exactly what the offline frame gives it.
    """
    if features.empty:
        return pd.DataFrame({t: np.array([], dtype=float) for t in model.targets_})
    inputs = [c for c in model.feature_names_ if c in features.columns]
    frame = features[inputs].astype("float64")
    return model.predict(frame).reset_index(drop=True)
