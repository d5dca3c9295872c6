"""`cdp resolve --incremental`: link what changed since the last run; rewrite only what it touches.

Re-linked ("loose") records: new keys, changed records (loaded again since the last run, as
ingest stamps every row it upserts with its load id, and with a digest that differs from the
one stored then), detached records (profile NULL), and every other record of a profile that
lost one (changed, or removed from its table), since without it the profile may fall apart.
They are scored with the last full run's model and threshold, never retrained, against the
existing records sharing a blocking key and against each other, plus exact-email edges
(features.identity.link_new). Existing profiles at the other end of an edge are "affected":
they enter the clustering whole (`groups`: their own run already checked them) with the loose
records, and the same constrained clustering joins along the edges strongest first, refusing
unions that contradict first names, birth dates or unmerge pins (`identity_pins`). The full
run's stable-id rules then apply to that scope: joining records keep the profile's id, a merge
keeps the older id (lineage 'merged'), a profile that fell apart is 'split'. Records without
enough evidence stay flagged singletons. Golden records, identity index, the model's pool and
the cookie/device stitching (identifiers with new claiming events, or claimed by a record whose
profile changed) are rewritten for that scope only, in one transaction with the run's
`identity_runs` row (mode 'incremental'). Profiles out of scope are not touched.

A full run happens instead, its report's `note` saying why, when there is no full run to build
on (or it predates incremental support), its model file is gone, or more than `max_delta` of
the records changed: the model then no longer describes the data, and retraining on everything
is both more accurate and, at that size, about as fast as re-linking most records.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from features.errors import ContractError
from features.identity.changes import find_changes, read_base_run
from features.identity.clusters import RELIABLE_BELOW, constrained_components
from features.identity.collect import read_display_records
from features.identity.issued import IssuedIds
from features.identity.link_new import (
    CANDIDATES,
    NEW,
    POOL,
    link_new_records,
    stage_new_records,
)
from features.identity.pipeline import KEY_SEPARATOR
from features.identity.profiles import build_golden_records, build_identity_index
from features.identity.resolve import PINS_SQL, ResolveReport, read_load_watermark, resolve_profiles
from features.identity.restitch import ANONYMOUS_TYPES, restitch
from features.identity.stable_ids import assign_profile_ids
from features.settings import Settings
from features.warehouse import create_temp_table, warehouse

log = logging.getLogger("cdp.identity")
MAX_DELTA = 0.2
UNTRUSTED_NAME_SOURCES = frozenset({"orders"})  # as in resolve: a shipping name is not the buyer's


def resolve_incremental(settings: Settings, *, max_delta: float = MAX_DELTA) -> ResolveReport:
    """Link new and changed records into the existing profiles (see module docstring)."""
    started = time.perf_counter()
    with warehouse(settings) as con:
        # The run deletes and appends a few rows in big tables; compacting the row groups they
        # leave (the checkpoint's vacuum, DuckDB's default) rewrites whole row groups of those
        # tables and cost more than the rest of the write at a million records. The space is
        # reclaimed by the next full run, which rewrites every identity table.
        con.execute("SET max_vacuum_tasks = 0")
        con.execute(PINS_SQL)
        base, reason = read_base_run(con)
        if base is not None:
            total, changed, removed = find_changes(con, base["load_watermark"])
            if total == 0:
                raise ContractError("no known-person records in the warehouse")
            if changed + removed <= max_delta * total:
                return _run(con, settings, base, started)
            reason = (
                f"{changed + removed:,} of {total:,} records changed, more than {max_delta:.0%}"
            )
    report = resolve_profiles(settings)
    report.note = f"ran in full, not incrementally: {reason}"
    with warehouse(settings) as con:
        con.execute(
            "UPDATE identity_runs SET report = ? WHERE run_id = ?",
            [json.dumps(report.to_dict()), report.run_id],
        )
    log.info("resolve run %d: %s", report.run_id, report.note)
    return report


class _Clock:
    """Seconds per stage, for the report: where an incremental run spends its time."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self._last, 3)
        self._last = now


@dataclass
class _Relinked:
    """What re-linking the loose records produced, ready to be written."""

    records: pd.DataFrame  # display records of the scope with profile_id and low_evidence
    profiles: pd.DataFrame  # their golden records
    lineage: pd.DataFrame
    new_ids: pd.DataFrame  # profile_id, issue_order
    moved: pd.DataFrame  # key of every record whose profile id changed
    counts: dict[str, int]


