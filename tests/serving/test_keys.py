"""API keys: made once, stored only as hashes, verified by role, revoked at once."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from features.errors import ConfigError, ForbiddenError, NotFoundError, UnauthorizedError
from serving.cli import app
from serving.keys import KeyRing, add_key, keys_path, list_keys, revoke_key


def test_a_key_is_stored_only_as_a_hash_and_verifies_to_its_role(settings):
    name, key = add_key(settings, "marketer", "campaigns")
    assert name == "campaigns" and key.startswith("cdp_")
    dump = "\n".join(sqlite3.connect(keys_path(settings)).iterdump())
    secret = key.split("_", 2)[2]  # cdp_<id>_<secret>; the secret itself may contain "_"
    assert len(secret) == 43 and key not in dump and secret not in dump
    caller = KeyRing(settings).verify(f"Bearer {key}")
    assert (caller.name, caller.role) == ("campaigns", "marketer")
    caller.require("audience")
    with pytest.raises(ForbiddenError):
        caller.require("next_best_offer")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer cdp_nope", "Bearer cdp_0123456789ab_" + "A" * 43],
)
def test_missing_or_unknown_keys_are_refused(settings, header):
    add_key(settings, "agent")
    with pytest.raises(UnauthorizedError):
        KeyRing(settings).verify(header)


def test_a_tampered_secret_is_refused(settings):
    _name, key = add_key(settings, "admin")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(UnauthorizedError):
        KeyRing(settings).verify(f"Bearer {tampered}")


def test_revoked_keys_stop_working_and_names_are_unique(settings):
    _name, key = add_key(settings, "agent", "desk-1")
    ring = KeyRing(settings)
    ring.verify(f"Bearer {key}")
    revoke_key(settings, "desk-1")
    with pytest.raises(UnauthorizedError):
        ring.verify(f"Bearer {key}")
    with pytest.raises(NotFoundError):
        revoke_key(settings, "desk-1")
    with pytest.raises(ConfigError):
        add_key(settings, "agent", "desk-1")
    with pytest.raises(ConfigError):
        add_key(settings, "superuser")
    assert [k["revoked_at"] is not None for k in list_keys(settings)] == [True]


def test_cli_prints_the_key_once_alone_on_its_last_line(settings):
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    made = runner.invoke(app, [*home, "keys", "add", "--role", "agent", "--name", "desk-2"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    KeyRing(settings).verify(f"Bearer {key}")
    listed = runner.invoke(app, [*home, "keys", "list"])
    assert "desk-2" in listed.stdout and key not in listed.stdout
    assert runner.invoke(app, [*home, "keys", "revoke", "desk-2"]).exit_code == 0
    with pytest.raises(UnauthorizedError):
        KeyRing(settings).verify(f"Bearer {key}")
