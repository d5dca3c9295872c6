"""`cdp resolve`: every known-person record of the warehouse into stable, unified profiles.

Writes, in one transaction: `identity_records` (record -> profile), `profiles` (golden records),
`identity_index` (identifier -> profile, cookies and devices included), `anonymous_links` and
`stitching_audit` (features.identity.stitching); appends `profile_lineage`, `profile_ids_issued`
and `identity_runs`. The trained Splink model is saved as JSON under CDP_HOME/identity/.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from features.errors import ContractError
from features.identity.background import BackgroundQueries
from features.identity.collect import (
    DIGESTS_SQL,
    collect_person_records,
    display_sql,
    has_enough_evidence,
)
from features.identity.pipeline import Clustering, cluster_tables
from features.identity.profiles import golden_records_sql, identity_index_sql
from features.identity.records import match_columns
from features.identity.stable_ids import assign_profile_ids_sql
from features.identity.stitching import STAGED_EVIDENCE, stage_evidence_sql, write_stitching
from features.identity.tracking import log_identity_run, open_identity_experiment
from features.settings import Settings
from features.stopwatch import Stopwatch, release_freed_memory
from features.warehouse import warehouse

log = logging.getLogger("cdp.identity")
STAGED_DIGESTS = "identity_record_digests_next"

_STATE_SQL = (
    "CREATE TABLE IF NOT EXISTS identity_records (key VARCHAR, source VARCHAR, record_id VARCHAR,"
    " profile_id VARCHAR, low_evidence BOOLEAN, run_id BIGINT)",
    "CREATE TABLE IF NOT EXISTS profile_lineage (run_id BIGINT, kind VARCHAR,"
    " from_profile_id VARCHAR, to_profile_id VARCHAR, recorded_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS profile_ids_issued (profile_id VARCHAR, issue_order BIGINT,"
    " run_id BIGINT)",
    "CREATE TABLE IF NOT EXISTS identity_runs (run_id BIGINT, started_at TIMESTAMP,"
    " finished_at TIMESTAMP, report VARCHAR)",
)


PINS_SQL = (
    "CREATE TABLE IF NOT EXISTS identity_pins (key VARCHAR, separated_from VARCHAR,"
    " profile_id VARCHAR, created_at TIMESTAMP)"
)


@dataclass
class ResolveReport:
    """What one resolve run did (counts only: this is printed and logged)."""

    run_id: int
    records: int
    distinct_records: int
    low_evidence_records: int
    profiles: int
    threshold_match_probability: float
    merged: int
    split: int
    blocking_rules: list[str]
    model_path: str
    seconds: float
    stitched_identifiers: int = 0
    refused_identifiers: int = 0
    contradiction_rates: dict | None = None
    # Levels whose u was counted within their blocks instead of sampled (chance.RareLevel)
    rare_levels: list[dict] | None = None
    training: dict | None = None  # EM sessions and choices (IdentityModel.training_summary_)
    mlflow_run_id: str | None = None
    phase_seconds: dict[str, float] | None = None
    phase_peak_mb: dict[str, int] | None = None
    mode: str = "full"  # or "incremental" (features.identity.incremental)
    load_watermark: int | None = None  # last ingest load this run has seen
    note: str | None = None  # e.g. why an incremental request ran in full
    incremental: dict | None = None  # counts of an incremental run

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON."""
        return asdict(self)


