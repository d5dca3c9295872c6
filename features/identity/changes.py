"""What changed since the last resolve run: the run to build on, and the records to re-link.

Used by `cdp resolve --incremental` (features.identity.incremental). Creates the temp tables
the run works from: inc_current (key, digest of the records loaded since), inc_changed (key,
is_new, profile_id), inc_removed, inc_loose (every record to re-link, with the profile id it
had: NULL if new or detached) and inc_excluded (the pool records that take no part in scoring:
re-linked or removed).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from features.identity.collect import KEYS_SQL, changed_digests_sql
from features.identity.link_new import POOL


def read_base_run(con: duckdb.DuckDBPyConnection) -> tuple[dict | None, str]:
    """(the last full run's report with the last run's watermark, '') or (None, why not)."""
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if not {"identity_runs", POOL} <= tables:
        return None, "no previous run"
    reports = [json.loads(r) for (r,) in con.execute(
        "SELECT report FROM identity_runs WHERE report IS NOT NULL ORDER BY run_id DESC"
    ).fetchall()]  # fmt: skip
    full = next((r for r in reports if r.get("mode", "full") == "full"), None)
    if full is None:
        return None, "no previous full run"
    if reports[0].get("load_watermark") is None or "identity_record_digests" not in tables:
        return None, "the last run predates incremental support"
    if not Path(full["model_path"]).exists():
        return None, f"the model file of run {full['run_id']} is missing"
    return {**full, "load_watermark": reports[0]["load_watermark"]}, ""


def find_changes(con: duckdb.DuckDBPyConnection, watermark: int) -> tuple[int, int, int]:
    """Temp tables of the records to re-link, from the records loaded after `watermark`; returns
    (current records, new or changed, removed). Only the few fresh rows are keyed and joined:
    removals and detached records are looked for among all records only if counts show some
    (a record can only be new if it was loaded since, and every other current record is one
    of identity_records)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE inc_current AS {changed_digests_sql(watermark)}")
    # New or changed: no stored digest, or another one.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_changed AS SELECT c.key, r.key IS NULL AS is_new, "
        "r.profile_id "
        "FROM (SELECT c.key FROM inc_current c ANTI JOIN identity_record_digests d "
        "ON d.key = c.key AND d.digest = c.digest) c LEFT JOIN identity_records r USING (key)"
    )
    counts = " + ".join(
        f"(SELECT COUNT(*) FROM {table})"
        for table in ("shop_customers", "crm_contacts", "email_subscribers")
    )  # the tables of KEYS_SQL, without building the keys
    total, new, known, detached = con.execute(
        f"SELECT {counts} + (SELECT COUNT(*) FROM orders WHERE customer_id IS NULL), "
        "(SELECT COUNT(*) FILTER (WHERE is_new) FROM inc_changed), COUNT(*), "
        "COUNT(*) FILTER (WHERE profile_id IS NULL) FROM identity_records"
    ).fetchone()
    current = f"SELECT key FROM ({KEYS_SQL.format(where='TRUE')})"
    removed = (
        f"SELECT key FROM identity_records ANTI JOIN ({current}) USING (key)"
        if known - (total - new) else "SELECT key FROM identity_records LIMIT 0"
    )  # fmt: skip
    con.execute(f"CREATE OR REPLACE TEMP TABLE inc_removed AS {removed}")
    if detached:  # by an unmerge (or an interrupted one): re-linked, if the record is still there
        con.execute(
            "INSERT INTO inc_changed SELECT key, FALSE, NULL FROM identity_records WHERE "
            f"profile_id IS NULL AND key IN ({current}) "
            "AND key NOT IN (SELECT key FROM inc_changed)"
        )
    # The profiles that lost a record: those the changed records had, the removed ones', and
    # those a detached record was unmerged from (its latest pins say which; the record itself
    # keeps no previous profile, so that it counts as new and the rest keeps the id).
    touched = "SELECT profile_id FROM inc_changed" + (
        " UNION ALL SELECT profile_id FROM identity_records WHERE key IN "
        "(SELECT key FROM inc_removed)" if known - (total - new) else ""
    ) + (
        " UNION ALL SELECT profile_id FROM identity_pins WHERE key IN (SELECT key FROM "
        "identity_records WHERE profile_id IS NULL) QUALIFY created_at = MAX(created_at) "
        "OVER (PARTITION BY key)" if detached else ""
    )  # fmt: skip
    for sql in (
        "CREATE OR REPLACE TEMP TABLE inc_loose AS SELECT key, profile_id FROM inc_changed "
        f"UNION SELECT key, profile_id FROM identity_records WHERE profile_id IN ({touched}) "
        "AND key NOT IN (SELECT key FROM inc_removed)",
        "CREATE OR REPLACE TEMP TABLE inc_excluded AS "
        "SELECT key FROM inc_loose UNION SELECT key FROM inc_removed",
    ):
        con.execute(sql)
    [(changed, removed_count)] = con.execute(
        "SELECT (SELECT COUNT(*) FROM inc_changed), (SELECT COUNT(*) FROM inc_removed)"
    ).fetchall()
    return total, changed, removed_count