def _relink(con, settings: Settings, base: dict, clock: _Clock) -> _Relinked:
    """Score, cluster and name the loose records and the profiles they touch."""
    model = json.loads(Path(base["model_path"]).read_text())
    threshold = float(base["threshold_match_probability"])
    pins: dict[str, set[str]] = {}
    for key, other in con.execute("SELECT key, separated_from FROM identity_pins").fetchall():
        pins.setdefault(key, set()).add(other)
    pinned = set(pins) | set().union(*pins.values())
    display, to_rep, loners = stage_new_records(con, "inc_loose", settings.phone_region, pinned)
    clock.lap("prepare")
    edges, scored = link_new_records(con, model, threshold, excluded="inc_excluded")
    clock.lap("link")
    clusters, refused = _cluster(con, base, pins, edges, to_rep, loners)
    # The profile ids the scope's records had, known without reading identity_records again.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_previous AS SELECT key, profile_id FROM inc_loose "
        "WHERE profile_id IS NOT NULL UNION SELECT key, profile_id FROM inc_affected_keys"
    )
    previous = con.execute("SELECT key, profile_id FROM inc_previous").df()
    issued = IssuedIds(con, previous["profile_id"], clusters["cluster_id"])
    mapping, lineage = assign_profile_ids(clusters, previous, issued)
    clock.lap("cluster")
    records = pd.concat(
        [display, read_display_records(con, "inc_affected_keys")], ignore_index=True
    ).merge(mapping, on="key", how="left")
    records["low_evidence"] = records["key"].isin(set(loners))
    profiles = build_golden_records(records, con)
    flags = records.groupby("profile_id")["low_evidence"].all().rename("low_evidence")
    profiles = profiles.merge(flags, left_on="profile_id", right_index=True)
    before = records.merge(previous.rename(columns={"profile_id": "before"}), on="key", how="left")
    clock.lap("profiles")
    (candidates, affected), = con.execute(
        f"SELECT (SELECT COUNT(*) FROM {CANDIDATES}), (SELECT COUNT(*) FROM inc_affected)"
    ).fetchall()  # fmt: skip
    return _Relinked(
        records, profiles, lineage,
        pd.DataFrame(list(issued.new.items()), columns=["profile_id", "issue_order"]),
        before.loc[before["profile_id"] != before["before"], ["key"]],
        {"candidates": candidates, "affected_profiles": affected, "scored_edges": scored,
         "email_edges": len(edges) - scored, "refused_unions": refused,
         "profiles_written": len(profiles)},
    )  # fmt: skip


def _run(con: duckdb.DuckDBPyConnection, settings: Settings, base: dict, started: float):
    started_at = datetime.now(UTC).replace(tzinfo=None)
    clock = _Clock()
    run_id = con.execute("SELECT COALESCE(MAX(run_id), 0) + 1 FROM identity_runs").fetchone()[0]
    new, changed, removed, loose = con.execute(
        "SELECT (SELECT COUNT(*) FILTER (WHERE is_new) FROM inc_changed), "
        "(SELECT COUNT(*) FILTER (WHERE NOT is_new) FROM inc_changed), "
        "(SELECT COUNT(*) FROM inc_removed), (SELECT COUNT(*) FROM inc_loose)"
    ).fetchone()
    relinked = _relink(con, settings, base, clock) if loose else None
    lineage = relinked.lineage if relinked else pd.DataFrame(columns=["kind"])
    report = ResolveReport(
        run_id=run_id, records=0, distinct_records=0, low_evidence_records=0, profiles=0,
        threshold_match_probability=float(base["threshold_match_probability"]),
        merged=int((lineage["kind"] == "merged").sum()),
        split=int((lineage["kind"] == "split").sum()), blocking_rules=base["blocking_rules"],
        model_path=base["model_path"], seconds=0.0, mode="incremental",
        contradiction_rates=base.get("contradiction_rates"),
        load_watermark=read_load_watermark(con),
        incremental={"base_run_id": base["run_id"], "new_records": new,
                     "changed_records": changed, "removed_records": removed,
                     "relinked_records": loose, **(relinked.counts if relinked else {})},
    )  # fmt: skip
    con.begin()
    try:
        if relinked:
            _write(con, run_id, relinked)
        else:  # only events may have changed
            con.execute("CREATE OR REPLACE TEMP TABLE inc_moved (key VARCHAR)")
        clock.lap("write")
        report.incremental["restitched_identifiers"] = restitch(
            con, run_id, int(base["load_watermark"]),
            "(SELECT key FROM inc_moved UNION ALL SELECT key FROM inc_removed)",
        )  # fmt: skip
        clock.lap("stitch")
        _count_totals(con, report)
        report.incremental["stage_seconds"] = clock.stages
        report.seconds = round(time.perf_counter() - started, 2)
        con.execute(
            "INSERT INTO identity_runs VALUES (?, ?, ?, ?)",
            [run_id, started_at, datetime.now(UTC).replace(tzinfo=None),
             json.dumps(report.to_dict())],
        )  # fmt: skip
        con.commit()
    except Exception:
        con.rollback()
        raise
    log.info("resolve run %d (incremental): %d records re-linked", run_id, loose)
    return report


