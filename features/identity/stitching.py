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
from features.identity.profiles import joined_labels

MAX_PROFILES_PER_IDENTIFIER = 1
# Segment's "user_id limit 1": a cookie or device logged into by two different shop accounts is
# not stitched, even when both accounts resolved to one profile, because that profile may itself
# be a wrong merge and the device would then cement it.
MAX_ACCOUNTS_PER_IDENTIFIER = 1

_JUNK_SQL = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(JUNK_IDENTIFIERS))
_CLAIMS_SQL = f"""
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
SELECT c.identifier_type, c.identifier_value, c.known_type, c.via,
       MIN(c.occurred_at) AS first_seen_at, MAX(c.occurred_at) AS last_seen_at,
       COUNT(*) AS evidence, c.known_value,
       LOWER(TRIM(c.identifier_value)) IN ({_JUNK_SQL}) AS junk_identifier,
       LOWER(TRIM(c.known_value)) IN ({_JUNK_SQL}) AS junk_known,
       i.profile_id
FROM claims c
LEFT JOIN (SELECT * FROM identity_index WHERE identifier_type IN ('customer_id', 'subscriber_id')) i
       ON i.identifier_type = c.known_type AND i.identifier_value = c.known_value
GROUP BY ALL
"""


def stitch_devices(
    con: duckdb.DuckDBPyConnection, scope: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (links, audit) from the events in the warehouse and the current identity index;
    with `scope` (a table of identifier_type, identifier_value), for those identifiers only.

    links: identifier_type, identifier_value, profile_id, via, evidence, first/last_seen_at.
    audit: identifier_type, identifier_value, rule, profiles, evidence.
    """
    sql = _CLAIMS_SQL
    for kind in ("anonymous_id", "device_id"):
        only = (
            f"AND {kind} IN (SELECT identifier_value FROM {scope} WHERE identifier_type = '{kind}')"
        )
        sql = sql.replace(f"/*{kind}*/", only if scope else "")
    claims = con.execute(sql).df()
    audit = []
    blocked = claims["junk_identifier"] | claims["junk_known"]
    audit.append(_audit(claims[blocked], "blocked_value"))
    usable = claims[~blocked]
    unknown = usable["profile_id"].isna()
    audit.append(_audit(usable[unknown], "unknown_identifier"))
    known = usable[~unknown]
    key = ["identifier_type", "identifier_value"]
    profiles = known.groupby(key)["profile_id"].nunique().rename("profiles")
    accounts = (
        known[known["known_type"] == "customer_id"].groupby(key)["known_value"].nunique()
        .rename("accounts")
    )  # fmt: skip
    known = known.join(profiles, on=key).join(accounts, on=key)
    shared = known["profiles"] > MAX_PROFILES_PER_IDENTIFIER
    audit.append(_audit(known[shared], "shared_identifier"))
    several = ~shared & (known["accounts"].fillna(0) > MAX_ACCOUNTS_PER_IDENTIFIER)
    audit.append(_audit(known[several], "several_user_ids"))
    shared |= several
    kept = known[~shared]
    links = (
        kept.groupby([*key, "profile_id"])
        .agg(
            evidence=("evidence", "sum"),
            first_seen_at=("first_seen_at", "min"),
            last_seen_at=("last_seen_at", "max"),
        )
        .join(joined_labels(kept, [*key, "profile_id"], "via").rename("via"))
        .reset_index()
        .sort_values(key, kind="stable")
        .reset_index(drop=True)
    )
    return links, pd.concat(audit, ignore_index=True)


def _audit(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    key = ["identifier_type", "identifier_value"]
    if rows.empty:
        return pd.DataFrame(columns=[*key, "rule", "profiles", "evidence"])
    grouped = rows.groupby(key).agg(
        profiles=("profile_id", "nunique"), evidence=("evidence", "sum")
    )
    return grouped.reset_index().assign(rule=rule)[[*key, "rule", "profiles", "evidence"]]


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
