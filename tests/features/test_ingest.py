"""Ingest: accounting, quarantine, idempotency, atomicity, upserts and replays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.ingest import ingest_folder
from features.settings import Settings, load_settings
from features.warehouse import read_status, warehouse

CUSTOMERS_HEADER = "customer_id,email,first_name,last_name,phone,created_at"


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(settings: Settings, sql: str) -> list[tuple]:
    with warehouse(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def _by_source(results):
    return {r.source: r for r in results}


def test_rows_in_equals_loaded_plus_quarantined_with_reasons(settings, tmp_path) -> None:
    _write(
        tmp_path / "in",
        "shop_customers.csv",
        f"{CUSTOMERS_HEADER}\n"
        "c1,a@example.com,Ann,Lee,2125550134,2024-01-01T00:00:00Z\n"
        "c2,broken-email,Bob,Ray,,2024-01-01T00:00:00Z\n"
        "c3,c@example.com,Cy,Dee,,not-a-date\n"
        "c1,again@example.com,Ann,Lee,,2024-01-02T00:00:00Z\n"
        "c4,d@example.com,Di,Eve,,2024-01-03T00:00:00Z\n",
    )
    result = ingest_folder(settings, tmp_path / "in")[0]
    assert (result.status, result.rows_in, result.rows_loaded, result.rows_quarantined) == (
        "loaded", 5, 2, 3,
    )  # fmt: skip
    quarantined = _rows(settings, "SELECT row_number, reason, record FROM quarantine ORDER BY 1")
    assert [r[0] for r in quarantined] == [2, 3, 4]
    assert "email: must look like an email" in quarantined[0][1]
    assert json.loads(quarantined[0][2])["email"] == "broken-email"  # raw value kept, nothing lost
    assert "duplicate customer_id within file; row 1 kept" in quarantined[2][1]
    assert _rows(settings, "SELECT customer_id FROM shop_customers ORDER BY 1") == [
        ("c1",),
        ("c4",),
    ]
    assert read_status(settings)["sources"]["shop_customers"] == {"rows": 2, "quarantined": 3}


def test_generated_world_is_accepted_whole_and_accounted(ingested_world, small_world) -> None:
    settings, results = ingested_world
    by_source = _by_source(results)
    status = read_status(settings)["sources"]
    for source, counts in status.items():
        file_rows = pq.ParquetFile(small_world / f"{source}.parquet").metadata.num_rows
        result = by_source[source]
        assert result.status == "loaded", result.message
        assert result.rows_in == file_rows == result.rows_loaded + result.rows_quarantined
        assert result.rows_quarantined == 0, f"{source}: generated data breaks its contract"
        assert counts["rows"] == file_rows


def test_loading_the_same_files_again_adds_nothing(ingested_world, small_world) -> None:
    settings, _ = ingested_world
    before = read_status(settings)
    again = ingest_folder(settings, small_world)
    assert {r.status for r in again} == {"skipped"}
    assert read_status(settings)["sources"] == before["sources"]


def test_same_rows_in_new_bytes_add_nothing(settings, tmp_path, small_world) -> None:
    ingest_folder(settings, small_world)
    before = read_status(settings)["sources"]
    copy = tmp_path / "reexport"
    copy.mkdir()
    for source in ("shop_customers", "web_events"):
        table = pq.read_table(small_world / f"{source}.parquet")
        pq.write_table(
            table.take(list(reversed(range(table.num_rows)))), copy / f"{source}.parquet"
        )
    results = _by_source(ingest_folder(settings, copy))
    assert results["shop_customers"].status == "loaded"
    assert results["shop_customers"].rows_inserted == 0
    assert results["web_events"].rows_inserted == 0
    assert read_status(settings)["sources"] == before


def test_missing_required_column_fails_that_file_only(settings, tmp_path, small_world) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("orders", "products"):
        shutil.copy(small_world / f"{name}.parquet", folder)
    table = pq.read_table(folder / "orders.parquet").drop_columns(["ordered_at"])
    pq.write_table(table, folder / "orders.parquet")
    results = _by_source(ingest_folder(settings, folder))
    assert results["orders"].status == "failed"
    assert "orders.parquet" in results["orders"].message
    assert "'ordered_at'" in results["orders"].message
    assert results["products"].status == "loaded"
    assert _rows(settings, "SELECT COUNT(*) FROM orders") == [(0,)]
    failed = _rows(settings, "SELECT status, message FROM ingest_log WHERE source = 'orders'")
    assert failed[0][0] == "failed" and "ordered_at" in failed[0][1]


def test_a_file_that_breaks_midway_lands_not_at_all(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", ingest_chunk_rows=1_000)
    good = "".join(f"c{i},u{i}@example.com,A,B,,2024-01-01T00:00:00Z\n" for i in range(5_000))
    _write(tmp_path / "in", "shop_customers.csv", f"{CUSTOMERS_HEADER}\n{good}c9,x,y\n")
    result = ingest_folder(settings, tmp_path / "in")[0]
    assert result.status == "failed"
    assert "cannot parse CSV" in result.message
    assert _rows(settings, "SELECT COUNT(*) FROM shop_customers") == [(0,)]
    assert _rows(settings, "SELECT COUNT(*) FROM quarantine") == [(0,)]


def test_empty_and_header_only_files_fail_clearly(settings, tmp_path) -> None:
    _write(tmp_path / "in", "products.csv", "")
    _write(
        tmp_path / "in", "crm_contacts.csv", "contact_id,first_name,last_name,phone,created_at\n"
    )
    results = _by_source(ingest_folder(settings, tmp_path / "in"))
    assert "file is empty" in results["products"].message
    assert "no data rows" in results["crm_contacts"].message


def test_unknown_file_names_are_skipped_not_fatal(settings, tmp_path) -> None:
    _write(tmp_path / "in", "shoppers.csv", "a,b\n1,2\n")
    [result] = ingest_folder(settings, tmp_path / "in")
    assert result.status == "skipped"
    assert "no contract" in result.message


def test_entities_upsert_newest_file_wins(settings, tmp_path) -> None:
    row = "c1,{email},Ann,Lee,,2024-01-01T00:00:00Z\n"
    _write(
        tmp_path / "v1", "shop_customers.csv", CUSTOMERS_HEADER + "\n" + row.format(email="a@x.com")
    )
    _write(
        tmp_path / "v2", "shop_customers.csv", CUSTOMERS_HEADER + "\n" + row.format(email="b@x.com")
    )
    ingest_folder(settings, tmp_path / "v1")
    [second] = ingest_folder(settings, tmp_path / "v2")
    assert (second.rows_loaded, second.rows_inserted) == (1, 0)
    assert _rows(settings, "SELECT customer_id, email FROM shop_customers") == [("c1", "b@x.com")]


def test_replayed_events_change_nothing_and_at_alias_is_accepted(settings, tmp_path) -> None:
    header = "event_id,anonymous_id,user_id,type,product_id,at\n"
    first = "e1,a1,,page_view,,2024-01-01T00:00:00Z\ne2,a1,,page_view,,2024-01-01T00:01:00Z\n"
    changed = "e2,a2,,page_view,,2024-02-01T00:00:00Z\ne3,a1,,page_view,,2024-01-01T00:02:00Z\n"
    _write(tmp_path / "v1", "web_events.csv", header + first)
    _write(tmp_path / "v2", "web_events.csv", header + changed)
    ingest_folder(settings, tmp_path / "v1")
    [second] = ingest_folder(settings, tmp_path / "v2")
    assert (second.rows_loaded, second.rows_inserted) == (2, 1)
    rows = _rows(settings, "SELECT event_id, anonymous_id FROM web_events ORDER BY 1")
    assert rows == [("e1", "a1"), ("e2", "a1"), ("e3", "a1")]  # e2's replay did not overwrite


def test_naive_timestamps_read_in_the_source_timezone(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", source_timezone="America/New_York")
    _write(
        tmp_path / "in",
        "shop_customers.csv",
        f"{CUSTOMERS_HEADER}\nc1,a@x.com,A,B,,2024-07-01 08:00:00\n",
    )
    ingest_folder(settings, tmp_path / "in")
    [(created,)] = _rows(settings, "SELECT CAST(created_at AS VARCHAR) FROM shop_customers")
    assert created.startswith("2024-07-01 12:00:00")


def test_parquet_and_csv_of_the_same_rows_load_the_same(tmp_path, small_world) -> None:
    table = pq.read_table(small_world / "crm_contacts.parquet")
    for kind in ("parquet", "csv"):
        folder = tmp_path / kind
        folder.mkdir()
        if kind == "parquet":
            pq.write_table(table, folder / "crm_contacts.parquet")
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, folder / "crm_contacts.csv")
    homes = {}
    for kind in ("parquet", "csv"):
        settings = load_settings(home=tmp_path / f"home_{kind}")
        [result] = ingest_folder(settings, tmp_path / kind)
        assert result.rows_quarantined == 0, result
        homes[kind] = _rows(settings, "SELECT * EXCLUDE (_load_id) FROM crm_contacts ORDER BY 1")
    assert homes["parquet"] == homes["csv"]


def test_two_homes_never_interfere(tmp_path) -> None:
    a = load_settings(home=tmp_path / "a")
    b = load_settings(home=tmp_path / "b")
    _write(tmp_path / "in", "products.csv", "product_id,name,category,price\np1,Tent,tents,10\n")
    ingest_folder(a, tmp_path / "in")
    assert read_status(a)["sources"]["products"]["rows"] == 1
    assert read_status(b)["sources"]["products"]["rows"] == 0
    assert not b.warehouse_path.exists()


@pytest.mark.parametrize("bad", ["ZZ", "Mars/Olympus"])
def test_bad_settings_name_the_setting(tmp_path, bad) -> None:
    from features.errors import ConfigError

    key = "phone_region" if bad == "ZZ" else "source_timezone"
    with pytest.raises(ConfigError, match=f"CDP_{key.upper()}"):
        load_settings(home=tmp_path, **{key: bad})


def test_settings_come_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "envhome"))
    monkeypatch.setenv("CDP_SEED", "7")
    settings = load_settings()
    assert settings.home == tmp_path / "envhome"
    assert settings.seed == 7
    assert load_settings(seed=9).seed == 9  # flags win over the environment


def test_arrow_typed_columns_keep_their_values(settings, tmp_path) -> None:
    table = pa.table(
        {
            "product_id": ["p1"],
            "name": ["Tent"],
            "category": ["tents"],
            "price": pa.array([199.5], pa.float64()),
            "created_at": pa.array([1_700_000_000_000_000], pa.timestamp("us", tz="Europe/Paris")),
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "products.parquet")
    ingest_folder(settings, tmp_path / "in")
    [(price, created)] = _rows(settings, "SELECT price, CAST(created_at AS VARCHAR) FROM products")
    assert price == 199.5
    assert created.startswith("2023-11-14 22:13:20")  # the UTC instant, not Paris wall time
