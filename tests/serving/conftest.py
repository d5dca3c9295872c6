"""Fixtures the CLI tests share with the model tests."""

import pytest

from features.settings import Settings
from tests.training.conftest import small_config, transactions_file  # noqa: F401

# Small enough to train in seconds, good enough to rank above the baselines.
SERVE_CONFIG = {
    "ranker": {"snapshots": 2, "lightgbm": {"max_trees": 60}},
    "propensity": {"horizon_days": 60, "snapshots": 3, "every_days": 20,
                   "lightgbm": {"max_trees": 150}},
}  # fmt: skip


@pytest.fixture(scope="session")
def served_home(resolved_world: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The small resolved world, materialised, with champion models: everything the service
    loads. Read it, or copy it (tests.conftest.copy_home) before changing it."""
    from features.online.materialize import materialize
    from tests.conftest import copy_home
    from training.config import ModelsConfig
    from training.tracking import promote
    from training.train import train_warehouse

    settings = copy_home(resolved_world, tmp_path_factory.mktemp("served"))
    materialize(settings)
    train_warehouse(settings, ModelsConfig(**SERVE_CONFIG))
    for name in ("nbo_ranker", "propensity"):
        promote(settings, name)
    return settings


@pytest.fixture(scope="module")
def service(served_home: Settings, tmp_path_factory: pytest.TempPathFactory):
    """(client, keys by role, state): the service's app in-process over a copy of the served
    home, loaded, with one key per role."""
    import shutil

    from fastapi.testclient import TestClient

    from serving.api import build_api
    from serving.keys import add_key
    from serving.state import ServingState
    from tests.conftest import copy_home

    settings = copy_home(served_home, tmp_path_factory.mktemp("service"))
    # The registry too (its artifact paths still point at the original home, read-only).
    shutil.copy(served_home.home / "mlflow.db", settings.home / "mlflow.db")
    state = ServingState(settings).start(background=False)
    api = build_api()
    api.state.cdp = state
    keys = {role: add_key(settings, role, f"test-{role}")[1]
            for role in ("agent", "marketer", "admin")}  # fmt: skip
    with TestClient(api) as client:
        yield client, keys, state
