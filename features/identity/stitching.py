"""Deterministic cross-device stitching: cookies and devices to profiles, by explicit evidence.

Evidence ("claims"): an identify event ties its anonymous_id / device_id to a shop user id; any
logged-in event does the same; an email click ties its cookie to a subscriber. Each known id
already belongs to a profile (the identity index), so a claim ties the cookie or device to that
profile.

Rules, as the best CDPs have them (Segment's identity resolution: blocked values, per-identifier
limits), with every refusal written to `stitching_audit` with the rule that refused it:
- blocked_value: a placeholder on either side ('0', 'null', 'anonymous', ...) is no evidence;
- unknown_identifier: the claimed user / subscriber id belongs to no profile;
- shared_identifier: a cookie or device claimed by more than one profile (a family tablet, a
  shop's demo device) is left unassigned rather than given to one of them; the limit is one
  profile per anonymous id or device id;
- several_user_ids: a cookie or device logged into by more than one shop account (Segment's
  user_id limit of one), even if the accounts resolved to the same profile.
Stitching attaches identifiers to profiles; it never merges two profiles, so a shared device
cannot make two people one.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from features.identity.canonical import JUNK_IDENTIFIERS

MAX_PROFILES_PER_IDENTIFIER = 1
# Segment's "user_id limit 1": a cookie or device logged into by two different shop accounts is
# not stitched, even when both accounts resolved to one profile, because that profile may itself
# be a wrong merge and the device would then cement it.
MAX_ACCOUNTS_PER_IDENTIFIER = 1

_JUNK_SQL = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(JUNK_IDENTIFIERS))
_EVIDENCE_SQL = f"""
WITH events AS (  -- only events naming a known id can be evidence
    SELECT 'anonymous_id' AS identifier_type, anonymous_id AS identifier_value, user_id,
           subscriber_id, type, occurred_at FROM web_events
    WHERE (user_id IS NOT NULL OR subscriber_id IS NOT NULL) /*anonymous_id*/
    UNION ALL
    SELECT 'anonymous_id', anonymous_id, user_id, subscriber_id, type, occurred_at FROM app_events
    WHERE (user_id IS NOT NULL OR subscriber_id IS NOT NULL) /*anonymous_id*/
    UNION ALL
    SELECT 'device_id', device_id, user_id, subscriber_id, type, occurred_at FROM app_events
    WHERE (user_id IS NOT NULL OR subscriber_id IS NOT NULL) /*device_id*/
), claims AS (
    SELECT identifier_type, identifier_value, 'customer_id' AS known_type, user_id AS known_value,
           CASE WHEN type = 'identify' THEN 'identify' ELSE 'logged_in_event' END AS via,
           occurred_at
    FROM events WHERE user_id IS NOT NULL AND identifier_value IS NOT NULL
    UNION ALL
    SELECT identifier_type, identifier_value, 'subscriber_id', subscriber_id, 'email_click',
           occurred_at
    FROM events WHERE subscriber_id IS NOT NULL AND identifier_value IS NOT NULL
)
SELECT identifier_type, identifier_value, known_type, via,
       MIN(occurred_at) AS first_seen_at, MAX(occurred_at) AS last_seen_at,
       COUNT(*) AS evidence, known_value,
       LOWER(TRIM(identifier_value)) IN ({_JUNK_SQL}) AS junk_identifier,
       LOWER(TRIM(known_value)) IN ({_JUNK_SQL}) AS junk_known
FROM claims
GROUP BY ALL
"""
# Each known id belongs to one profile, so joining the index after grouping by known value
# gives what joining before would; the grouping, the costly part, needs no profiles at all.
_CLAIMS_SQL = """
SELECT e.*, i.profile_id
FROM ({evidence}) AS e
LEFT JOIN (SELECT * FROM {index} WHERE identifier_type IN ('customer_id', 'subscriber_id')) i
       ON i.identifier_type = e.known_type AND i.identifier_value = e.known_value
"""


def evidence_sql(scope: str | None = None, since: int | None = None) -> str:
    """SQL of the stitching evidence from the events: one row per (cookie or device, known id,
    via) with counts and first/last seen, before any profile is known. With `scope` (a table of
    identifier_type, identifier_value), for those identifiers only; with `since`, from the
    events of ingest loads after that load id only."""
    sql = _EVIDENCE_SQL
    for kind in ("anonymous_id", "device_id"):
        only = (
            f"AND {kind} IN (SELECT identifier_value FROM {scope} WHERE identifier_type = '{kind}')"
            if scope
            else ""
        )
        fresh = f"AND _load_id > {int(since)}" if since is not None else ""
        sql = sql.replace(f"/*{kind}*/", f"{only} {fresh}")
    return sql


# The evidence of every event, kept between runs so that an incremental run reads the claims of
# the identifiers it re-stitches from it instead of scanning every event (events are only ever
# appended; erasure drops the table, and the next run builds it again from the events left).
# Rows are partial sums: one per (identifier, known id, via) and load batch, summed on reading.
EVIDENCE_TABLE = "stitching_evidence"
SCOPED_EVIDENCE_SQL = f"""
SELECT identifier_type, identifier_value, known_type, via, MIN(first_seen_at) AS first_seen_at,
       MAX(last_seen_at) AS last_seen_at, CAST(SUM(evidence) AS BIGINT) AS evidence,
       known_value, junk_identifier, junk_known