def _cluster(con, base, pins, edges, to_rep, loners) -> tuple[pd.DataFrame, int]:
    """(key, cluster_id) of every loose record and every record of an affected profile (the
    existing profiles at the pool end of an edge), and how many unions were refused. Creates
    inc_affected (their profile ids) and inc_affected_keys (all their records)."""
    ends = pd.DataFrame({"key": pd.concat([edges["unique_id_l"], edges["unique_id_r"]])})
    create_temp_table(con, "inc_ends", ends.drop_duplicates().astype(str))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_affected AS SELECT DISTINCT profile_id FROM "
        f"{CANDIDATES} WHERE key IN (SELECT key FROM inc_ends)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_affected_keys AS SELECT key, profile_id FROM "
        "identity_records WHERE profile_id IN (SELECT profile_id FROM inc_affected)"
    )
    nodes = con.execute(
        f"SELECT key AS record_id, first_name, last_name, dob, NULL AS profile_id FROM {NEW} "
        f"UNION ALL SELECT key, first_name, last_name, dob, profile_id FROM {POOL} "
        "WHERE profile_id IN (SELECT profile_id FROM inc_affected) "
        "AND key NOT IN (SELECT key FROM inc_excluded) ORDER BY record_id"
    ).df()
    source = nodes["record_id"].str.split(KEY_SEPARATOR).str[0]
    existing = nodes.dropna(subset=["profile_id"])
    scope = set(nodes["record_id"])
    rates = base.get("contradiction_rates") or {}
    if nodes.empty:  # nothing to link: only events may have changed
        return pd.DataFrame({"key": loners, "cluster_id": loners}), 0
    components, refused = constrained_components(
        nodes,
        edges,
        ~source.isin(UNTRUSTED_NAME_SOURCES),
        check_names=rates.get("first_name", 1.0) < RELIABLE_BELOW,
        check_dates=rates.get("dob", 1.0) < RELIABLE_BELOW,
        cannot_link={k: v & scope for k, v in pins.items() if k in scope},
        groups=pd.Series(existing["profile_id"].to_numpy(), index=existing["record_id"]),
    )
    by_profile = components.loc[existing["record_id"]].groupby(existing["profile_id"].to_numpy())
    kept = con.execute("SELECT key, profile_id FROM inc_affected_keys").df()
    parts = [
        pd.DataFrame({"key": to_rep.index, "cluster_id": to_rep.map(components).to_numpy()}),
        pd.DataFrame({"key": loners, "cluster_id": loners}),
        pd.DataFrame(
            {"key": kept["key"], "cluster_id": kept["profile_id"].map(by_profile.first())}
        ),
    ]
    return pd.concat(parts, ignore_index=True), refused


