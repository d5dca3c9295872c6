"""Same config, same bytes; another seed, another world; CSV output is readable and stable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from pydantic import ValidationError

from features.world import WorldConfig, WorldSummary, generate_world


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_identical_bytes(world, tmp_path) -> None:
    again = generate_world(world.config, tmp_path / "again")
    assert isinstance(again, WorldSummary) and again.rows == world.summary.rows
    assert _digests(tmp_path / "again") == _digests(world.path)


def test_another_seed_gives_another_world(world, tmp_path) -> None:
    other = world.config.model_copy(update={"seed": world.config.seed + 1})
    generate_world(other, tmp_path / "other")
    mine, theirs = _digests(world.path), _digests(tmp_path / "other")
    assert mine.keys() == theirs.keys()
    differing = [name for name in mine if mine[name] != theirs[name]]
    assert differing == list(mine)  # every file, manifest included (its seed differs)


def test_csv_output_is_deterministic_and_uses_iso_utc_times(tmp_path) -> None:
    config = WorldConfig(people=300, seed=3)
    first = generate_world(config, tmp_path / "a", file_format="csv")
    generate_world(config, tmp_path / "b", file_format="csv")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert (tmp_path / "a" / "orders.csv").exists()
    assert (tmp_path / "a" / "truth" / "records.parquet").exists()  # truth is always Parquet
    orders = pacsv.read_csv(tmp_path / "a" / "orders.csv")
    assert orders.num_rows == first.rows["orders"]
    raw = (tmp_path / "a" / "web_events.csv").read_text().splitlines()
    assert raw[0].split(",")[-1] == '"at"'
    assert raw[1].rsplit(",", 1)[-1].endswith('Z"') or raw[1].rsplit(",", 1)[-1].endswith("Z")
    assert "T" in raw[1].rsplit(",", 1)[-1]


def test_config_rejects_unknown_fields_and_bad_rates() -> None:
    with pytest.raises(ValidationError):
        WorldConfig(people=10, typo_rate=0.1)
    with pytest.raises(ValidationError):
        WorldConfig(people=10, name_typo_rate=1.5)
    with pytest.raises(ValidationError):
        WorldConfig(people=10, start="2025-01-01", end="2025-01-10")


def test_tiny_worlds_still_generate(tmp_path) -> None:
    summary = generate_world(WorldConfig(people=1, seed=0), tmp_path / "one")
    assert summary.rows["truth/people"] == 1
    summary = generate_world(WorldConfig(people=40, seed=5), tmp_path / "forty")
    assert summary.rows["products"] >= 300
