"""Per-platform normalisers and SHA-256: the platforms' documented examples, then properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from serving.activation.hashing import (
    PLATFORMS,
    hash_email,
    hash_phone,
    normalise_email,
    normalise_phone,
    sha256_hex,
)

# Examples from the platforms' own pages (module docstring of serving.activation.hashing).
PHONES = [
    ("google", "+12125650000", "+12125650000"),  # Google Ads API: E.164 example
    ("google", "+44 20 7031 3000", "+442070313000"),  # Google Ads API: E.164 example
    ("google", "(212) 565-0000", "+12125650000"),  # a US layout, read in region US
    ("meta", "1-234-567-8910", "12345678910"),  # Meta customer list example
    ("meta", "+44 844 412 4653", "448444124653"),  # Meta customer list example
    ("meta", "(657) 777-0000", "16577770000"),  # US number without country code gets it
    ("meta", "448444124653", "448444124653"),  # already normalised: unchanged
]
EMAILS = [
    ("google", "  Jane.Doe@Gmail.com ", "janedoe@gmail.com"),  # dots before gmail.com go
    ("google", "j.a.n.e@googlemail.com", "jane@googlemail.com"),  # domain itself is kept
    ("google", "Jane.Doe@Example.com", "jane.doe@example.com"),  # dots elsewhere stay
    ("meta", "  Jane.Doe@Gmail.com ", "jane.doe@gmail.com"),  # Meta: trim + lower only
    ("meta", "jane doe@example.com", None),  # not an email
    ("google", "no-at-sign.example.com", None),
    ("google", "...@gmail.com", None),  # nothing left of the mailbox
]


@pytest.mark.parametrize(("platform", "raw", "expected"), PHONES)
def test_phones_normalise_as_the_platforms_document(platform, raw, expected) -> None:
    assert normalise_phone(raw, platform) == expected
    digest = hash_phone(raw, platform)
    assert digest == (None if expected is None else hashlib.sha256(expected.encode()).hexdigest())


def test_a_number_without_country_code_reads_in_the_region() -> None:
    assert normalise_phone("0044 844 412 4653", "meta", region="GB") == "448444124653"
    assert normalise_phone("0844 412 4653", "meta", region="GB") == "448444124653"
    assert normalise_phone("020 7031 3000", "google", region="GB") == "+442070313000"


@pytest.mark.parametrize(("platform", "raw", "expected"), EMAILS)
def test_emails_normalise_as_the_platforms_document(platform, raw, expected) -> None:
    assert normalise_email(raw, platform) == expected
    assert hash_email(raw, platform) == (None if expected is None else sha256_hex(expected))


def test_digests_are_lower_case_hex_sha256() -> None:
    # FIPS 180-2 test vector for "abc".
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("ü") == hashlib.sha256("ü".encode()).hexdigest()  # UTF-8


def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        normalise_email("a@b.com", "tiktok")


platforms = st.sampled_from(PLATFORMS)
local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-+", min_size=1, max_size=12)
domains = st.sampled_from(["gmail.com", "googlemail.com", "example.com", "mail.co.uk"])
emails = st.builds(lambda a, d: f"{a}@{d}", local, domains)
# Real US numbers: area and exchange codes start 2-9.
us_numbers = st.tuples(st.integers(200, 999), st.integers(200, 999), st.integers(0, 9999))


def _case_and_space(text: str, flips: list[bool], pad: str) -> str:
    mixed = "".join(c.upper() if f else c for c, f in zip(text, flips * len(text), strict=False))
    return f"{pad}{mixed}{pad}"


@given(emails, platforms)
def test_email_normalising_is_idempotent(email: str, platform: str) -> None:
    once = normalise_email(email, platform)
    assert once is not None and normalise_email(once, platform) == once


@given(emails, platforms, st.lists(st.booleans(), min_size=1), st.sampled_from(["", " ", "\t "]))
def test_case_and_surrounding_space_never_change_an_email_digest(email, platform, flips, pad):
    assert hash_email(_case_and_space(email, flips, pad), platform) == hash_email(email, platform)


@given(local, st.sampled_from(["gmail.com", "googlemail.com"]), st.integers(1, 11))
def test_gmail_dots_match_on_google_only(name: str, domain: str, at: int) -> None:
    assume(at < len(name))
    dotted, plain = f"{name[:at]}.{name[at:]}@{domain}", f"{name}@{domain}"
    assert hash_email(dotted, "google") == hash_email(plain, "google")
    assert hash_email(dotted, "meta") != hash_email(plain, "meta")
    other = f"{name[:at]}.{name[at:]}@example.com"
    assert hash_email(other, "google") != hash_email(f"{name}@example.com", "google")


@given(us_numbers, platforms)
def test_every_layout_of_a_number_has_one_digest(number, platform) -> None:
    area, exchange, line = number
    layouts = [
        f"({area}) {exchange}-{line:04d}", f"{area}.{exchange}.{line:04d}",
        f"+1 {area} {exchange} {line:04d}", f"{area}{exchange}{line:04d}",
        f"1-{area}-{exchange}-{line:04d}",
    ]  # fmt: skip
    digests = {hash_phone(layout, platform) for layout in layouts}
    assert len(digests) == 1
    normal = normalise_phone(layouts[0], platform)
    assert normal is not None and normalise_phone(normal, platform) == normal  # idempotent
    assert normal.startswith("+1") if platform == "google" else normal.startswith("1")
