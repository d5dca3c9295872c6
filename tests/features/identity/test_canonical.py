from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.identity.canonical import (
    canonical_email,
    canonical_name,
    canonical_phone,
    is_junk_identifier,
    name_aliases,
)
from features.identity.records import parse_dates, prepare_records


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith+shop@gmail.com", "johnsmith@gmail.com"),
        ("j.o.h.n.smith@googlemail.com", "johnsmith@gmail.com"),
        ("john.smith+x@outlook.com", "john.smith@outlook.com"),
        ("test@test.com", None),
        ("noemail@example.com", None),
        ("null", None),
        (None, None),
        # a provider's domain mistyped is that provider's mailbox
        ("j.smith@gmial.com", "jsmith@gmail.com"),
        ("jsmith@gamil.com", "jsmith@gmail.com"),
        ("jsmith@yaho.com", "jsmith@yahoo.com"),
        ("jsmith@hotmail.con", "jsmith@hotmail.com"),
        # real domains, and typos of short or of two providers at once, stay as they are
        ("jsmith@mail.com", "jsmith@mail.com"),
        ("jsmith@ymail.com", "jsmith@ymail.com"),
        ("jsmith@msm.com", "jsmith@msm.com"),
        ("jsmith@acme-outdoor.com", "jsmith@acme-outdoor.com"),
    ],
)
def test_canonical_email(raw, expected) -> None:
    assert canonical_email(raw) == expected


def test_a_domain_close_to_two_providers_is_not_guessed() -> None:
    from features.identity.canonical import MAILBOX_PROVIDERS, corrected_domain

    assert {"gmail.com", "ymail.com", "mail.com"} <= MAILBOX_PROVIDERS
    assert corrected_domain("xmail.com") == "xmail.com"  # one edit from all three
    assert corrected_domain("gmaill.com") == "gmail.com"


@pytest.mark.parametrize(
    ("phone", "kept"),
    [("+12125550134", True), ("+10000000000", False), ("+11111111111", False),
     ("+11234567890", False), ("+447946", False), (None, False)],
)  # fmt: skip
def test_junk_phones_are_never_evidence(phone, kept) -> None:
    assert (canonical_phone(phone) is not None) is kept


def test_names_lose_punctuation_and_placeholders() -> None:
    assert canonical_name("O'Brien") == "obrien"
    assert canonical_name("Unknown") is None
    assert canonical_name("TEST") is None


def test_nickname_aliases_connect_both_directions() -> None:
    assert "william" in name_aliases("bill")
    assert "bill" in name_aliases("william")
    assert not set(name_aliases("william")) & set(name_aliases("margaret"))


def test_a_shared_nickname_does_not_make_two_names_one() -> None:
    from features.identity.clusters import is_nickname, names_compatible

    assert is_nickname("bill", "william") and is_nickname("william", "bill")
    # Melissa and Elizabeth are both "Lisa": two names all the same, mostly two housemates.
    assert set(name_aliases("melissa")) & set(name_aliases("elizabeth"))
    assert not is_nickname("melissa", "elizabeth")
    assert not names_compatible(("melissa", "morgan"), ("elizabeth", "morgan"))
    assert names_compatible(("liz", "morgan"), ("elizabeth", "morgan"))


@pytest.mark.parametrize("value", ["0", "null", "undefined", "anonymous", " NULL ", ""])
def test_junk_identifiers(value) -> None:
    assert is_junk_identifier(value)
    assert not is_junk_identifier("ck_8f3a2b")


def test_dates_refuse_ambiguous_forms() -> None:
    parsed = parse_dates(pd.Series(["1980-02-03", "19800203", "03/02/1980", "19800231"]))
    assert [str(d) if d is not None and not pd.isna(d) else None for d in parsed] == [
        "1980-02-03", "1980-02-03", None, None,
    ]  # fmt: skip


