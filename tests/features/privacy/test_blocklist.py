"""The block list's salt and hashes, the door checks (ingest rows, real-time events, quarantined
raw values) and the audit log, on small hand-made inputs."""

from __future__ import annotations

import json

import pandas as pd

from features.privacy.audit import append_audit, read_audit
from features.privacy.blocklist import (
    Blocklist,
    add_blocked,
    connect_privacy,
    current_blocklist,
    event_blocked,
    hash_value,
    mask_bad_records,
    read_salt,
    split_blocked,
)
from features.settings import load_settings


def _block(home, *pairs: tuple[str, str]) -> Blocklist:
    salt = read_salt(home, create=True)
    con = connect_privacy(home)
    with con:
        add_blocked(con, salt, pairs, "era_test", "2026-01-01T00:00:00")
    con.close()
    return Blocklist(home)


def test_each_home_has_its_own_secret_salt(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert read_salt(a) is None and not Blocklist(a)  # no erasure yet: nothing to check
    salt_a, salt_b = read_salt(a, create=True), read_salt(b, create=True)
    assert len(salt_a) == 32 and salt_a != salt_b and read_salt(a) == salt_a
    assert (a / "privacy_salt").stat().st_mode & 0o777 == 0o600
    assert hash_value(salt_a, "jane@x.example") != hash_value(salt_b, "jane@x.example")
    blocked = _block(a, ("email", "jane@x.example"))
    stored = connect_privacy(a).execute("SELECT * FROM blocked_identifiers").fetchall()
    assert "jane" not in json.dumps(stored)
    assert blocked.is_blocked("jane@x.example") and not blocked.is_blocked("john@x.example")


def test_rows_and_events_of_erased_identifiers_are_stopped(tmp_path) -> None:
    home = tmp_path / "h"
    blocked = _block(home, ("email", "jane@x.example"), ("phone", "+12125550134"),
                     ("anonymous_id", "cookie-123456"))  # fmt: skip
    rows = pd.DataFrame({"event_id": ["e1", "e2", "e3"],
                         "anonymous_id": ["cookie-123456", "cookie-999999", None],
                         "user_id": [None, None, "cust_1"], "_row_number": [1, 2, 3]})  # fmt: skip
    kept, dropped = split_blocked(rows, blocked)
    assert dropped == [1] and kept["event_id"].tolist() == ["e2", "e3"]
    assert event_blocked(blocked, {"event_id": "x", "guest_email": " JANE@x.example"})
    assert event_blocked(blocked, {"consent_id": "c", "identifier_type": "phone",
                                   "identifier_value": "(212) 555-0134"})  # fmt: skip
    order = {"order_id": "o", "lines": [{"order_id": "o"}], "guest_email": "jane@x.example"}
    assert event_blocked(blocked, order)
    assert not event_blocked(blocked, {"event_id": "y", "anonymous_id": "cookie-999999"})
    reasons, records = mask_bad_records(
        ["bad date", "bad date"],
        [json.dumps({"email": "Jane@X.example", "created_at": "x"}),
         json.dumps({"email": "john@x.example", "created_at": "x"})], blocked)  # fmt: skip
    assert reasons == ["erased", "bad date"] and records[0] is None and "john" in records[1]


def test_the_cached_block_list_sees_a_new_erasure(tmp_path) -> None:
    home = tmp_path / "h"
    _block(home, ("email", "a@x.example"))
    assert current_blocklist(home).is_blocked("a@x.example")
    assert not current_blocklist(home).is_blocked("b@x.example")
    _block(home, ("email", "b@x.example"))
    assert current_blocklist(home).is_blocked("b@x.example")


def test_audit_log_appends_counts(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "h")
    assert read_audit(settings) == []
    append_audit(settings, "key_1", "forget", {"rows_removed": 3})
    append_audit(settings, "key_2", "events", {"applied": 1})
    entries = read_audit(settings)
    assert [e["action"] for e in entries] == ["forget", "events"]
    assert read_audit(settings, "forget")[0]["counts"] == {"rows_removed": 3}
    assert entries[0]["actor_key_id"] == "key_1"


def test_ingest_drops_erased_rows_and_keeps_the_accounting(tmp_path) -> None:
    from features.ingest import ingest_folder

    settings = load_settings(home=tmp_path / "h")
    _block(settings.home, ("email", "jane@x.example"))
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({
        "subscriber_id": ["sub_1", "sub_2", "sub_3"],
        "email": ["JANE@x.example", "john@x.example", " Jane@X.example"],
        "first_name": ["Jane", "John", "Jane"], "status": ["subscribed"] * 3,
        "subscribed_at": ["2024-01-01T00:00:00", "2024-01-01T00:00:00", "yesterday"],
    }).to_csv(folder / "email_subscribers.csv", index=False)  # fmt: skip
    (result,) = ingest_folder(settings, folder)
    assert result.status == "loaded", result.message
    assert result.rows_in == 3 == result.rows_loaded + result.rows_quarantined
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = con.execute("SELECT subscriber_id FROM email_subscribers").fetchall()
        quarantined = con.execute("SELECT reason, record FROM quarantine").fetchall()
    assert loaded == [("sub_2",)]
    assert quarantined == [("erased", None), ("erased", None)]  # a bad row of theirs too
    assert "jane" not in json.dumps(quarantined).lower()
