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


@pytest.fixture(scope="session")
def resolved_world(tmp_path_factory: pytest.TempPathFactory, small_world: Path) -> Settings:
    """The small world ingested and resolved into its own home: read it, or copy it first."""
    from features.identity.resolve import resolve_profiles
    from features.ingest import ingest_folder

    home_settings = load_settings(home=tmp_path_factory.mktemp("resolved") / "home")
    ingest_folder(home_settings, small_world)
    resolve_profiles(home_settings)
    return home_settings


def copy_home(settings: Settings, folder: Path) -> Settings:
    """Settings of a new home holding copies of `settings`' warehouse and online store."""
    import shutil

    copy = load_settings(home=folder / "home")
    copy.home.mkdir(parents=True, exist_ok=True)
    for path in (settings.warehouse_path, settings.online_store_path):
        if path.exists():
            shutil.copy(path, copy.home / path.name)
    return copy


def insert_rows(settings: Settings, source: str, rows: list[dict]) -> None:
    """Append raw source rows (contract columns) to a warehouse table, as ingest would."""
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for row in rows:
            columns = ", ".join(row)
            marks = ", ".join("?" * len(row))
            con.execute(f"INSERT INTO {source} ({columns}) VALUES ({marks})", list(row.values()))
    finally:
        con.close()


def restitch(settings: Settings) -> None:
    """Re-run cross-device stitching over the warehouse, as `cdp resolve` does."""
    import duckdb

    from features.identity.stitching import stitch_devices

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        links, _ = stitch_devices(con)
        con.register("links_now", links)
        con.execute("CREATE OR REPLACE TABLE anonymous_links AS SELECT * FROM links_now")
    finally:
        con.close()


def plain(value: object) -> object:
    """A DataFrame cell as the online store returns it: missing as None."""
    import pandas as pd

    return None if value is None or pd.isna(value) else value


def differences(online: dict, offline: dict) -> dict[str, tuple]:
    """Features whose values differ (exactly) between an online and an offline row."""
    return {
        name: (online.get(name), plain(value))
        for name, value in offline.items()
        if online.get(name) != plain(value)
    }
