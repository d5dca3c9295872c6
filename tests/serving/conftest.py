"""Fixtures of the serving tests: the model tests' (shared with the CLI tests), and one home
ready for the service and activation: the small world resolved, its online store materialised
at AT, both models trained and promoted to champion, and every profile scored at AT."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from features.settings import Settings, load_settings
from tests.serving.activation.truth import open_truth
from tests.training.conftest import small_config, transactions_file  # noqa: F401

AT = "2025-12-01T00:00:00"
# Small but real: the same code path as `cdp train`, a few seconds of boosting.
MODELS = {
    "ranker": {"snapshots": 2, "lightgbm": {"max_trees": 30}},
    "propensity": {"horizon_days": 60, "snapshots": 3, "every_days": 20,
                   "lightgbm": {"max_trees": 200}},
}  # fmt: skip


@pytest.fixture(scope="session")
def activation_home(resolved_world, tmp_path_factory) -> Settings:
    """Read it, or clone() it first: tests that record exports or apply events change it."""
    from features.online.materialize import materialize
    from serving.activation.scores import score_profiles
    from tests.conftest import copy_home
    from training.config import ModelsConfig
    from training.tracking import promote
    from training.train import train_warehouse

    settings = copy_home(resolved_world, tmp_path_factory.mktemp("activation"))
    materialize(settings, AT)
    train_warehouse(settings, ModelsConfig(**MODELS))
    for name in ("nbo_ranker", "propensity"):
        promote(settings, name)
    report = score_profiles(settings, at=AT)
    assert report.profiles > 1_000 and report.all_profiles
    return settings


@pytest.fixture(scope="session")
def champion(activation_home) -> tuple[object, str]:
    """The champion propensity model and its version, loaded once."""
    from serving.activation.scores import load_propensity

    return load_propensity(activation_home)


def clone(settings: Settings, folder: Path) -> Settings:
    """Settings of a copy of the whole home (stores, activation file, MLflow)."""
    target = folder / "home"
    shutil.copytree(settings.home, target)
    return load_settings(home=target)


@pytest.fixture
def home(activation_home, tmp_path) -> Settings:
    """A private copy of the activation home."""
    return clone(activation_home, tmp_path)


@pytest.fixture(scope="session")
def truth(activation_home, small_world):
    """DuckDB over the generator's truth and the home's warehouse (tests/serving/activation/
    truth.py)."""
    con = open_truth(small_world, activation_home.warehouse_path)
    yield con
    con.close()


@pytest.fixture(scope="session")
def popular_product(activation_home) -> str:
    """The product with the most purchase lines: many buyers to suppress."""
    from features.online.store import OnlineStore

    with OnlineStore(activation_home) as store:
        return store.con.execute(
            "SELECT product_id FROM log_purchases WHERE quantity > 0 GROUP BY product_id "
            "ORDER BY COUNT(*) DESC, product_id LIMIT 1"
        ).fetchone()[0]


@pytest.fixture(scope="session")
def served_home(activation_home: Settings) -> Settings:
    """Everything the service loads (the activation home). Read it, or clone() it first."""
    return activation_home


@pytest.fixture(scope="module")
def service(served_home: Settings, tmp_path_factory: pytest.TempPathFactory):
    """(client, keys by role, state): the service's app in-process over a clone of the served
    home, loaded, with one key per role."""
    from fastapi.testclient import TestClient

    from serving.api import build_api
    from serving.keys import add_key
    from serving.state import ServingState

    settings = clone(served_home, tmp_path_factory.mktemp("service"))
    state = ServingState(settings).start(background=False)
    api = build_api()
    api.state.cdp = state
    keys = {role: add_key(settings, role, f"test-{role}")[1]
            for role in ("agent", "marketer", "admin")}  # fmt: skip
    with TestClient(api) as client:
        yield client, keys, state