FROM {EVIDENCE_TABLE} SEMI JOIN {{scope}} USING (identifier_type, identifier_value)
GROUP BY identifier_type, identifier_value, known_type, via, known_value, junk_identifier,
         junk_known
"""


STAGED_EVIDENCE = f"{EVIDENCE_TABLE}_next"


def stage_evidence_sql() -> str:
    """SQL writing every event's evidence to STAGED_EVIDENCE, outside the run's transaction
    (a full run does it on its second core while records are prepared); `write_stitching`
    then makes it EVIDENCE_TABLE by a rename."""
    return f"CREATE OR REPLACE TABLE {STAGED_EVIDENCE} AS {evidence_sql()}"


def add_fresh_evidence(con: duckdb.DuckDBPyConnection, since: int) -> str:
    """Add the evidence of the events loaded after load `since` to EVIDENCE_TABLE (built from
    every event if it is missing) and return the name of a temp table holding that fresh
    evidence alone."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_evidence AS {evidence_sql(since=since)}")
    [(kept,)] = con.execute(
        f"SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = '{EVIDENCE_TABLE}' "
        "AND NOT temporary"
    ).fetchall()
    if kept:
        con.execute(f"INSERT INTO {EVIDENCE_TABLE} SELECT * FROM fresh_evidence")
    else:
        con.execute(f"CREATE TABLE {EVIDENCE_TABLE} AS {evidence_sql()}")
    return "fresh_evidence"


_RULES_SQL = """
CREATE OR REPLACE TEMP TABLE stitch_claims AS
WITH claims AS ({claims}),
limits AS (
    SELECT identifier_type, identifier_value, COUNT(DISTINCT profile_id) AS profiles,
           COUNT(DISTINCT CASE WHEN known_type = 'customer_id' THEN known_value END) AS accounts
    FROM claims WHERE NOT (junk_identifier OR junk_known) AND profile_id IS NOT NULL
    GROUP BY identifier_type, identifier_value
)
SELECT c.identifier_type, c.identifier_value, c.profile_id, c.via, c.evidence,
       c.first_seen_at, c.last_seen_at,
       CASE WHEN c.junk_identifier OR c.junk_known THEN 'blocked_value'
            WHEN c.profile_id IS NULL THEN 'unknown_identifier'
            WHEN l.profiles > {max_profiles} THEN 'shared_identifier'
            WHEN COALESCE(l.accounts, 0) > {max_accounts} THEN 'several_user_ids'
       END AS rule
FROM claims AS c
LEFT JOIN limits AS l
       ON l.identifier_type = c.identifier_type AND l.identifier_value = c.identifier_value
"""
# The ways a claim arises (the `via` of _EVIDENCE_SQL), in name order: a link lists the ways it
# was claimed as STRING_AGG(DISTINCT via ORDER BY via) would, without an ordered aggregate,
# which took half the statement at a million identifiers.
VIAS = ("email_click", "identify", "logged_in_event")
_LINKS_SQL = f"""
SELECT identifier_type, identifier_value, profile_id, CAST(SUM(evidence) AS BIGINT) AS evidence,
       MIN(first_seen_at) AS first_seen_at, MAX(last_seen_at) AS last_seen_at,
       CONCAT_WS(',', {", ".join(f"CASE WHEN BOOL_OR(via = '{v}') THEN '{v}' END" for v in VIAS)})
       AS via
FROM stitch_claims WHERE rule IS NULL
GROUP BY identifier_type, identifier_value, profile_id
ORDER BY identifier_type, identifier_value, profile_id
"""
_AUDIT_SQL = """
SELECT identifier_type, identifier_value, rule, COUNT(DISTINCT profile_id) AS profiles,
       CAST(SUM(evidence) AS BIGINT) AS evidence
FROM stitch_claims WHERE rule IS NOT NULL
GROUP BY identifier_type, identifier_value, rule
ORDER BY CASE rule WHEN 'blocked_value' THEN 1 WHEN 'unknown_identifier' THEN 2
                   WHEN 'shared_identifier' THEN 3 ELSE 4 END, identifier_type, identifier_value
"""


def _build_claims(
    con: duckdb.DuckDBPyConnection,
    scope: str | None,
    evidence: str | None = None,
    index: str = "identity_index",
) -> None:
    """Temp table `stitch_claims`: every claim with the rule refusing it (NULL: kept).
    `evidence`: a table or view already holding `evidence_sql(scope)`'s rows, if computed;
    `index`: where the known ids' profiles are read (identity_index, or the entries of the
    known ids the claims name, read beforehand: features.identity.restitch)."""
    claims = _CLAIMS_SQL.format(evidence=f"SELECT * FROM {evidence}" if evidence
                                else evidence_sql(scope), index=index)  # fmt: skip
    limits = {"max_profiles": MAX_PROFILES_PER_IDENTIFIER,
              "max_accounts": MAX_ACCOUNTS_PER_IDENTIFIER}  # fmt: skip
    con.execute(_RULES_SQL.format(claims=claims, **limits))