def resolve_profiles(settings: Settings) -> ResolveReport:
    """Resolve the warehouse's known-person records into profiles (see module docstring)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    with warehouse(settings) as con:
        for sql in (*_STATE_SQL, PINS_SQL):
            con.execute(sql)
        # Stitching evidence and record digests need no profiles: written to staging tables on
        # the second core while the records are prepared in Python, renamed in the write.
        background = BackgroundQueries(
            con,
            {"evidence": stage_evidence_sql(),
             "digests": f"CREATE OR REPLACE TABLE {STAGED_DIGESTS} AS {DIGESTS_SQL}"},
        )  # fmt: skip
        try:
            report = _resolve(settings, con, background, started, started_at)
        except BaseException:
            background.wait()
            for table in (STAGED_EVIDENCE, STAGED_DIGESTS):  # derived data: never left behind
                con.execute(f"DROP TABLE IF EXISTS {table}")
            raise
        finally:
            background.wait()
    log.info("resolve run %d: %d records -> %d profiles", report.run_id, report.records,
             report.profiles)  # fmt: skip
    return report


def _resolve(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    background: BackgroundQueries,
    started: float,
    started_at: datetime,
) -> ResolveReport:
    watch = Stopwatch()
    display, prepared = collect_person_records(con, settings.phone_region)
    if display.empty:
        raise ContractError("no known-person records in the warehouse; run `cdp ingest` first")
    del display  # re-read in SQL once profiles are known; pandas copies are the peak
    watch.lap("collect")
    run_id = con.execute("SELECT COALESCE(MAX(run_id), 0) + 1 FROM identity_runs").fetchone()[0]
    matchable, loners = {}, []
    for source, frame in prepared.items():
        enough = has_enough_evidence(frame)
        matchable[source] = frame[enough].reset_index(drop=True)
        loners += [f"{source}:{r}" for r in frame.loc[~enough, "record_id"]]
    del prepared, frame
    columns = set().union(*(match_columns(f) for f in matchable.values() if len(f)))
    pins: dict[str, set[str]] = {}
    for key, other in con.execute("SELECT key, separated_from FROM identity_pins").fetchall():
        pins.setdefault(key, set()).add(other)
    matchable = {s: f for s, f in matchable.items() if len(f)}
    clustering = cluster_tables(
        matchable,
        columns,
        seed=settings.seed,
        untrusted_name_sources=frozenset({"orders"}),
        cannot_link=pins,
        memory_limit=settings.linkage_memory,
        temp_directory=str(settings.home / "tmp"),
    )
    del matchable
    # Charts need the fitted linker; after them its DuckDB (scored pairs) is let go, so it
    # does not sit in memory beside the profiles being written.
    identity_dir = settings.home / "identity"
    charts = clustering.model.save_charts(identity_dir / f"charts_run{run_id}")
    # The records the model scored, for the real-time pool: taken from its DuckDB as Arrow,
    # which the write reads without converting a million Python strings again.
    clustering.model_records = clustering.model.records_arrow()
    clustering.model.close()
    watch.lap("cluster_total")
    clusters = pd.concat(
        [clustering.assignments[["key", "cluster_id"]],
         pd.DataFrame({"key": loners, "cluster_id": loners})],
        ignore_index=True,
    )  # fmt: skip
    clustering.assignments = None  # the write's DuckDB buffers would stack on top of it
    release_freed_memory()
    # Keys, clusters and previous profiles are joined in the warehouse (stable_ids): a
    # million string keys through pandas cost seconds. A detached (unmerged) record counts
    # as new.
    con.register("clusters_now", clusters)
    con.register("loners_now", pd.DataFrame({"key": pd.Series(loners, dtype=object)}))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE resolved_clusters AS SELECT key, cluster_id, "
        "key IN (SELECT key FROM loners_now) AS low_evidence FROM clusters_now"
    )
    con.unregister("clusters_now")
    con.unregister("loners_now")
    del clusters
    lineage, issued_now = assign_profile_ids_sql(con, "resolved_clusters")
    # The display records with their profiles, as a DuckDB table: golden records, index
    # and identity_records are read from it in SQL rather than from pandas objects.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE resolved_records AS SELECT d.*, p.profile_id,"
        f" c.low_evidence FROM ({display_sql()}) AS d JOIN resolved_clusters AS c USING (key)"
        " JOIN profile_of_cluster AS p USING (cluster_id)"
    )
    (records, profiles), = con.execute(
        "SELECT (SELECT COUNT(*) FROM resolved_clusters), (SELECT COUNT(*) FROM profile_of_cluster)"
    ).fetchall()  # fmt: skip
    for table in ("resolved_clusters", "profile_of_cluster"):
        con.execute(f"DROP TABLE {table}")
    low_evidence = len(loners)
    del loners
    release_freed_memory()
    watch.lap("profiles")
    model_path = settings.home / "identity" / f"splink_model_run{run_id}.json"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_text(json.dumps(clustering.settings, indent=2, sort_keys=True))
    report = ResolveReport(
        run_id=run_id,
        records=records,
        distinct_records=clustering.representatives + low_evidence,
        low_evidence_records=low_evidence,
        profiles=profiles,
        threshold_match_probability=clustering.threshold,
        merged=int((lineage["kind"] == "merged").sum()),
        split=int((lineage["kind"] == "split").sum()),
        blocking_rules=clustering.blocking_rules,
        model_path=str(model_path),
        seconds=round(time.perf_counter() - started, 2),
        load_watermark=read_load_watermark(con),
    )
    new_ids = pd.DataFrame(
        [(p, order, run_id) for p, order in issued_now.items()],
        columns=["profile_id", "issue_order", "run_id"],
    )
    report.contradiction_rates = clustering.contradiction_rates
    report.rare_levels = clustering.rare_levels
    report.training = clustering.training
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdp-mlflow") as pool:
        # MLflow's import and store are Python; the write below is DuckDB, which frees the GIL.
        opening = pool.submit(open_identity_experiment, settings)
        _write(con, run_id, lineage, new_ids, report, started_at, clustering, background)
        watch.lap("write")
        opened = opening.result()
    report.mlflow_run_id = log_identity_run(settings, report.to_dict(), clustering.settings,
                                            charts, opened)  # fmt: skip
    watch.lap("track")
    report.phase_seconds = {**watch.phases, **clustering.phase_seconds}
    report.phase_seconds.pop("cluster_total", None)
    report.phase_peak_mb = {**watch.peak_mb, **clustering.phase_peak_mb}
    report.phase_peak_mb.pop("cluster_total", None)
    con.execute(
        "UPDATE identity_runs SET report = ? WHERE run_id = ?",
        [json.dumps(report.to_dict()), run_id],
    )
    return report


def _write(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    lineage: pd.DataFrame,
    new_ids: pd.DataFrame,
    report: ResolveReport,
    started_at: datetime,
    clustering: Clustering,
    background: BackgroundQueries,
) -> None:
    """Replace the resolved state from temp table `resolved_records`, in one transaction."""
    now = datetime.now(UTC).replace(tzinfo=None)
    lineage = lineage.assign(run_id=run_id, recorded_at=now)[
        ["run_id", "kind", "from_profile_id", "to_profile_id", "recorded_at"]
    ]
    con.begin()
    try:
        # The records the model scored, with their profiles: the pool real-time matching
        # compares a new record against, and the base of its term frequencies. Written first
        # so its Arrow copy can go before the heavier statements below.
        con.register("model_records_now", clustering.model_records)
        con.execute(
            "CREATE OR REPLACE TABLE identity_match_records AS SELECT m.*, r.profile_id"
            " FROM model_records_now AS m LEFT JOIN resolved_records AS r USING (key)"
            " ORDER BY m.key"
        )
        con.unregister("model_records_now")
        clustering.model_records = None
        con.execute("DELETE FROM identity_records")
        con.execute(
            "INSERT INTO identity_records SELECT key, source, record_id, profile_id, low_evidence,"
            " ? FROM resolved_records",
            [run_id],
        )
        con.execute(
            "CREATE OR REPLACE TABLE profiles AS "
            + golden_records_sql("resolved_records", low_evidence=True)
        )
        con.execute(
            "CREATE OR REPLACE TABLE identity_index AS " + identity_index_sql("resolved_records")
        )
        # Stitching reads the index just written, in the same transaction.
        background.result("evidence")
        linked, refused = write_stitching(con, run_id, evidence=STAGED_EVIDENCE)
        report.stitched_identifiers, report.refused_identifiers = linked, refused
        # What the next incremental run compares against.
        background.result("digests")
        con.execute("DROP TABLE IF EXISTS identity_record_digests")
        con.execute(f"ALTER TABLE {STAGED_DIGESTS} RENAME TO identity_record_digests")
        if len(lineage):
            con.register("lineage_now", lineage)
            con.execute("INSERT INTO profile_lineage SELECT * FROM lineage_now")
        if len(new_ids):
            con.register("issued_now", new_ids)
            con.execute("INSERT INTO profile_ids_issued SELECT * FROM issued_now")
        con.execute(
            "INSERT INTO identity_runs VALUES (?, ?, ?, ?)",
            [run_id, started_at, now, json.dumps(report.to_dict())],
        )
        con.commit()
    except Exception:
        con.rollback()
        raise


def read_load_watermark(con: duckdb.DuckDBPyConnection) -> int:
    """The newest ingest load id: rows loaded after it (column `_load_id`) are new to a run."""
    [(load_id,)] = con.execute("SELECT COALESCE(MAX(load_id), 0) FROM ingest_log").fetchall()
    return int(load_id)


def read_assignments(settings: Settings, *, anonymous: bool = False) -> pd.DataFrame:
    """(source, record_id, profile_id) of every known-person record, from the last run; with
    `anonymous`, also every stitched cookie and device (source 'anonymous_id' / 'device_id')."""
    with warehouse(settings, read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        if "identity_records" not in tables:
            raise ContractError("no profiles yet; run `cdp resolve` first")
        sql = "SELECT source, record_id, profile_id FROM identity_records"
        if anonymous and "anonymous_links" in tables:
            sql += (
                " UNION ALL SELECT identifier_type, identifier_value, profile_id"
                " FROM anonymous_links"
            )
        return con.execute(f"{sql} ORDER BY source, record_id").df()


def evaluate_against_truth(settings: Settings, truth_dir) -> dict[str, object]:
    """Accuracy of the current profiles against a generated world's truth/records.parquet."""
    from pathlib import Path

    from features.identity.evaluate import evaluate_clusters

    path = Path(truth_dir) / "records.parquet"
    if not path.exists():
        raise ContractError(f"{path}: no such truth file")
    truth = pd.read_parquet(path)
    assigned = read_assignments(settings).merge(truth, on=["source", "record_id"], how="left")
    scores = evaluate_clusters(assigned, cluster="profile_id", truth="person_id")
    anonymous = Path(truth_dir) / "anonymous.parquet"
    if anonymous.exists():
        from features.identity.stitching import evaluate_stitching

        with warehouse(settings, read_only=True) as con:
            scores["stitching"] = evaluate_stitching(con, truth, pd.read_parquet(anonymous))
    return scores
