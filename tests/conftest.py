"""Shared fixtures: isolated CDP homes and one small generated world per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.settings import Settings, load_settings

SMALL_WORLD_PEOPLE = 2_000
SMALL_WORLD_SEED = 11


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose home is a fresh folder of this test only."""
    return load_settings(home=tmp_path / "home")


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world (Parquet) shared by the tests that only read it."""
    from features.world import WorldConfig, generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(people=SMALL_WORLD_PEOPLE, seed=SMALL_WORLD_SEED), out)
    return out


@pytest.fixture(scope="session")
def ingested_world(tmp_path_factory: pytest.TempPathFactory, small_world: Path):
    """The small world loaded into its own home; returns (settings, ingest results)."""
    from features.ingest import ingest_folder

    home_settings = load_settings(home=tmp_path_factory.mktemp("ingested") / "home")
    results = ingest_folder(home_settings, small_world)
    return home_settings, results