def stitch_devices(
    con: duckdb.DuckDBPyConnection,
    scope: str | None = None,
    *,
    evidence: str | None = None,
    index: str = "identity_index",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (links, audit) from the events in the warehouse and the current identity index;
    with `scope` (a table of identifier_type, identifier_value), for those identifiers only,
    their claims read from table `evidence` if given (SCOPED_EVIDENCE_SQL's rows, from the
    evidence kept), else from the events. `index` may name a table holding the identity
    index's entries of the claimed known ids, if the caller has read them already.

    links: identifier_type, identifier_value, profile_id, evidence, first/last_seen_at, via.
    audit: identifier_type, identifier_value, rule, profiles, evidence.
    """
    _build_claims(con, scope, evidence if scope else None, index)
    links, audit = con.execute(_LINKS_SQL).df(), con.execute(_AUDIT_SQL).df()
    con.execute("DROP TABLE stitch_claims")
    return links, audit


def write_stitching(
    con: duckdb.DuckDBPyConnection, run_id: int, evidence: str | None = None
) -> tuple[int, int]:
    """Replace `anonymous_links`, `stitching_audit` and EVIDENCE_TABLE from the current index and
    the events, and add the linked identifiers to `identity_index`; all in SQL, inside the
    caller's transaction.
    `evidence` names a table holding `evidence_sql()`'s rows, if it was written beforehand
    (`stage_evidence_sql`); it becomes EVIDENCE_TABLE. Returns (linked, refused identifiers)."""
    _build_claims(con, None, evidence)
    if evidence:
        con.execute(f"DROP TABLE IF EXISTS {EVIDENCE_TABLE}")
        con.execute(f"ALTER TABLE {evidence} RENAME TO {EVIDENCE_TABLE}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {EVIDENCE_TABLE} AS {evidence_sql()}")
    con.execute(f"CREATE OR REPLACE TABLE anonymous_links AS {_LINKS_SQL}")
    con.execute(
        f"CREATE OR REPLACE TABLE stitching_audit AS SELECT *, {int(run_id)} AS run_id"
        f" FROM ({_AUDIT_SQL}) AS audit"
    )
    con.execute(
        "INSERT INTO identity_index SELECT identifier_type, identifier_value, profile_id"
        " FROM anonymous_links"
    )
    [(links,)] = con.execute("SELECT COUNT(*) FROM anonymous_links").fetchall()
    [(refused,)] = con.execute("SELECT COUNT(*) FROM stitching_audit").fetchall()
    con.execute("DROP TABLE stitch_claims")
    return int(links), int(refused)


_CLAIMERS_SQL = """
SELECT DISTINCT 'anonymous_id' AS identifier_type, anonymous_id AS identifier_value,
       user_id AS known_value, 'shop_customers' AS source FROM web_events WHERE user_id IS NOT NULL
UNION SELECT 'anonymous_id', anonymous_id, user_id, 'shop_customers' FROM app_events
      WHERE user_id IS NOT NULL
UNION SELECT 'device_id', device_id, user_id, 'shop_customers' FROM app_events
      WHERE user_id IS NOT NULL
UNION SELECT 'anonymous_id', anonymous_id, subscriber_id, 'email_subscribers' FROM web_events
      WHERE subscriber_id IS NOT NULL
"""


def evaluate_stitching(
    con: duckdb.DuckDBPyConnection, records_truth: pd.DataFrame, anonymous_truth: pd.DataFrame
) -> dict[str, object]:
    """Stitching against a generated world's truth.

    over_merges: identifiers linked to a profile although the ids that claimed them belong to
    two or more true people (the rules must keep this at zero). attributed_shared: identifiers
    truth knows are shared (a family tablet) but on which only one person ever logged in, so
    the data holds no evidence of sharing; linked to that person, reported, not a merge.
    """
    links = con.execute("SELECT identifier_type, identifier_value FROM anonymous_links").df()
    claimers = (
        con.execute(_CLAIMERS_SQL)
        .df()
        .merge(
            records_truth.rename(columns={"record_id": "known_value"}), on=["source", "known_value"]
        )
    )
    key = ["identifier_type", "identifier_value"]
    people = claimers.groupby(key)["person_id"].nunique().rename("claiming_people")
    users = anonymous_truth.groupby(key)["person_id"].nunique().rename("true_users")
    checked = links.join(people, on=key).join(users, on=key)
    return {
        "stitched_identifiers": len(links),
        "truth_identifiers": int(users.size),
        "coverage": len(links) / users.size if users.size else 0.0,
        "over_merges": int((checked["claiming_people"] > 1).sum()),
        "attributed_shared": int((checked["true_users"] > 1).sum()),
    }
