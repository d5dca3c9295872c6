"""Real-time updates: one event into the online store's log, then its profiles recomputed.

An event has the columns of its source contract (features/contracts): a purchase is an `orders`
row with its `lines` (order_lines rows); a product view, cart add, identify or email-click
visit is a `web_events` / `app_events` row; an email open or click is an `email_events` row;
also `call_center_interactions` and `consents`. It is normalised exactly as
features.relations normalises the warehouse, appended to the log (an event id seen before
changes nothing), and every profile it touches is recomputed at `at` from its events with the
catalogue's SQL, so the stored row equals a full recompute at that moment.

Identify and logged-in events are also stitching evidence ("claims"): the cookie's or device's
link is re-decided by the rules of features.identity.stitching over all its claims (no junk
values, one profile, one shop account), so a new login can link a cookie (its earlier events
become the profile's from that moment) or, if it contradicts earlier logins, unlink it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from features.definitions import DAY_US
from features.errors import ContractError
from features.event_log import columns_of, to_us
from features.identity.canonical import JUNK_IDENTIFIERS
from features.online.store import OnlineStore, now_us
from features.privacy.blocklist import current_blocklist, event_blocked

SOURCES = ("orders", "web_events", "app_events", "email_events", "call_center_interactions",
           "consents")  # fmt: skip


@dataclass
class Applied:
    """What applying one event did."""

    event_id: str
    duplicate: bool = False
    affected: list[str] = field(default_factory=list)
    relinked: list[str] = field(default_factory=list)
    blocked: bool = False  # holds an erased identifier: not applied (features.privacy)


def round_half_away(value: float) -> int:
    """Round to the nearest integer, halves away from zero (as SQL ROUND on a DOUBLE)."""
    floor = math.floor(value)
    rest = value - floor  # exact for any double of this size
    if rest > 0.5 or (rest == 0.5 and value > 0):
        return int(floor) + 1
    return int(floor)


def _required(event: dict, source: str, *names: str) -> None:
    missing = [n for n in names if event.get(n) in (None, "")]
    if missing:
        raise ContractError(f"{source} event lacks {', '.join(missing)}")


def _time(event: dict, *names: str) -> int:
    for name in names:
        if event.get(name) is not None:
            return to_us(event[name])
    raise ContractError(f"event lacks {' or '.join(names)}")


def _junk(value: str) -> bool:
    # Stitching compares LOWER(TRIM(value)); TRIM strips spaces only.
    return value.strip(" ").lower() in JUNK_IDENTIFIERS


class _Log:
    def __init__(self, store: OnlineStore) -> None:
        self.con = store.con

    def entity(self, identifier_type: str, value: object) -> str | None:
        if value is None:
            return None
        row = self.con.execute(
            "SELECT entity_id FROM identifiers WHERE identifier_type = ? "
            "AND identifier_value = ? AND linked_at IS NULL",
            (identifier_type, str(value)),
        ).fetchone()
        return row[0] if row else None

    def linked(self, identifier_type: str, value: object) -> list[str]:
        if value is None:
            return []
        rows = self.con.execute(
            "SELECT entity_id FROM identifiers WHERE identifier_type = ? AND identifier_value = ?",
            (identifier_type, str(value)),
        ).fetchall()
        return [r[0] for r in rows]

    def category(self, product_id: object) -> str | None:
        if product_id is None:
            return None
        row = self.con.execute(
            "SELECT category FROM products WHERE product_id = ?", (str(product_id),)
        ).fetchone()
        return row[0] if row else None

    def ref_price(self, category: str | None, t: int) -> int | None:
        row = self.con.execute(
            "SELECT ref_price_cents FROM category_prices WHERE category = ? AND valid_from <= ? "
            "AND (valid_to IS NULL OR ? < valid_to)",
            (category, t, t),
        ).fetchone()
        return row[0] if row else None

    def insert(self, table: str, row: dict) -> bool:
        columns = columns_of(table)
        cursor = self.con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join('?' * len(columns))} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE event_id = ?)",
            (*[row.get(c) for c in columns], row["event_id"]),
        )
        return cursor.rowcount == 1

    def claim(self, kind: str, value: str, known_type: str, known_value: str, t: int) -> None:
        self.con.execute(
            "INSERT INTO claims VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "first_at = MIN(first_at, excluded.first_at)",
            (kind, value, known_type, known_value, t),
        )

    def relink(self, kind: str, value: str) -> set[str]:
        """Re-decide one cookie's or device's link from its claims; return profiles changed."""
        old = set(self.con.execute(
            "SELECT entity_id, linked_at FROM identifiers WHERE identifier_type = ? "
            "AND identifier_value = ?", (kind, value)).fetchall())  # fmt: skip
        new = self._decide(kind, value)
        if old == ({new} if new else set()):
            return set()
        self.con.execute(
            "DELETE FROM identifiers WHERE identifier_type = ? AND identifier_value = ?",
            (kind, value),
        )
        if new:
            self.con.execute("INSERT INTO identifiers VALUES (?, ?, ?, ?)", (kind, value, *new))
        changed = {entity for entity, _ in old} | ({new[0]} if new else set())
        if kind == "anonymous_id":
            # App events fall back to their device's profile when the install id has no link,
            # so (un)linking the install id moves them to or from that profile too.
            changed |= {r[0] for r in self.con.execute(
                "SELECT DISTINCT i.entity_id FROM log_behaviour b JOIN identifiers i "
                "ON i.identifier_type = 'device_id' AND i.identifier_value = b.device_id "
                "WHERE b.anonymous_id = ?", (value,)).fetchall()}  # fmt: skip
        return changed

    def _decide(self, kind: str, value: str) -> tuple[str, int] | None:
        if _junk(value):
            return None
        rows = self.con.execute(
            "SELECT c.known_type, c.known_value, c.first_at, i.entity_id FROM claims c "
            "LEFT JOIN identifiers i ON i.identifier_type = c.known_type "
            "AND i.identifier_value = c.known_value "
            "WHERE c.identifier_type = ? AND c.identifier_value = ?",
            (kind, value),
        ).fetchall()
        usable = [r for r in rows if r[3] is not None and not _junk(r[1])]
        profiles = {r[3] for r in usable}
        accounts = {r[1] for r in usable if r[0] == "customer_id"}
        if len(profiles) != 1 or len(accounts) > 1:
            return None
        return profiles.pop(), min(r[2] for r in usable)


def apply_event(store: OnlineStore, source: str, event: dict, at: object | None = None) -> Applied:
    """Append one event to the log and recompute the profiles it touches at `at` (default now).

    An event holding an identifier of an erased person is not applied (`blocked`): replaying
    their old events must not bring them back. Raises ContractError for an unknown source or an
    event missing its id or time.
    """
    if source not in SOURCES:
        raise ContractError(f"unknown event source {source!r}; one of {', '.join(SOURCES)}")
    if event_blocked(current_blocklist(store.home), event, store.phone_region):
        key = (
            "order_id"
            if source == "orders"
            else "consent_id"
            if source == "consents"
            else ("interaction_id" if source == "call_center_interactions" else "event_id")
        )
        return Applied(str(event.get(key)), blocked=True)
    at_us = now_us() if at is None else to_us(at)
    log = _Log(store)
    with store.con:  # the log changes land together or not at all
        applied = _APPLY[source](log, source, event)
    for entity in sorted(set(applied.affected)):
        store.recompute(entity, at_us)
    return applied


def _apply_order(log: _Log, source: str, order: dict) -> Applied:
    _required(order, source, "order_id")
    if not order.get("lines"):
        raise ContractError("an orders event needs its lines")
    t = _time(order, "ordered_at", "at")
    order_id = str(order["order_id"])
    entity = log.entity("customer_id", order.get("customer_id")) or log.entity("order_id", order_id)
    applied = Applied(order_id)
    inserted = 0
    for line in order["lines"]:
        _required(line, "order_lines", "line_number", "product_id", "quantity", "unit_price")
        cents = round_half_away(float(line["unit_price"]) * 100)
        category = log.category(line["product_id"])
        inserted += entity is not None and log.insert("log_purchases", {
            "event_id": f"{order_id}:{int(line['line_number'])}", "entity_id": entity,
            "order_id": order_id, "product_id": str(line["product_id"]), "category": category,
            "quantity": int(line["quantity"]), "unit_price_cents": cents,
            "amount_cents": int(line["quantity"]) * cents,
            "ref_price_cents": log.ref_price(category, t), "channel": order.get("channel"),
            "t": t, "day": t // DAY_US,
        })  # fmt: skip
    applied.duplicate = entity is not None and inserted == 0
    applied.affected = [entity] if inserted else []
    return applied


def _apply_behaviour(log: _Log, source: str, event: dict) -> Applied:
    _required(event, source, "event_id", "type")
    t = _time(event, "occurred_at", "at")
    name = source.removesuffix("_events")
    event_id = f"{name}:{event['event_id']}"
    user, subscriber = event.get("user_id"), event.get("subscriber_id")
    applied = Applied(event_id)
    direct = log.entity("customer_id", user) or log.entity("subscriber_id", subscriber)
    if not log.insert("log_behaviour", {
        "event_id": event_id, "user_entity_id": direct,
        "anonymous_id": event.get("anonymous_id"), "device_id": event.get("device_id"),
        "source": name, "type": event["type"], "product_id": event.get("product_id"),
        "category": log.category(event.get("product_id")), "t": t, "day": t // DAY_US,
    }):  # fmt: skip
        applied.duplicate = True
        return applied
    # The identifiers stitching reads: web cookies; app install ids and devices.
    claimed = [("anonymous_id", event.get("anonymous_id"))]
    if source == "app_events":
        claimed.append(("device_id", event.get("device_id")))
    relinked: set[str] = set()
    for kind, value in claimed:
        if value is None:
            continue
        knowns = [
            (k, v)
            for k, v in (("customer_id", user), ("subscriber_id", subscriber))
            if v is not None
        ]
        for known_type, known_value in knowns:
            log.claim(kind, str(value), known_type, str(known_value), t)
        if knowns:
            relinked |= log.relink(kind, str(value))
    affected = relinked | ({direct} if direct else set())
    for kind, value in [*claimed, ("device_id", event.get("device_id"))]:
        affected |= set(log.linked(kind, value))
    applied.relinked = sorted(relinked)
    applied.affected = sorted(affected)
    return applied


def _apply_keyed(
    table: str, key: str, identifier: str, columns: dict[str, str], required: tuple[str, ...]
):
    def apply(log: _Log, source: str, event: dict) -> Applied:
        _required(event, source, key, *required)
        t = _time(event, "occurred_at", "at")
        entity = log.entity(identifier, event.get(identifier))
        applied = Applied(str(event[key]))
        if entity is None:
            return applied
        row = {"event_id": str(event[key]), "entity_id": entity, "t": t, "day": t // DAY_US}
        row.update({ours: event.get(theirs) for ours, theirs in columns.items()})
        applied.duplicate = not log.insert(table, row)
        applied.affected = [] if applied.duplicate else [entity]
        return applied

    return apply


def _apply_consent(log: _Log, source: str, event: dict) -> Applied:
    _required(event, source, "consent_id", "identifier_type", "identifier_value", "purpose",
              "status")  # fmt: skip
    t = _time(event, "occurred_at", "at")
    applied = Applied(str(event["consent_id"]))
    row = {"event_id": str(event["consent_id"]), "t": t, "day": t // DAY_US}
    row.update({c: event[c] for c in ("identifier_type", "identifier_value", "purpose", "status")})
    applied.duplicate = not log.insert("log_consents", row)
    if not applied.duplicate:
        applied.affected = log.linked(event["identifier_type"], event["identifier_value"])
    return applied


_APPLY = {
    "orders": _apply_order,
    "web_events": _apply_behaviour,
    "app_events": _apply_behaviour,
    "email_events": _apply_keyed("log_email", "event_id", "subscriber_id",
                                 {"type": "type", "category": "promoted_category"},
                                 ("subscriber_id", "type")),
    "call_center_interactions": _apply_keyed("log_calls", "interaction_id", "contact_id",
                                             {"reason": "reason",
                                              "duration_seconds": "duration_seconds"},
                                             ("reason",)),
    "consents": _apply_consent,
}  # fmt: skip
