"""`cdp audience ...` as a user runs it: the files hold what the library (and so the service)
answers for the same request."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from serving.activation.audience import build_audience
from serving.activation.requests import AudienceRequest, SuppressionRequest
from serving.activation.suppression import build_suppression
from tests.serving.conftest import AT, clone
from tests.serving.test_cli import cdp

COMMANDS = ["score", "export", "suppression"]


def said(result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_audience_commands_explain_themselves(command: str) -> None:
    assert "audience" in cdp("--help").stdout
    result = cdp("audience", command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.slow
def test_an_export_file_is_the_endpoints_answer(activation_home, tmp_path) -> None:
    cli_home, lib_home = clone(activation_home, tmp_path / "cli"), clone(activation_home, tmp_path)
    out = tmp_path / "hashed.json"
    done = cdp("audience", "export", "--target", "any", "--top-n", "25", "--channel", "ads",
               "--format", "hashed", "--platform", "meta", "--category", "tents",
               "--frequency-cap-days", "7", "--at", AT, "--out", str(out),
               home=cli_home.home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    request = AudienceRequest(target="any", top_n=25, channel="ads", format="hashed",
                              platform="meta", category="tents", frequency_cap_days=7)  # fmt: skip
    expected = build_audience(lib_home, request, at=AT)
    assert json.loads(out.read_text()) == json.loads(expected.model_dump_json())
    assert json.loads(done.stdout)["activation_id"] == expected.activation_id

    table = tmp_path / "ids.csv"
    done = cdp("audience", "export", "--target", "any", "--min-score", "0.2", "--channel",
               "email", "--at", AT, "--out", str(table), home=cli_home.home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = build_audience(lib_home, AudienceRequest(target="any", min_score=0.2,
                                                        channel="email"), at=AT)  # fmt: skip
    rows = pd.read_csv(table)
    assert list(rows["profile_id"]) == [m.profile_id for m in expected.members]
    assert list(rows["channel_id"]) == [m.channel_id for m in expected.members]
    assert json.loads(done.stdout)["counts"] == expected.counts.model_dump()


@pytest.mark.slow
def test_a_suppression_file_is_the_endpoints_answer(activation_home, tmp_path) -> None:
    out = tmp_path / "exclude.csv"
    done = cdp("audience", "suppression", "--category", "tents", "--platform", "google",
               "--at", AT, "--out", str(out), home=activation_home.home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = build_suppression(
        activation_home, SuppressionRequest(category="tents", platform="google"), at=AT
    )
    rows = pd.read_csv(out)
    assert list(rows.loc[rows["identifier_type"] == "email", "sha256"]) == expected.hashed_emails
    assert list(rows.loc[rows["identifier_type"] == "phone", "sha256"]) == expected.hashed_phones


@pytest.mark.slow
def test_a_store_without_scores_is_scored_with_the_champion_first(activation_home, tmp_path):
    home = clone(activation_home, tmp_path)
    con = sqlite3.connect(home.online_store_path)
    con.execute("DROP TABLE propensity_scores")
    con.commit()
    con.close()
    out = tmp_path / "a.parquet"
    done = cdp("audience", "export", "--target", "any", "--top-n", "10", "--channel", "email",
               "--at", AT, "--out", str(out), home=home.home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(out)) == 10
    scored = cdp("audience", "score", "--profile", "prf_nobody", "--at", AT, home=home.home)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["all_profiles"] is False


def test_bad_flags_exit_with_the_error_code(tmp_path) -> None:
    common = ["--target", "any", "--channel", "email", "--out", str(tmp_path / "a.json")]
    both = cdp("audience", "export", *common, "--top-n", "5", "--min-score", "0.1",
               home=tmp_path / "h")  # fmt: skip
    assert both.returncode == 2 and "exactly one of min_score or top_n" in said(both)
    hashed = cdp("audience", "export", *common, "--top-n", "5", "--format", "hashed",
                 home=tmp_path / "h")  # fmt: skip
    assert hashed.returncode == 2 and "needs a platform" in said(hashed)
    channel = cdp("audience", "export", *common[:2], "--channel", "sms", "--top-n", "5",
                  "--out", str(tmp_path / "a.json"), home=tmp_path / "h")  # fmt: skip
    assert channel.returncode == 2 and "--channel" in said(channel)
    suffix = cdp("audience", "suppression", "--platform", "meta", "--category", "tents",
                 "--out", str(tmp_path / "a.txt"), home=tmp_path / "h")  # fmt: skip
    assert suffix.returncode == 2 and "a.txt" in said(suffix)
    no_store = cdp("audience", "export", *common, "--top-n", "5", home=tmp_path / "h")
    assert no_store.returncode == 5 and "materialize" in said(no_store)
