"""The service in-process (its ASGI app over the real stores and the MLflow champions): roles,
4xx cases, next-best-offer suppression, events and their freshness."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pytest

from serving.keys import add_key, revoke_key

pytestmark = pytest.mark.slow

ENDPOINTS = {
    "next_best_offer": {"identifier": {"type": "profile_id", "value": "PID"}, "k": 3},
    "profile": {"identifier": {"type": "profile_id", "value": "PID"}},
    "match": {"first_name": "Ann", "last_name": "Lee"},
    "propensity": {"profile_ids": ["PID"], "target": "any"},
    "audience": {"target": "any", "top_n": 10, "channel": "email"},
    "suppression": {"product_id": "prd_00001", "platform": "google"},
    "events": {"events": [{"source": "consents", "event": {"consent_id": "c-role-test"}}]},
}
ALLOWED = {
    "agent": {"next_best_offer", "profile", "match"},
    "marketer": {"propensity", "audience", "suppression"},
    "admin": set(ENDPOINTS),
}


def _buyer(state) -> tuple[str, str, str]:
    """A profile with an email, a shop account and offers the ranker made personally."""
    con = state.store().con
    rows = con.execute(
        "SELECT e.entity_id, e.identifier_value, c.identifier_value FROM identifiers e "
        "JOIN identifiers c ON c.entity_id = e.entity_id AND c.identifier_type = 'customer_id' "
        "WHERE e.identifier_type = 'email' ORDER BY e.entity_id"
    ).fetchall()
    for profile_id, email, customer in rows:
        emails = con.execute("SELECT COUNT(DISTINCT entity_id) FROM identifiers WHERE "
                             "identifier_type = 'email' AND identifier_value = ?",
                             (email,)).fetchone()[0]  # fmt: skip
        if emails == 1 and profile_id in state.models.offers.lists:
            return profile_id, email, customer
    raise AssertionError("no unambiguous buyer in the small world")


def _post(client, path, body, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(f"/{path}", json=body, headers=headers)


def test_role_matrix_and_keys(service):
    client, keys, state = service
    profile_id = _buyer(state)[0]
    for role, key in keys.items():
        for path, body in ENDPOINTS.items():
            body = _replace(body, profile_id)
            status = _post(client, path, body, key).status_code
            if path in ALLOWED[role]:
                assert status not in (401, 403), (role, path, status)
            else:
                assert status == 403, (role, path, status)
    for path, body in ENDPOINTS.items():
        assert _post(client, path, body).status_code == 401
        assert _post(client, path, body, "cdp_000000000000_" + "x" * 43).status_code == 401
        bad = client.post(f"/{path}", json=body, headers={"Authorization": keys["admin"]})
        assert bad.status_code == 401  # no 'Bearer'


def test_a_revoked_key_stops_working_at_once(service):
    client, _keys, state = service
    _name, key = add_key(state.settings, "agent", "short-lived")
    body = ENDPOINTS["match"]
    assert _post(client, "match", body, key).status_code == 200
    revoke_key(state.settings, "short-lived")
    assert _post(client, "match", body, key).status_code == 401


def _replace(body: dict, profile_id: str) -> dict:
    import json

    return json.loads(json.dumps(body).replace("PID", profile_id))


def test_next_best_offer_by_email_never_offers_what_the_person_owns(service):
    client, keys, state = service
    profile_id, email, _customer = _buyer(state)
    answer = _post(client, "next_best_offer", {"identifier": {"type": "email",
                                                              "value": f"  {email.upper()} "},
                                               "k": 5}, keys["agent"])  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["profile"]["profile_id"] == profile_id
    assert body["personal"] is True
    assert 1 <= len(body["offers"]) <= 5
    assert [o["rank"] for o in body["offers"]] == list(range(1, len(body["offers"]) + 1))
    assert all(o["reasons"] for o in body["offers"])
    owned = {o["product_id"] for o in state.store().get_owned_products(profile_id)}
    assert not owned & {o["product_id"] for o in body["offers"]}
    assert {s["product_id"] for s in body["suppressed"]} <= owned
    assert body["model"]["version"] == state.models.offers.version
    assert set(body["profile"]["consents"]) == {
        "email_marketing",
        "advertising",
        "personalization",
        "profiling",
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"identifier": {"type": "email", "value": "nobody.here@nowhere.example"}}, 404, None),
        ({"identifier": {"type": "phone", "value": "0000000000"}}, 422, None),
        ({"identifier": {"type": "anonymous_id", "value": "null"}}, 422, None),
        ({}, 422, "identifier"),
        ({"identifier": {"type": "fax", "value": "1"}}, 422, "identifier.type"),
        ({"identifier": {"type": "email", "value": "a@b.co"}, "k": 0}, 422, "k"),
        ({"identifier": {"type": "email", "value": "a@b.co"}, "colour": 1}, 422, "colour"),
        ({"identifier": {"type": "email", "value": ""}}, 422, "identifier.value"),
    ],
)
def test_bad_lookups_are_4xx_naming_the_field(service, body, status, field):
    client, keys, _state = service
    answer = _post(client, "next_best_offer", body, keys["agent"])
    assert answer.status_code == status, answer.text
    if field:
        assert answer.json()["message"].startswith(field), answer.json()


def test_a_body_that_is_not_json_is_a_4xx(service):
    client, keys, _state = service
    answer = client.post("/next_best_offer", content=b"{not json",
                         headers={"Authorization": f"Bearer {keys['agent']}",
                                  "Content-Type": "application/json"})  # fmt: skip
    assert 400 <= answer.status_code < 500


def test_profile_and_match_find_the_same_person(service):
    client, keys, state = service
    profile_id, email, _customer = _buyer(state)
    answer = _post(client, "profile", {"identifier": {"type": "email", "value": email}},
                   keys["agent"])  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["golden_record"]["profile_id"] == profile_id
    assert {"type": "email", "value": email} in [
        {"type": i["type"], "value": i["value"]} for i in body["identifiers"]
    ]
    assert body["recent_activity"], "a buyer has activity"
    record = body["golden_record"]
    match = _post(client, "match", {"first_name": record["first_name"],
                                    "last_name": record["last_name"], "email": email},
                  keys["agent"]).json()  # fmt: skip
    assert match["profile_id"] == profile_id
    assert match["match_probability"] >= match["threshold"]
    assert "email" in " ".join(match["explanation"]).lower()


def test_propensity_scores_are_probabilities(service):
    client, keys, state = service
    ids = [r[0] for r in state.store().con.execute(
        "SELECT entity_id FROM online_features ORDER BY entity_id LIMIT 50")]  # fmt: skip
    answer = _post(client, "propensity", {"profile_ids": [*ids, "prf_unknown"], "target": "any"},
                   keys["marketer"])  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    scored = {s["profile_id"]: s["score"] for s in body["scores"]}
    assert body["not_found"] == ["prf_unknown"]
    assert set(scored) | set(body["withheld_no_profiling_consent"]) == set(ids)
    assert all(0.0 <= s <= 1.0 for s in scored.values())
    assert len(set(scored.values())) > 5  # scores differ between people
    wrong = _post(client, "propensity", {"profile_ids": ids[:1], "target": "nothing"},
                  keys["marketer"])  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["message"].startswith("target")


def test_a_purchase_event_is_visible_to_the_next_lookup_and_replays_change_nothing(service):
    client, keys, state = service
    profile_id, email, customer = _buyer(state)
    lookup = {"identifier": {"type": "email", "value": email}, "k": 3}
    first = _post(client, "next_best_offer", lookup, keys["agent"]).json()
    product = first["offers"][0]["product_id"]
    order = {"order_id": "ord_service_test_1", "customer_id": customer, "channel": "web",
             "ordered_at": datetime.now(UTC).isoformat(),
             "lines": [{"line_number": 1, "product_id": product, "quantity": 1,
                        "unit_price": 19.99}]}  # fmt: skip
    events = {"events": [{"source": "orders", "event": order}]}
    started = time.perf_counter()
    applied = _post(client, "events", events, keys["admin"])
    after = _post(client, "next_best_offer", lookup, keys["agent"]).json()
    visible = time.perf_counter() - started
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] == 1 and profile_id in applied.json()["affected_profiles"]
    assert product not in {o["product_id"] for o in after["offers"]}
    assert product in {s["product_id"] for s in after["suppressed"]}
    assert visible < 1.0
    again = _post(client, "events", events, keys["admin"]).json()
    assert again["applied"] == 0 and again["duplicates"] == 1
    con = sqlite3.connect(state.settings.online_store_path)
    rows = con.execute("SELECT COUNT(*) FROM log_purchases WHERE order_id = ?",
                       ("ord_service_test_1",)).fetchone()[0]  # fmt: skip
    assert rows == 1


def test_a_malformed_event_is_rejected_naming_it_and_the_rest_are_applied(service):
    client, keys, _state = service
    good = {"source": "consents", "event": {
        "consent_id": "cns_service_ok", "identifier_type": "email",
        "identifier_value": "someone@mail.example", "purpose": "advertising",
        "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}}  # fmt: skip
    bad = {"source": "orders", "event": {"customer_id": "x", "lines": []}}
    answer = _post(client, "events", {"events": [good, bad]}, keys["admin"])
    assert answer.status_code == 422
    body = answer.json()
    assert body["applied"] == 1
    assert body["rejected"][0]["index"] == 1
    assert "order_id" in body["rejected"][0]["message"]
    unknown = _post(client, "events", {"events": [{"source": "fax", "event": {}}]}, keys["admin"])
    assert unknown.status_code == 422 and "events.0.source" in unknown.json()["message"]


def test_a_new_champion_is_swapped_in_while_requests_keep_being_answered(service):
    import threading

    from mlflow import MlflowClient

    client, keys, state = service
    uri = state.settings.mlflow_uri
    registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
    current = registry.get_model_version_by_alias("nbo_ranker", "champion")
    # A new version of the same artifact: what `cdp promote` does after `cdp train`.
    new = registry.create_model_version("nbo_ranker", current.source, current.run_id)
    registry.set_registered_model_alias("nbo_ranker", "champion", new.version)
    profile_id = _buyer(state)[0]
    body = {"identifier": {"type": "profile_id", "value": profile_id}, "k": 3}
    statuses: list[int] = []
    versions: set[str] = set()
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            answer = _post(client, "next_best_offer", body, keys["agent"])
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                versions.add(answer.json()["model"]["version"])

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        assert state.reload_if_changed() is True
        time.sleep(0.2)
    finally:
        done.set()
        thread.join()
    assert statuses and set(statuses) == {200}
    assert state.models.offers.version == str(new.version)
    assert str(new.version) in versions
    assert state.reload_if_changed() is False  # nothing moved since


def test_an_audience_from_the_service_leaves_out_a_buyer_as_soon_as_the_purchase_arrives(service):
    client, keys, state = service
    con = state.store().con
    product = con.execute("SELECT product_id FROM products ORDER BY product_id LIMIT 1").fetchone()[
        0
    ]
    body = {"target": "any", "min_score": 0.0, "channel": "onsite", "product_id": product}
    first = _post(client, "audience", body, keys["marketer"])
    assert first.status_code == 200, first.text
    assert "@" not in first.text  # never a raw email, whatever the format
    members = [m["profile_id"] for m in first.json()["members"]]
    with_account = dict(con.execute(
        "SELECT entity_id, MIN(identifier_value) FROM identifiers WHERE identifier_type = "
        "'customer_id' GROUP BY entity_id").fetchall())  # fmt: skip
    profile_id = next(p for p in members if p in with_account)
    order = {"order_id": "ord_audience_test", "customer_id": with_account[profile_id],
             "channel": "web", "ordered_at": datetime.now(UTC).isoformat(),
             "lines": [{"line_number": 1, "product_id": product, "quantity": 1,
                        "unit_price": 3.0}]}  # fmt: skip
    assert _post(client, "events", {"events": [{"source": "orders", "event": order}]},
                 keys["admin"]).status_code == 200  # fmt: skip
    second = _post(client, "audience", body, keys["marketer"]).json()
    assert profile_id not in {m["profile_id"] for m in second["members"]}
    before = first.json()["counts"]["removed"].get("already_bought", 0)
    assert second["counts"]["removed"]["already_bought"] == before + 1
    hashed = _post(client, "suppression", {"product_id": product, "platform": "meta"},
                   keys["marketer"])  # fmt: skip
    assert hashed.status_code == 200, hashed.text
    assert "@" not in hashed.text


def test_every_authorised_call_is_audited_by_key_id_without_pii(service):
    from features.privacy.audit import read_audit

    client, keys, state = service
    profile_id, email, _customer = _buyer(state)
    before = len(read_audit(state.settings))
    lookup = {"identifier": {"type": "email", "value": email}, "k": 2}
    assert _post(client, "next_best_offer", lookup, keys["agent"]).status_code == 200
    assert _post(client, "propensity", {"profile_ids": [profile_id]},
                 keys["marketer"]).status_code == 200  # fmt: skip
    state.audit.flush()
    entries = read_audit(state.settings)[before:]
    assert [e["action"] for e in entries] == ["next_best_offer", "propensity"]
    agent_id = keys["agent"].split("_")[1]
    assert entries[0]["actor_key_id"] == agent_id and entries[0]["counts"] == {"offers": 2}
    dump = "\n".join(str(e) for e in read_audit(state.settings))
    assert email not in dump and profile_id not in dump
    assert keys["agent"] not in dump and keys["agent"].split("_", 2)[2] not in dump
