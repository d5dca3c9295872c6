"""`cdp features ...` as a user runs it: real processes, files and exit codes."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.conftest import copy_home
from tests.serving.test_cli import cdp


@pytest.fixture(scope="module")
def home(resolved_world, tmp_path_factory):
    return copy_home(resolved_world, tmp_path_factory.mktemp("cli")).home


@pytest.mark.slow
def test_build_materialize_show(home, tmp_path) -> None:
    out = tmp_path / "features.parquet"
    built = cdp("features", "build", "--as-of", "2025-11-01", "--out", str(out), home=home)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    table = pq.read_table(out)
    assert report["rows"] == table.num_rows > 1_000
    assert table.column_names[0] == "profile_id" and report["features"] == table.num_columns - 1
    stored = cdp("features", "materialize", "--as-of", "2025-11-01", home=home)
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["profiles"] == table.num_rows
    profile = table.column("profile_id")[0].as_py()
    shown = cdp("features", "show", profile, "--at", "2025-11-01", "--json", "--owned", home=home)
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["served_from"] == "store"
    row = table.slice(0, 1).to_pylist()[0]
    assert {k: result["features"][k] for k in row if k != "profile_id"} == {
        k: v for k, v in row.items() if k != "profile_id"
    }
    assert "owned_products" in result


def test_bad_moments_and_unknown_profiles_are_clear(home) -> None:
    bad = cdp("features", "build", "--as-of", "someday", home=home)
    assert bad.returncode == 2 and "--as-of" in bad.stderr
    missing = cdp("features", "show", "prf_nobody", "--json", home=home)
    assert missing.returncode in (4, 5)  # no such profile, or no store yet


def test_features_of_a_transactions_file(settings, tmp_path) -> None:
    from tests.features.test_offline import PRODUCTS, ROLES, TRANSACTIONS

    (tmp_path / "tx.csv").write_text(TRANSACTIONS)
    (tmp_path / "products.csv").write_text(PRODUCTS)
    out = tmp_path / "f.csv"
    result = cdp("features", "build", "--as-of", "2011-03-15", "--transactions",
                 str(tmp_path / "tx.csv"), "--map", ROLES, "--products",
                 str(tmp_path / "products.csv"), "--map-products",
                 "product_id=StockCode,category=Cat", "--out", str(out),
                 home=tmp_path / "h")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["entity"] == "customer_id" and report["rows"] == 2
    assert report["left_out_by_reason"] == {"no customer": 1, "bad quantity": 1, "bad price": 1}
    assert out.read_text().splitlines()[0].startswith('"customer_id"')
    no_map = cdp("features", "build", "--as-of", "2011-03-15", "--transactions",
                 str(tmp_path / "tx.csv"), home=tmp_path / "h")  # fmt: skip
    assert no_map.returncode == 2 and "--map" in no_map.stderr