def _write(con: duckdb.DuckDBPyConnection, run_id: int, relinked: _Relinked) -> None:
    """Replace the scope's rows of every identity table (inside the caller's transaction).

    Rows that would be written back unchanged are left alone: the records of affected profiles
    that keep their profile id, and index entries that stay. Every deleted and appended row is
    logged and checkpointed again (the WAL at a million records: 26.7 MB with them, 18 MB
    without)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    records = relinked.records
    identity = records[["key", "source", "record_id", "profile_id", "low_evidence"]]
    create_temp_table(con, "inc_identity", identity.assign(run_id=run_id))
    create_temp_table(con, "inc_profiles", relinked.profiles)
    create_temp_table(con, "inc_index", build_identity_index(records, con))
    create_temp_table(con, "inc_moved", relinked.moved.astype(str))
    lineage = relinked.lineage.astype(str).assign(run_id=run_id, recorded_at=now)
    create_temp_table(con, "inc_lineage", lineage)
    create_temp_table(con, "inc_issued", relinked.new_ids.assign(run_id=run_id))
    # Re-linked and removed records, and those whose profile id changed: the only records whose
    # identity_records row differs (an affected profile's other records keep theirs).
    rewritten = "(SELECT key FROM inc_excluded UNION ALL SELECT key FROM inc_moved)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE inc_old_ids AS SELECT profile_id FROM inc_previous UNION "
        "SELECT profile_id FROM identity_records WHERE profile_id IS NOT NULL AND key IN "
        "(SELECT key FROM inc_removed)"
    )
    old = "(SELECT profile_id FROM inc_old_ids)"
    entry = "identifier_type, identifier_value, profile_id"
    for sql in (
        f"DELETE FROM identity_records WHERE key IN {rewritten}",
        f"INSERT INTO identity_records BY NAME SELECT * FROM inc_identity WHERE key IN {rewritten}",
        f"DELETE FROM profiles WHERE profile_id IN {old}",
        "INSERT INTO profiles BY NAME SELECT * FROM inc_profiles",
        f"CREATE OR REPLACE TEMP TABLE inc_index_old AS SELECT rowid AS row_id, {entry} FROM "
        f"identity_index WHERE profile_id IN {old} AND identifier_type NOT IN {ANONYMOUS_TYPES}",
        "DELETE FROM identity_index WHERE rowid IN (SELECT row_id FROM inc_index_old "
        f"ANTI JOIN inc_index USING ({entry}))",
        f"INSERT INTO identity_index BY NAME SELECT * FROM inc_index ANTI JOIN inc_index_old "
        f"USING ({entry})",
        # Pool records whose profile id changed are deleted and appended again, not updated:
        # an update makes the checkpoint rewrite the whole profile_id column (0.1-0.3 s).
        f"CREATE OR REPLACE TEMP TABLE inc_repooled AS SELECT p.* EXCLUDE (profile_id), "
        f"i.profile_id FROM {POOL} p JOIN (SELECT key, profile_id FROM inc_identity SEMI JOIN "
        "inc_moved USING (key)) i ON i.key = p.key WHERE p.profile_id <> i.profile_id",
        f"DELETE FROM {POOL} WHERE key IN (SELECT key FROM inc_excluded UNION ALL "
        "SELECT key FROM inc_repooled)",
        f"INSERT INTO {POOL} BY NAME SELECT * FROM inc_repooled",
        f"INSERT INTO {POOL} BY NAME SELECT n.*, i.profile_id FROM {NEW} n "
        "JOIN inc_identity i ON i.key = n.key",
        "DELETE FROM identity_record_digests WHERE key IN "
        "(SELECT key FROM inc_current UNION ALL SELECT key FROM inc_removed)",
        "INSERT INTO identity_record_digests SELECT key, digest FROM inc_current",
        "INSERT INTO profile_lineage BY NAME SELECT * FROM inc_lineage",
        "INSERT INTO profile_ids_issued BY NAME SELECT * FROM inc_issued",
    ):
        con.execute(sql)


def _count_totals(con: duckdb.DuckDBPyConnection, report: ResolveReport) -> None:
    """The report's totals, as a full run gives them, from the tables just written."""
    [
        (
            report.records,
            report.low_evidence_records,
            report.profiles,
            pool,
            report.stitched_identifiers,
            report.refused_identifiers,
        )
    ] = con.execute(
        "SELECT (SELECT COUNT(*) FROM identity_records), "
        "(SELECT COUNT(*) FILTER (WHERE low_evidence) FROM identity_records), "
        f"(SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM {POOL}), "
        "(SELECT COUNT(*) FROM anonymous_links), (SELECT COUNT(*) FROM stitching_audit)"
    ).fetchall()
    report.distinct_records = pool + report.low_evidence_records