def test_prepare_records_roles_and_junk() -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2"],
            "name": ["Bill  SMITH", "Ann Marie Lee"],
            "mail": ["Bill.Smith@GMail.com", "test@test.com"],
            "tel": ["(212) 555-0134", "000-000-0000"],
        }
    )
    roles = {"record_id": "id", "full_name": "name", "email": "mail", "phone": "tel"}
    out = prepare_records(frame, roles)
    assert out.loc[0, "first_name"] == "bill" and out.loc[0, "last_name"] == "smith"
    assert out.loc[1, "first_name"] == "ann" and out.loc[1, "last_name"] == "lee"
    assert out.loc[0, "email"] == "billsmith@gmail.com" and out.loc[0, "email_user"] == "billsmith"
    assert out.loc[0, "phone"] == "+12125550134"
    assert out.loc[1, "email"] is None and out.loc[1, "phone"] is None  # junk is not evidence
    assert "william" in out.loc[0, "first_name_aliases"]


@given(st.emails())
def test_canonical_email_is_idempotent(email: str) -> None:
    once = canonical_email(email.lower())
    assert once is None or canonical_email(once) == once


def test_single_record_path_equals_the_batch_path() -> None:
    from features.identity.records import prepare_one

    frame = pd.DataFrame(
        {
            "record_id": [str(i) for i in range(8)],
            "first_name": ["BILL", " mary  ann ", "null", "O'Brien", None, "Zoë", "nan", "Bob"],
            "last_name": ["smith", "Lee", "Unknown", "o'brien", "Ng", "Ünal", "Ray", None],
            "dob": ["1980-02-03", "19800203", "03/02/1980", None, "19800231", "1990/01/05", "",
                    "x"],
            "email": [" Bill.Smith+x@GMail.com", "test@test.com", None, "a@b.co", "n/a", "Z@X.ORG",
                      "noemail@example.com", "bob@mail.com"],
            "phone": ["(212) 555-0134", "0000000000", "+44 20 7946 0958", None, "call me",
                      "212.555.0199", "1234567890", "n/a"],
            "postcode": ["02110", " sw1a  1aa ", None, "-", "12345", "x", None, "99999"],
            "city": ["Boston", "LONDON", None, "New York", "n/a", "Zürich", None, "x"],
            "address": ["1 Main Street", "2 High Road Apt 3", None, "N/A", "5 Elm Avenue", "", "x",
                        "7 Oak Dr"],
        }
    )  # fmt: skip
    roles = {c: c for c in frame.columns}
    batch = prepare_records(frame, roles)
    for i, row in enumerate(frame.to_dict("records")):
        single = prepare_one(row)
        for column in batch.columns:
            expected, got = batch.loc[i, column], single.get(column)
            if isinstance(expected, list) or isinstance(got, list):
                assert list(expected or []) == list(got or []), (i, column)
            elif expected is None or (not isinstance(expected, str) and pd.isna(expected)):
                assert got is None or pd.isna(got), (i, column, got)
            else:
                assert str(expected) == str(got), (i, column, expected, got)


@given(st.one_of(
    st.from_regex(r"[0-9]{4}(-|/|)[0-9]{1,2}(-|/|)[0-9]{1,2}", fullmatch=True),
    st.from_regex(r"1[5-9][0-9]{2}-[01][0-9]-[0-3][0-9]", fullmatch=True),
    st.sampled_from(["1980-2-3", "1500-01-01", "2262-04-12", "2259-12-31", "1700-01-01",
                     "20001301", "1980-02/03", "١٩٨٠-٠٢-٠٣", "1980-02-29", "1900-02-29"]),
))  # fmt: skip
def test_single_record_dates_equal_the_batch_dates(text: str) -> None:
    from features.identity.records import _parse_date

    [batch] = parse_dates(pd.Series([text]))
    single = _parse_date(text)
    assert (single is None and pd.isna(batch)) or single == batch, (text, single, batch)


@pytest.mark.parametrize("value", ["null", "NULL", " null ", "None", "n/a", "0", "test@test.com"])
def test_placeholder_emails_are_no_evidence(value: str) -> None:
    from features.identity.records import prepare_one

    assert prepare_one({"email": value, "last_name": "Lee"})["email"] is None
