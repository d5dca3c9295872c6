"""Orchestration: run every stage with its own random stream and write the files.

Each stage draws from a generator spawned from `SeedSequence(seed)` in a fixed order, so a
stage's draws do not depend on how many numbers another stage consumed, and the same config
always produces byte-identical files. Large tables are written as soon as they exist and then
dropped, which keeps peak memory near the largest single table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from features.world.calls import build_calls, render_calls
from features.world.campaigns import build_email_activity, render_email_events
from features.world.catalog import build_catalog
from features.world.clock import build_clock
from features.world.commerce import build_orders, render_orders
from features.world.config import WorldConfig
from features.world.consents import build_consents
from features.world.devices import build_devices
from features.world.events import build_app_events, build_web_events
from features.world.geo import build_geography
from features.world.names import build_name_pools
from features.world.population import build_population
from features.world.records import (
    build_registry,
    render_crm_contacts,
    render_email_subscribers,
    render_shop_customers,
)
from features.world.strings import build_ids, count_id_digits
from features.world.truth import build_anonymous_truth, build_people_truth

FileFormat = Literal["parquet", "csv"]
SOURCE_FILES = (
    "shop_customers", "crm_contacts", "email_subscribers", "orders", "order_lines", "products",
    "web_events", "app_events", "email_events", "call_center_interactions", "consents",
)  # fmt: skip
TRUTH_FILES = ("truth/records", "truth/anonymous", "truth/people")
ROW_GROUP_SIZE = 262_144
# Stage names fix the order of spawned streams; append new stages at the end only.
STAGES = (
    "geography", "catalog", "population", "registry", "devices", "email", "commerce", "web",
    "app", "calls", "consents", "shop", "crm", "subscribers", "orders", "identifiers", "truth",
    "call_file",
)  # fmt: skip


class WorldSummary(BaseModel):
    """What `generate_world` wrote."""

    model_config = ConfigDict(frozen=True)

    out_dir: Path
    file_format: FileFormat
    rows: dict[str, int] = Field(description="Rows per written file, by file stem.")
    seconds: float = Field(description="Wall-clock time of the generation.")


def write_table(table: pa.Table, path: Path, file_format: FileFormat) -> None:
    """Parquet (zstd, fixed row groups, no pandas metadata) or CSV (ISO-8601 UTC times)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "parquet":
        pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_SIZE)
        return
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            millis = column.cast(pa.timestamp("ms", tz="UTC"))
            column = pc.strftime(millis, format="%Y-%m-%dT%H:%M:%SZ")
        columns.append(column)
    pacsv.write_csv(pa.table(columns, names=table.column_names), path)


def generate_world(
    config: WorldConfig, out_dir: Path, file_format: FileFormat = "parquet"
) -> WorldSummary:
    """Generate a world into `out_dir`: the source files, truth/ and manifest.json."""
    began = time.perf_counter()
    cfg = config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(cfg.seed).spawn(len(STAGES))
    rng = {name: np.random.default_rng(seed) for name, seed in zip(STAGES, seeds, strict=True)}
    rows: dict[str, int] = {}

    def write(name: str, table: pa.Table, fmt: FileFormat = file_format) -> None:
        write_table(table, out_dir / f"{name}.{fmt}", fmt)
        rows[name] = table.num_rows
        # Arrow's allocator keeps freed blocks for reuse; hand them back between stages so
        # the process peak is one stage's working set, not the sum of them.
        pa.default_memory_pool().release_unused()

    clock = build_clock(cfg.start, cfg.end, cfg.first_seen_lookback_days)
    geo = build_geography(rng["geography"])
    pools = build_name_pools()
    catalog = build_catalog(cfg.people, clock.horizon, clock.start_us, rng["catalog"])
    pop = build_population(cfg, clock, geo, pools, catalog, rng["population"])
    pa.default_memory_pool().release_unused()
    person_ids = build_ids("psn_", np.arange(1, pop.size + 1), count_id_digits(pop.size))
    registry = build_registry(cfg, clock, pop, rng["registry"])
    devices = build_devices(cfg, clock, pop, rng["devices"])
    email = build_email_activity(cfg, clock, pop, catalog, registry, rng["email"])
    orders = build_orders(cfg, clock, pop, catalog, registry, devices, email, rng["commerce"])
    calls, registry = build_calls(cfg, clock, pop, registry, orders, rng["calls"])
    cookie_ids, device_ids, install_ids = devices.identifiers(rng["identifiers"])

    truth_records = []
    write("products", catalog.table)
    table, truth = render_shop_customers(
        cfg, clock, geo, pools, pop, registry, person_ids, rng["shop"]
    )
    write("shop_customers", table)
    truth_records.append(truth)
    table, truth = render_crm_contacts(
        cfg, clock, geo, pools, pop, registry, person_ids, rng["crm"]
    )
    write("crm_contacts", table)
    truth_records.append(truth)
    table, truth = render_email_subscribers(
        cfg,
        clock,
        geo,
        pools,
        pop,
        registry,
        email.status(clock.horizon),
        person_ids,
        rng["subscribers"],
    )
    write("email_subscribers", table)
    truth_records.append(truth)
    table, lines, truth = render_orders(
        cfg, clock, geo, pools, pop, registry, catalog, orders, person_ids, rng["orders"]
    )
    write("orders", table)
    write("order_lines", lines)
    truth_records.append(truth)
    del table, lines, truth
    write("email_events", render_email_events(clock, catalog, registry, email))
    write(
        "call_center_interactions", render_calls(clock, registry, orders, calls, rng["call_file"])
    )

    table, web = build_web_events(
        cfg, clock, pop, catalog, registry, devices, orders, email, cookie_ids, rng["web"]
    )
    write("web_events", table)
    del table
    table, app = build_app_events(
        cfg, clock, pop, catalog, registry, devices, orders, device_ids, install_ids, rng["app"]
    )
    write("app_events", table)
    del table
    consents = build_consents(
        cfg, clock, pop, registry, email, web, cookie_ids, calls, rng["consents"]
    )
    write("consents", consents)
    anonymous = build_anonymous_truth([web.pairs, app.pairs], person_ids)
    del web, app, consents

    write("truth/records", pa.concat_tables(truth_records), "parquet")
    write("truth/anonymous", anonymous, "parquet")
    people = build_people_truth(cfg, clock, geo, pools, catalog, pop, person_ids, rng["truth"])
    write("truth/people", people, "parquet")
    manifest = {
        "generator": "cdp-engine synthetic world",
        "format": file_format,
        "config": cfg.model_dump(mode="json"),
        "files": {name: rows[name] for name in (*SOURCE_FILES, *TRUTH_FILES)},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return WorldSummary(
        out_dir=out_dir,
        file_format=file_format,
        rows=manifest["files"],
        seconds=round(time.perf_counter() - began, 3),
    )
