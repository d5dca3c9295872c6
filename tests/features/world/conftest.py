"""One small generated world shared by the world tests, and readers of its files."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.world import WorldConfig, generate_world

WORLD_PEOPLE = 3_000
WORLD_SEED = 7


class World:
    """A generated world on disk, with its files as pandas frames (read once)."""

    def __init__(self, path: Path, config: WorldConfig, summary) -> None:
        self.path = path
        self.config = config
        self.summary = summary
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = pq.read_table(self.path / f"{name}.parquet").to_pandas()
        return self._frames[name]

    @cached_property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.config.start, tz="UTC")

    @cached_property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.config.end, tz="UTC")

    @cached_property
    def people(self) -> pd.DataFrame:
        return self["truth/people"].set_index("person_id")

    def owner(self, source: str) -> pd.Series:
        """record_id -> person_id of one source, from truth/records."""
        truth = self["truth/records"]
        part = truth[truth["source"] == source]
        return part.set_index("record_id")["person_id"]

    @cached_property
    def order_person(self) -> pd.Series:
        """order_id -> person_id for every order (account orders through the account)."""
        orders = self["orders"]
        account = orders["customer_id"].map(self.owner("shop_customers"))
        guest = orders["order_id"].map(self.owner("orders"))
        return pd.Series(account.fillna(guest).to_numpy(), index=orders["order_id"])

    @cached_property
    def line_facts(self) -> pd.DataFrame:
        """Order lines with the order time, buyer and product category."""
        lines = self["order_lines"].merge(self["orders"][["order_id", "ordered_at"]], on="order_id")
        lines["person_id"] = lines["order_id"].map(self.order_person)
        category = self["products"].set_index("product_id")["category"]
        lines["category"] = lines["product_id"].map(category)
        return lines


@pytest.fixture(scope="session")
def world_config() -> WorldConfig:
    return WorldConfig(people=WORLD_PEOPLE, seed=WORLD_SEED)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, world_config: WorldConfig) -> World:
    path = tmp_path_factory.mktemp("world")
    summary = generate_world(world_config, path)
    return World(path, world_config, summary)
