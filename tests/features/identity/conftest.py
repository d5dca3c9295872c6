"""A generated world, resolved once for the identity tests that read it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from features.ingest import ingest_folder
from features.settings import load_settings

CDP = str(Path(sys.executable).parent / "cdp")
JUNK = (
    "customer_id,email,first_name,last_name,phone,created_at\n"
    "junk_1,test@test.com,Zelda,Quartermaine,0000000000,2024-02-01T00:00:00Z\n"
    "junk_2,test@test.com,Brutus,Oyelaran,0000000000,2024-02-01T00:00:00Z\n"
    "junk_3,noemail@example.com,Ximena,Vanderpool,1111111111,2024-02-01T00:00:00Z\n"
)
LONER = "contact_id,first_name,created_at\nlone_1,Prudence,2024-02-01T00:00:00Z\n"


@pytest.fixture(scope="package")
def resolved(tmp_path_factory, small_world):
    home = tmp_path_factory.mktemp("resolve") / "home"
    extra = tmp_path_factory.mktemp("extra")
    (extra / "shop_customers.csv").write_text(JUNK)
    (extra / "crm_contacts.csv").write_text(LONER)
    customers = pq.read_table(small_world / "shop_customers.parquet", columns=["customer_id"])
    fifty = customers.column("customer_id").to_pylist()[:50]
    header = "event_id,anonymous_id,device_id,user_id,type,product_id,platform,at\n"
    shared = "".join(
        f"atk_{i},inst_{i},attack_tablet,{c},identify,,ios,2025-03-01T10:00:00Z\n"
        for i, c in enumerate(fifty)
    )
    junk = (
        f"atk_z1,inst_z,dev_zero,0,identify,,ios,2025-03-01T10:00:00Z\n"
        f"atk_z2,inst_z2,dev_zero2,{fifty[0]},page_view,,ios,2025-03-01T10:00:00Z\n"
        f"atk_z3,null,dev_zero2,{fifty[1]},identify,,android,2025-03-01T10:00:00Z\n"
    )
    truth = pq.read_table(small_world / "truth" / "records.parquet").to_pandas()
    shop = truth[truth["source"] == "shop_customers"]
    twice = shop.groupby("person_id")["record_id"].agg(list)
    a, b = sorted(twice[twice.str.len() == 2].iloc[0])  # one person, two shop accounts
    dup = (
        f"atk_d1,inst_d1,dup_device,{a},identify,,ios,2025-03-01T10:00:00Z\n"
        f"atk_d2,inst_d2,dup_device,{b},identify,,ios,2025-03-02T10:00:00Z\n"
    )
    (extra / "app_events.csv").write_text(header + shared + junk + dup)
    settings = load_settings(home=home)
    ingest_folder(settings, small_world)
    ingest_folder(settings, extra)
    first = subprocess.run([CDP, "--home", str(home), "resolve", "--json"],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stderr
    return home, json.loads(first.stdout)


def query_warehouse(home: Path, sql: str) -> list[tuple]:
    """Rows of `sql` on the warehouse of `home`, read-only."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
