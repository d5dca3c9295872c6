"""Hashed identifiers for ad platforms: one normaliser per platform, then SHA-256.

Ad platforms match customer lists on SHA-256 digests (lower-case hex) of a normalised email
or phone, so a list only matches when it was normalised exactly as the platform normalises
its own users' data before hashing. The platforms document different rules:

Google Customer Match / Google Ads API ("Customer Match" and "Enhanced conversions:
normalize and hash user-provided data", developers.google.com/google-ads/api/docs):
- email: "Remove leading and trailing whitespaces. Convert the text to lowercase." and
  "Remove all periods (.) that precede the domain name in gmail.com and googlemail.com email
  addresses" (the domain itself is kept: googlemail.com stays googlemail.com);
- phone: "Format phone numbers using the E.164 format", "up to fifteen digits in length
  starting with a + sign (e.g. +12125650000, +442070313000)".

Meta (Marketing API, "Custom Audiences: hashing and normalizing data",
developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences):
- email (EMAIL): "Trim leading and trailing white space and convert all characters to
  lowercase." Dots are kept: Meta documents no provider-specific rule;
- phone (PHONE): "Remove symbols, letters, and any leading zeroes. You should prefix the country
  code" ("phone numbers must include a country code", e.g. 1-234-567-8910 -> 12345678910):
  the E.164 digits without the '+'.

Phones are parsed with `phonenumbers` (the library ingest uses), so every layout of one number
(`(212) 565-0000`, `212.565.0000`, `+1 212 565 0000`, `001 212 565 0000` from abroad) gives one
form; a number without a country code is read in `region` (CDP_PHONE_REGION). A value that is
not an email or a possible phone number normalises to None and is never hashed.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

PLATFORMS = ("google", "meta")
Platform = Literal["google", "meta"]
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_SPACE = re.compile(r"\s")


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 text as 64 lower-case hex digits (what both platforms take)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")


def normalise_email(email: str | None, platform: Platform) -> str | None:
    """The email as `platform` normalises it before hashing, or None when it is not an email.

    Both: surrounding whitespace trimmed, lower case. Google also removes the dots of the local
    part of gmail.com / googlemail.com addresses (the same mailbox for Gmail). An address with
    inner whitespace, without exactly one '@', or with an empty part is not an email.
    """
    _check(platform)
    if email is None:
        return None
    text = email.strip().lower()
    local, at, domain = text.partition("@")
    if not at or not local or not domain or "@" in domain or _SPACE.search(text):
        return None
    if platform == "google" and domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def normalise_phone(phone: str | None, platform: Platform, region: str = "US") -> str | None:
    """The phone as `platform` normalises it before hashing, or None when it is not a possible
    number: E.164 with '+' for Google (+12125650000), its digits without '+' for Meta
    (12125650000). Numbers without a country code are read in `region`."""
    import phonenumbers

    _check(platform)
    if phone is None or not phone.strip():
        return None
    number = _parse_phone(phone, region)
    if number is None:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if platform == "google" else e164.lstrip("+")


def _parse_phone(text: str, region: str):
    """The number `text` is: read in `region`; bare digits that cannot be a number there are
    read as digits carrying their country code (Meta's own normal form), so normalising twice
    changes nothing. None when neither reading is a possible number."""
    import phonenumbers

    readings = [(text, region)]
    if text.strip().isdigit():
        readings.append(("+" + text.strip(), None))
    for raw, where in readings:
        try:
            number = phonenumbers.parse(raw, where)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return number
    return None


def hash_email(email: str | None, platform: Platform) -> str | None:
    """SHA-256 hex of the platform-normalised email (None when it is not an email)."""
    normal = normalise_email(email, platform)
    return None if normal is None else sha256_hex(normal)


def hash_phone(phone: str | None, platform: Platform, region: str = "US") -> str | None:
    """SHA-256 hex of the platform-normalised phone (None when it is not a possible number)."""
    normal = normalise_phone(phone, platform, region)
    return None if normal is None else sha256_hex(normal)
