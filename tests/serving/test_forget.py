"""The right to be forgotten through the service and the CLI, on the served home (world, profiles,
online store, both champions, scores): after POST /forget nothing of the person is served,
matched, exported, scored or stored, and replaying their events through POST /events brings
nothing back."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.features.privacy.scan import identifiers_of, pick_person, scan_home
from tests.serving.conftest import AT, clone
from tests.serving.test_cli import cdp


@pytest.fixture(scope="module")
def forgotten(served_home, small_world, tmp_path_factory):
    """(client, keys, state, values, profile id, golden record, receipt) after the erasure."""
    from fastapi.testclient import TestClient

    from serving.api import build_api
    from serving.keys import add_key
    from serving.state import ServingState

    settings = clone(served_home, tmp_path_factory.mktemp("forget"))
    person_id, profile_id = pick_person(settings.warehouse_path, small_world / "truth")
    values = identifiers_of(settings.home, profile_id, person_id, small_world)
    state = ServingState(settings).start(background=False)
    api = build_api()
    api.state.cdp = state
    keys = {role: add_key(settings, role, f"forget-{role}")[1] for role in ("agent", "admin")}
    columns = ("first_name", "last_name", "email", "phone", "date_of_birth")
    row = (
        state.store()
        .con.execute(
            f"SELECT {', '.join(columns)} FROM profiles WHERE profile_id = ?", (profile_id,)
        )
        .fetchone()
    )
    golden = dict(zip(columns, row, strict=True))
    with TestClient(api) as client:
        before = _post(client, "next_best_offer", _by("email", golden["email"]), keys["agent"])
        assert before.status_code == 200
        assert before.json()["profile"]["profile_id"] == profile_id
        matched = _post(client, "match", golden, keys["agent"]).json()
        assert matched["profile_id"] == profile_id
        assert profile_id in state.models.offers.lists
        denied = _post(client, "forget", _by("email", golden["email"]), keys["agent"])
        assert denied.status_code == 403
        answer = _post(
            client,
            "forget",
            {"identifier": {"type": "email", "value": golden["email"]}},
            keys["admin"],
        )
        assert answer.status_code == 200, answer.text
        yield client, keys, state, values, profile_id, golden, answer.json()


def _by(kind: str, value: str) -> dict:
    return {"identifier": {"type": kind, "value": value}}


def _post(client, path: str, body: dict, key: str | None = None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(f"/{path}", json=body, headers=headers)


def test_the_service_no_longer_knows_them(forgotten) -> None:
    client, keys, state, values, profile_id, golden, receipt = forgotten
    assert receipt["rows_removed"] > 0 and receipt["identifier_type"] == "email"
    assert not [v for v in values if v.lower() in json.dumps(receipt).lower()]
    assert sorted(receipt["models_marked"]) == ["nbo_ranker:1", "propensity:1"]
    for kind in ("email", "phone", "profile_id"):
        value = profile_id if kind == "profile_id" else golden[kind]
        for path in ("next_best_offer", "profile"):
            assert _post(client, path, _by(kind, value), keys["agent"]).status_code == 404
    assert _post(client, "match", golden, keys["agent"]).json()["profile_id"] != profile_id
    assert profile_id not in state.models.offers.lists


def test_forgetting_again_is_a_no_op_and_a_stranger_is_404(forgotten) -> None:
    client, keys, _, _, _, golden, receipt = forgotten
    again = _post(client, "forget", _by("email", golden["email"]), keys["admin"]).json()
    assert again["already_erased"] and again["erasure_id"] == receipt["erasure_id"]
    assert again["rows_removed"] == 0
    stranger = _post(client, "forget", _by("email", "nobody.ever@nowhere.example"), keys["admin"])
    assert stranger.status_code == 404 and stranger.json()["error"] == "NotFoundError"


def test_replayed_events_are_blocked(forgotten, small_world) -> None:
    client, keys, _, values, _, _, _ = forgotten
    web = pd.read_parquet(small_world / "web_events.parquet")
    mine = web[web["anonymous_id"].isin(values) | web["user_id"].isin(values)].head(200)
    assert len(mine)
    events = [{"source": "web_events", "event": {k: (None if pd.isna(v) else str(v))
                                                 for k, v in row.items()}}
              for row in mine.to_dict("records")]  # fmt: skip
    answer = _post(client, "events", {"events": events}, keys["admin"]).json()
    assert answer["blocked"] == len(mine) and answer["applied"] == 0
    assert answer["affected_profiles"] == []


def test_no_store_or_export_holds_them(forgotten, tmp_path) -> None:
    _, _, state, values, _, _, _ = forgotten
    home = state.settings.home
    files = {"identity": tmp_path / "identity.csv", "audience": tmp_path / "audience.csv",
             "features": tmp_path / "features.parquet"}  # fmt: skip
    runs = [
        cdp("identity", "export", "--out", str(files["identity"]), home=home),
        cdp(
            "audience",
            "export",
            "--target",
            "any",
            "--min-score",
            "0",
            "--channel",
            "email",
            "--at",
            AT,
            "--out",
            str(files["audience"]),
            home=home,
        ),
        cdp("features", "build", "--as-of", AT, "--out", str(files["features"]), home=home),
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    features = tmp_path / "features.csv"
    pd.read_parquet(files["features"]).to_csv(features, index=False)
    assert len(pd.read_csv(files["identity"])) > 1_000
    assert scan_home(home, values, [files["identity"], files["audience"], features]) == {}


def test_cli_forget_and_models(forgotten) -> None:
    _, _, state, _, _, golden, receipt = forgotten
    home = state.settings.home
    again = cdp("forget", "--identifier", f"email={golden['email']}", "--json", home=home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["erasure_id"] == receipt["erasure_id"]
    assert cdp("forget", "--identifier", "email=no.one@nowhere.example", home=home).returncode == 4
    assert cdp("forget", "--identifier", "email", home=home).returncode == 2
    listed = json.loads(cdp("models", "--json", home=home).stdout)
    assert {r["retrain_needed_after_erasure"] for r in listed} == {receipt["erasure_id"]}
