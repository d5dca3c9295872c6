"""Canonical forms and junk detection for matching: what counts as evidence, and what never does.

Ingest already normalised values (lower-case emails, E.164 phones). Matching needs more: the
same gmail box under dot and +tag variants, nicknames of one given name, and placeholder values
('test@test.com', '+10000000000', 'unknown') that real systems are full of and that must never
make two people one. Junk is recognised two ways: a fixed list of well-known placeholders, and
from the data itself (a value carried by records of many different names is not an identifier
of one person), so a data set's own placeholders are caught without being listed here.
"""

from __future__ import annotations

import re
from functools import lru_cache

JUNK_EMAIL_LOCAL = frozenset(
    {"test", "noemail", "no-email", "none", "null", "na", "n/a", "no", "nomail", "email",
     "abc", "asdf", "xxx", "donotreply", "noreply", "no-reply", "unknown", "example", "fake"}
)  # fmt: skip
JUNK_EMAIL_DOMAINS = frozenset({"test.com", "example.com", "example.org", "email.com", "none.com"})
JUNK_NAMES = frozenset(
    {"test", "null", "none", "unknown", "n/a", "na", "customer", "guest", "anonymous", "x", "xx",
     "xxx", "mr", "mrs", "ms", "dr", "nobody", "noname", "tbd", "fake"}
)  # fmt: skip
JUNK_IDENTIFIERS = frozenset(
    {"", "0", "-1", "1", "null", "none", "nil", "nan", "undefined", "anonymous", "unknown", "n/a",
     "na", "test", "guest", "default", "00000000-0000-0000-0000-000000000000"}
)  # fmt: skip
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# Large consumer mailbox providers. A domain one typing error away from exactly one of them, and
# not itself one of them, is that provider mistyped (gmial.com, hotmial.com, yahoo.con): such an
# address is the person's own mailbox with a slip of the finger, not another mailbox. Names of
# fewer than four letters (me.com, msn.com, att.net) are never corrected: one edit from them
# lands on too many real domains.
MAILBOX_PROVIDERS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "hotmail.com",
     "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com",
     "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "charter.net",
     "cox.net", "earthlink.net", "optonline.net", "frontier.com", "windstream.net",
     "protonmail.com", "proton.me", "mail.com", "gmx.com", "gmx.net", "gmx.de", "web.de",
     "zoho.com", "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "naver.com",
     "hotmail.co.uk", "yahoo.co.uk", "btinternet.com", "sky.com", "virginmedia.com",
     "orange.fr", "free.fr", "laposte.net", "wanadoo.fr", "libero.it", "t-online.de",
     "hotmail.fr", "yahoo.fr", "yahoo.ca", "shaw.ca", "rogers.com", "sympatico.ca",
     "bigpond.com", "optusnet.com.au", "xtra.co.nz", "fastmail.com", "hey.com", "tutanota.com"}
)  # fmt: skip
_REPEATED_DIGITS = re.compile(r"^\+?(\d)\1{6,}$")
_SEQUENCE_DIGITS = ("0123456789", "1234567890", "9876543210")


def canonical_email(email: str | None) -> str | None:
    """One form per mailbox: gmail dots and +tags removed, googlemail as gmail; junk -> None."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    domain = corrected_domain(domain)
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    if not local or local in JUNK_EMAIL_LOCAL or domain in JUNK_EMAIL_DOMAINS:
        return None
    return f"{local}@{domain}"


@lru_cache(maxsize=100_000)
def corrected_domain(domain: str) -> str:
    """The mailbox provider `domain` is a one-edit typo of (substitution, insertion, deletion or
    transposition), if exactly one provider is that close; else `domain` itself."""
    if domain in MAILBOX_PROVIDERS:
        return domain
    from features.identity.metrics import damerau_levenshtein

    close = [
        provider
        for provider in sorted(MAILBOX_PROVIDERS)
        if len(provider.split(".", 1)[0]) >= 4
        and abs(len(provider) - len(domain)) <= 1
        and damerau_levenshtein(provider, domain) == 1
    ]
    return close[0] if len(close) == 1 else domain


def is_junk_phone(phone: str | None) -> bool:
    """All one digit, counting sequences, or too short to be a subscriber number."""
    if not phone:
        return True
    digits = phone.lstrip("+")
    if _REPEATED_DIGITS.match(phone) or len(digits) < 7:
        return True
    national = digits[-10:]
    if len(set(national)) <= 2:  # +10000000000, +11111111111, +12222222222
        return True
    return any(seq in digits for seq in _SEQUENCE_DIGITS)


def canonical_phone(phone: str | None) -> str | None:
    """The E.164 phone, or None for junk."""
    return None if is_junk_phone(phone) else phone


def canonical_name(name: str | None) -> str | None:
    """Lower-case letters only ('O'Brien' -> 'obrien'); placeholders -> None."""
    if not name:
        return None
    clean = re.sub(r"[^a-z]", "", name.lower())
    if not clean or clean in JUNK_NAMES or name.strip().lower() in JUNK_NAMES:
        return None
    return clean


def is_junk_identifier(value: str | None) -> bool:
    """Placeholder cookie / device / user ids that many unrelated people share."""
    return value is None or value.strip().lower() in JUNK_IDENTIFIERS


@lru_cache(maxsize=1)
def _nicknamer():
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=200_000)
def name_aliases(first_name: str | None) -> tuple[str, ...]:
    """The name and the formal names it may be a nickname of ('bill' -> bill, william, ...)."""
    if not first_name:
        return ()
    names = {first_name}
    namer = _nicknamer()
    names |= {re.sub(r"[^a-z]", "", n) for n in namer.canonicals_of(first_name)}
    names |= {re.sub(r"[^a-z]", "", n) for n in namer.nicknames_of(first_name)}
    return tuple(sorted(n for n in names if n))
