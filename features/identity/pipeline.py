"""One clustering path for every caller: `cdp link` on any tables, `cdp resolve` on the warehouse.

Stages: union the prepared tables (one key space, '<source>:<record_id>'), collapse records
identical in every matching attribute, fit the Splink model, score blocked pairs, choose the
threshold from the model's own probabilities, add exact-email edges where the data does not
contradict them, and join records along edges strongest first, refusing unions that contradict
hard facts (features.identity.clusters.constrained_components). Cluster ids are the smallest
member key, so they never depend on Splink internals or on row order.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import pandas as pd

from features.identity.clusters import (
    RELIABLE_BELOW,
    Graph,
    consistent_identifier_edges,
    constrained_components,
    reliable_attributes,
)
from features.identity.dedupe import collapse_identical
from features.identity.model import IdentityModel
from features.stopwatch import Stopwatch

log = logging.getLogger("cdp.identity")
KEY_SEPARATOR = ":"


@dataclass
class Clustering:
    """Cluster of every input record, and what the model chose on the way."""

    assignments: pd.DataFrame  # key, source, record_id, cluster_id
    threshold: float
    blocking_rules: list[str]
    settings: dict = field(repr=False)
    representatives: int = 0
    edges: dict[str, int] = field(default_factory=dict)
    contradiction_rates: dict[str, float] = field(default_factory=dict)
    rare_levels: list[dict] = field(default_factory=list)  # u counted, not sampled
    training: dict = field(default_factory=dict)  # IdentityModel.training_summary_
    model_records: object | None = field(default=None, repr=False)  # set by resolve (pyarrow)
    model: object | None = field(default=None, repr=False)  # the fitted IdentityModel
    phase_seconds: dict[str, float] = field(default_factory=dict)
    phase_peak_mb: dict[str, int] = field(default_factory=dict)


def _strip_sources(keys: np.ndarray, blocks: list[tuple[str, int]]) -> list[str]:
    """The record ids of keys '<source>:<record_id>' laid out in blocks of one source each."""
    out, start = [], 0
    for source, rows in blocks:
        cut = len(source) + len(KEY_SEPARATOR)
        out += [key[cut:] for key in keys[start : start + rows]]
        start += rows
    return out


def cluster_tables(
    tables: dict[str, pd.DataFrame],
    columns: set[str],
    *,
    extras: tuple[str, ...] = (),
    seed: int = 42,
    threshold: float | None = None,
    untrusted_name_sources: frozenset[str] = frozenset(),
    cannot_link: dict[str, set[str]] | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    single_attribute_rules: bool = False,
) -> Clustering:
    """Cluster prepared records of one or more tables (source name -> prepared records).

    Names of records from `untrusted_name_sources` (guest orders: the shipping recipient's name)
    are matched on but do not count as the person's own name when clusters are checked for
    contradictions. `cannot_link` (key -> keys) holds pinned unmerge decisions. `tables` is
    emptied as it is read: at a million records each copy of them costs most of a gigabyte.
    """
    watch = Stopwatch()
    frames, blocks = [], []  # blocks: (source, rows), in the order of the union
    for source in list(tables):
        frame = tables.pop(source)
        keyed = frame.copy()
        keyed.insert(0, "source", source)
        keyed["record_id"] = source + KEY_SEPARATOR + frame["record_id"].astype(str)
        blocks.append((source, len(frame)))
        frames.append(keyed)
        del frame, keyed
    union = pd.concat(frames, ignore_index=True)
    del frames
    sources = union.pop("source")
    # Aliases and the email's user part are functions of the first name and the email, so
    # records equal in those are equal in them too (and factorising a million emails' user
    # parts again took 0.4 s); unless `cdp link --extra email_user` replaced the user part.
    derived = (
        "record_id",
        "first_name_aliases",
        *(() if "email_user" in extras else ("email_user",)),
    )
    match_cols = [c for c in union.columns if c not in derived]
    pinned = set(cannot_link or {}) | set().union(*(cannot_link or {}).values())
    if pinned:
        # Pinned records stay their own representative, so an unmerge can always be honoured.
        union["pin"] = union["record_id"].where(union["record_id"].isin(pinned), "")
        match_cols.append("pin")
    representatives, to_representative = collapse_identical(union, match_cols)
    if pinned:
        representatives = representatives.drop(columns="pin")
    keys = union["record_id"].copy()
    del union  # only the keys are needed from here; the attributes live on in representatives
    watch.lap("collapse")

    model = IdentityModel(seed=seed, extras=extras, threshold=threshold,
                          memory_limit=memory_limit, temp_directory=temp_directory,
                          single_attribute_rules=single_attribute_rules)  # fmt: skip
    model.fit({"records": representatives}, columns)
    # The email edges, found in the model's DuckDB from its copy of the records and left there
    # for the graph: on a thread of their own beside the fit, from the pandas frame, they
    # converted its strings again, holding the GIL the fit's Python needed.
    email_edges = _find_email_edges(model, representatives.columns)
    [(email_count,)] = model.con_.execute(f"SELECT COUNT(*) FROM {email_edges}").fetchall()
    watch.lap("train")
    predictions = model.predict()
    chosen = model.choose_threshold(predictions)
    watch.lap("predict")
    graph = code_graph(
        model.con_, representatives["record_id"], predictions.physical_name, chosen, email_edges
    )
    untrusted = tuple(f"{s}{KEY_SEPARATOR}" for s in sorted(untrusted_name_sources))
    trusted = ~representatives["record_id"].str.startswith(untrusted)
    contradiction = contradiction_rates(model, predictions.physical_name, columns, untrusted)
    components, refused = constrained_components(
        representatives,
        None,
        trusted,
        check_names=contradiction.get("first_name", 1.0) < RELIABLE_BELOW,
        check_dates=contradiction.get("dob", 1.0) < RELIABLE_BELOW,
        cannot_link=cannot_link,
        graph=graph,
    )
    scored = int((graph.strength < 2.0).sum())
    del graph
    watch.lap("cluster")
    assignments = pd.DataFrame(
        {
            "key": keys.to_numpy(),
            "source": sources.to_numpy(),
            "record_id": _strip_sources(keys.to_numpy(), blocks),
            # to_representative is in the order of the union, as keys are
            "cluster_id": to_representative.map(components).to_numpy(),
        }
    )
    rules = [" AND ".join(c.columns) for c in model.blocking_choices_ if c.kept]
    log.info(
        "clustered %d records (%d distinct) at threshold %.3f", len(keys), len(representatives),
        chosen,
    )  # fmt: skip
    return Clustering(
        assignments=assignments,
        threshold=chosen,
        blocking_rules=rules,
        settings=model.settings_,
        representatives=len(representatives),
        edges={"scored": scored, "email": email_count, "refused": refused},
        contradiction_rates=contradiction,
        rare_levels=[asdict(level) for level in model.rare_levels_],
        training=model.training_summary_,
        model=model,
        phase_seconds=watch.phases,
        phase_peak_mb=watch.peak_mb,
    )


SURE = 0.999  # a sure match
SURE_BITS = math.log2(SURE / (1 - SURE))  # the same as a match weight
MIN_SURE_WITHOUT = 100  # sure pairs not needing the attribute, to tell whether it is reliable


def contradiction_rates(
    model: IdentityModel, predictions: str, columns: set[str], untrusted: tuple[str, ...]
) -> dict[str, float]:
    """How often sure matches (p >= 0.999) contradict on first name and on birth date
    (clusters.reliable_attributes); 1.0 for an attribute without which hardly any pair is
    sure (fewer than MIN_SURE_WITHOUT pairs).

    A rate measured on pairs that are sure only because they agree on the attribute says
    nothing about how often it differs between matches: with names and birth dates alone every
    sure pair agrees on both, and the constraints switched on that way refuse the duplicates
    whose name was mistyped (FEBRL3: F1 0.859 against 0.922). Pairs with a record from an
    `untrusted` source are left out (a shipping name is not its buyer's own name).
    """
    wanted = [c for c in ("first_name", "last_name", "dob") if c in columns]
    select = ", ".join(f"{c}_l, {c}_r" for c in wanted) or "1 AS nothing"
    sure = model.con_.execute(
        f"SELECT unique_id_l, unique_id_r, {select} FROM {predictions} "
        f"WHERE match_probability >= {SURE}"
    ).df()
    sure = sure[~(sure["unique_id_l"].str.startswith(untrusted)
                  | sure["unique_id_r"].str.startswith(untrusted))]  # fmt: skip
    rates = reliable_attributes(sure)
    for attribute in rates:
        weight = model.weight_sql(attribute)
        if weight is None:
            continue
        [(without,)] = model.con_.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {predictions} WHERE match_probability >= "
            f"{SURE} AND match_weight - ({weight}) >= {SURE_BITS} LIMIT {MIN_SURE_WITHOUT})"
        ).fetchall()
        if without < MIN_SURE_WITHOUT:
            rates[attribute] = 1.0
    return rates


def _find_email_edges(model: IdentityModel, columns: pd.Index) -> str:
    """The email edges (clusters.consistent_identifier_edges) of the records `model` was fitted
    on, as a temp table of its DuckDB (its name returned); empty without emails."""
    if "email" not in columns:
        model.con_.execute(
            "CREATE OR REPLACE TEMP TABLE email_edges (unique_id_l VARCHAR, unique_id_r VARCHAR)"
        )
        return "email_edges"
    names = [f"CAST({c} AS VARCHAR) AS {c}" if c in columns else f"NULL::VARCHAR AS {c}"
             for c in ("first_name", "last_name")]  # fmt: skip
    records = " UNION ALL ".join(
        f"SELECT unique_id AS record_id, email, {', '.join(names)} FROM {table}"
        for table in model.record_tables_
    )
    consistent_identifier_edges(records, "email", model.con_, into="email_edges")
    return "email_edges"


def code_graph(
    con: duckdb.DuckDBPyConnection,
    record_ids: pd.Series,
    predictions: str,
    threshold: float,
    email_edges: pd.DataFrame | str,
) -> Graph:
    """The clustering's graph, coded in the linker's DuckDB: the scored pairs at or above
    `threshold` in table `predictions`, then the email edges (strength 2; a frame, or the name
    of a table in `con`), as positions among the sorted record ids. Joining a million pairs to
    their positions there took a quarter of the time pandas took to hash and sort the same
    strings."""
    con.register("graph_ids", pd.DataFrame({"unique_id": record_ids.to_numpy(),
                                            "row": np.arange(len(record_ids))}))  # fmt: skip
    email = email_edges if isinstance(email_edges, str) else "graph_email"
    if email == "graph_email":
        con.register("graph_email", email_edges[["unique_id_l", "unique_id_r"]])
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE graph_positions AS SELECT unique_id, row, "
            "row_number() OVER (ORDER BY unique_id) - 1 AS pos FROM graph_ids"
        )
        # In no particular order: the union sorts the edges it walks by strength and ids.
        edges = con.execute(
            "SELECT l.pos AS l, r.pos AS r, e.strength FROM (SELECT unique_id_l, unique_id_r, "
            f"match_probability AS strength FROM {predictions} WHERE match_probability >= ? "
            f"UNION ALL SELECT unique_id_l, unique_id_r, 2.0 FROM {email}) e "
            "JOIN graph_positions l ON l.unique_id = e.unique_id_l "
            "JOIN graph_positions r ON r.unique_id = e.unique_id_r",
            [threshold],
        ).fetchnumpy()
        ids = con.execute("SELECT unique_id FROM graph_positions ORDER BY pos").fetchnumpy()
        rows = con.execute("SELECT pos FROM graph_positions ORDER BY row").fetchnumpy()
    finally:
        con.unregister("graph_ids")
        if email == "graph_email":
            con.unregister("graph_email")
        con.execute("DROP TABLE IF EXISTS graph_positions")
    return Graph(
        np.asarray(ids["unique_id"], dtype=object), np.asarray(rows["pos"], dtype=np.int64),
        np.asarray(edges["l"], dtype=np.int64), np.asarray(edges["r"], dtype=np.int64),
        np.asarray(edges["strength"], dtype=np.float64),
    )  # fmt: skip
