"""The `cdp` command as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

CDP = str(Path(sys.executable).parent / "cdp")
COMMANDS = ["generate", "ingest", "status", "run", "features"]


def cdp(
    *args: str, home: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    full_env.update({"COLUMNS": "200", **(env or {})})
    if home is not None:
        full_env["CDP_HOME"] = str(home)
    return subprocess.run([CDP, *args], capture_output=True, text=True, env=full_env, timeout=300)


def test_help_lists_every_command() -> None:
    result = cdp("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    result = cdp(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_status_of_an_empty_home_is_all_zero(tmp_path) -> None:
    result = cdp("status", "--json", home=tmp_path / "h")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sources"]["shop_customers"] == {"rows": 0, "quarantined": 0}
    assert len(report["sources"]) == 11


@pytest.mark.slow
def test_generate_ingest_status_end_to_end(tmp_path) -> None:
    world, home = tmp_path / "world", tmp_path / "home"
    generated = cdp("generate", "--people", "300", "--out", str(world), "--seed", "3", home=home)
    assert generated.returncode == 0, generated.stderr
    ingested = cdp("ingest", str(world), "--json", home=home)
    assert ingested.returncode == 0, ingested.stderr
    assert all(r["status"] == "loaded" for r in json.loads(ingested.stdout))
    report = json.loads(cdp("status", "--json", home=home).stdout)
    for source, counts in report["sources"].items():
        assert counts["rows"] == pq.ParquetFile(world / f"{source}.parquet").metadata.num_rows
        assert counts["quarantined"] == 0


def test_ingest_failure_exits_nonzero_naming_file_and_column(tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "products.csv").write_text("product_id,name,price\np1,Tent,10\n")
    result = cdp("ingest", str(folder), home=tmp_path / "h")
    assert result.returncode == 3
    assert "products.csv" in result.stderr
    assert "'category'" in result.stderr


def test_bad_setting_exits_2_naming_it(tmp_path) -> None:
    result = cdp("status", home=tmp_path / "h", env={"CDP_PHONE_REGION": "XX"})
    assert result.returncode == 2
    assert "CDP_PHONE_REGION" in result.stderr


def test_missing_input_folder_is_a_clear_error(tmp_path) -> None:
    result = cdp("ingest", str(tmp_path / "nowhere"), home=tmp_path / "h")
    assert result.returncode == 3
    assert "not a folder" in result.stderr


@pytest.mark.slow
def test_run_generates_once_then_reuses_the_world(tmp_path) -> None:
    home = tmp_path / "home"
    first = cdp("run", "--people", "200", "--no-train", "--no-serve", home=home)
    assert first.returncode == 0, first.stderr
    assert "shop_customers" in first.stdout
    manifest = home / "world" / "manifest.json"
    written_at = manifest.stat().st_mtime_ns
    second = cdp("run", "--people", "200", "--no-train", "--no-serve", home=home)
    assert second.returncode == 0, second.stderr
    assert "reusing the generated world" in second.stderr
    assert manifest.stat().st_mtime_ns == written_at
    assert "already loaded" in second.stdout  # same bytes: ingest adds nothing
    other = cdp("run", "--people", "300", "--no-train", "--no-serve", home=home)
    assert other.returncode == 2  # a different world would mix with the loaded one
    assert "--fresh" in other.stderr
    fresh = cdp("run", "--people", "300", "--fresh", "--no-train", "--no-serve", home=home)
    assert fresh.returncode == 0, fresh.stderr
    assert manifest.stat().st_mtime_ns != written_at
    people = json.loads((home / "world" / "manifest.json").read_text())["config"]["people"]
    assert people == 300
    report = json.loads(cdp("status", "--json", home=home).stdout)
    rows = pq.ParquetFile(home / "world" / "shop_customers.parquet").metadata.num_rows
    assert report["sources"]["shop_customers"]["rows"] == rows  # nothing of the old world left
