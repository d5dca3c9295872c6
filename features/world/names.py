"""Name pools with real frequencies, nicknames, and the email addresses people build from names.

First and last names come from Faker's en_US pools with their census-like weights, so Smith and
Johnson are really common and exact-name collisions between different people happen as often as
they do in real customer bases. Names are kept as integer codes into a vocabulary until a record
is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.strings import (
    from_byte_matrix,
    join,
    replace_where,
    take,
    to_digit_matrix,
    to_vocabulary,
)

# Mail providers of US consumers, roughly by share; the last block are small ISPs and employers.
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.42), ("yahoo.com", 0.12), ("hotmail.com", 0.06), ("outlook.com", 0.07),
    ("icloud.com", 0.08), ("aol.com", 0.04), ("comcast.net", 0.03), ("msn.com", 0.015),
    ("att.net", 0.02), ("live.com", 0.02), ("verizon.net", 0.01), ("protonmail.com", 0.01),
    ("sbcglobal.net", 0.015), ("me.com", 0.01), ("bellsouth.net", 0.01), ("charter.net", 0.01),
    ("cox.net", 0.01), ("ymail.com", 0.005), ("mac.com", 0.005),
)  # fmt: skip
GMAIL = 0  # index of gmail.com in EMAIL_DOMAINS
_HANDLE_WORDS = ("hiker", "trail", "summit", "peak", "camp", "outdoor", "climb", "ski", "river")

# Local-part patterns and how often people pick them.
_PATTERN_WEIGHTS = np.array([0.22, 0.14, 0.14, 0.05, 0.10, 0.08, 0.10, 0.04, 0.04, 0.05, 0.04])


@dataclass(frozen=True)
class NamePools:
    """First names (with nicknames appended) and last names, with sampling weights."""

    first: pa.StringArray
    male: np.ndarray  # codes of male first names
    male_weight: np.ndarray
    female: np.ndarray
    female_weight: np.ndarray
    last: pa.StringArray
    last_weight: np.ndarray
    nickname_start: (
        np.ndarray
    )  # nicknames of first-name code c: nickname_codes[start[c]:start[c+1]]
    nickname_codes: np.ndarray


def build_name_pools() -> NamePools:
    """Faker's weighted en_US pools plus every nickname the `nicknames` package knows for them."""
    from faker.providers.person.en_US import Provider
    from nicknames import NickNamer

    male_names = list(Provider.first_names_male)
    female_names = list(Provider.first_names_female)
    given = male_names + female_names
    index = {name: i for i, name in enumerate(given)}
    namer = NickNamer()
    extra: list[str] = []
    counts: list[int] = []
    codes: list[int] = []
    for name in given:  # a few hundred names: the to_vocabulary, not the people
        found = sorted(
            n.title()
            for n in namer.nicknames_of(name)
            if n.isascii() and n.isalpha() and len(n) >= 2 and n.title() != name
        )
        for nickname in found:
            if nickname not in index:
                index[nickname] = len(given) + len(extra)
                extra.append(nickname)
            codes.append(index[nickname])
        counts.append(len(found))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    male_w = np.array(list(Provider.first_names_male.values()))
    female_w = np.array(list(Provider.first_names_female.values()))
    last_w = np.array(list(Provider.last_names.values()))
    return NamePools(
        first=to_vocabulary(given + extra),
        male=np.arange(len(male_names)),
        male_weight=male_w / male_w.sum(),
        female=np.arange(len(male_names), len(given)),
        female_weight=female_w / female_w.sum(),
        last=to_vocabulary(list(Provider.last_names)),
        last_weight=last_w / last_w.sum(),
        nickname_start=np.concatenate([starts, np.full(len(extra), starts[-1])]),
        nickname_codes=np.array(codes, dtype=np.int64),
    )


def draw_first_names(pools: NamePools, rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """First-name codes by gender, weighted by frequency."""
    codes = rng.choice(pools.female, size=len(male), p=pools.female_weight)
    men = np.flatnonzero(male)
    codes[men] = rng.choice(pools.male, size=len(men), p=pools.male_weight)
    return codes


def draw_last_names(pools: NamePools, rng: np.random.Generator, rows: int) -> np.ndarray:
    """Last-name codes weighted by frequency."""
    return rng.choice(len(pools.last), size=rows, p=pools.last_weight)


def draw_nicknames(
    pools: NamePools, rng: np.random.Generator, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A nickname code for each first-name code, and whether the name has any nickname."""
    start = pools.nickname_start[first]
    count = pools.nickname_start[first + 1] - start
    has = count > 0
    pick = start + np.floor(rng.random(len(first)) * np.maximum(count, 1)).astype(np.int64)
    nickname = np.where(
        has, pools.nickname_codes[np.minimum(pick, len(pools.nickname_codes) - 1)], first
    )
    return nickname, has


def canonicalize_gmail(emails: pa.Array) -> pa.Array:
    """The mailbox an address delivers to: lower case, and for gmail without dots in the name."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    gmail = pc.ends_with(lowered, "@gmail.com")
    local = pc.replace_substring(pc.replace_substring_regex(lowered, "@.*$", ""), ".", "")
    return pc.if_else(gmail, join(local, "gmail.com", sep="@"), lowered)


def draw_email_addresses(
    rng: np.random.Generator,
    first: pa.Array,
    last: pa.Array,
    birth_year: np.ndarray,
    taken: pa.Array | None = None,
) -> pa.Array:
    """One plausible personal address per person (john.smith84@gmail.com, jsmith@yahoo.com, ...).

    Addresses are unique by mailbox (gmail ignores dots) among themselves and against `taken`;
    a clash gets a number appended, as a mail provider would have forced at sign-up.
    """
    rows = len(first)
    f = pc.utf8_lower(first)
    lname = pc.utf8_lower(last)
    fi = pc.utf8_slice_codeunits(f, 0, 1)
    li = pc.utf8_slice_codeunits(lname, 0, 1)
    year = from_byte_matrix(to_digit_matrix(birth_year % 100, 2))
    digits = pa.array(rng.integers(1, 10_000, rows)).cast(pa.string())
    two = from_byte_matrix(to_digit_matrix(rng.integers(0, 100, rows), 2))
    nn = pc.if_else(pa.array(rng.random(rows) < 0.5), year, two)
    word = take(to_vocabulary(_HANDLE_WORDS), rng.integers(0, len(_HANDLE_WORDS), rows))
    patterns = [
        join(f, lname, sep="."),
        join(f, lname),
        join(fi, lname),
        join(f, lname, sep="_"),
        join(join(f, lname, sep="."), nn),
        join(f, digits),
        join(fi, lname, nn),
        join(lname, f, sep="."),
        join(f, li, sep="."),
        join(word, f, nn),
        join(f, li, nn),
    ]
    choice = rng.choice(len(patterns), size=rows, p=_PATTERN_WEIGHTS / _PATTERN_WEIGHTS.sum())
    local = patterns[0]
    for k in range(1, len(patterns)):
        local = replace_where(local, choice == k, patterns[k])
    domain_p = np.array([d[1] for d in EMAIL_DOMAINS])
    domain = take(
        to_vocabulary([d[0] for d in EMAIL_DOMAINS]),
        rng.choice(len(EMAIL_DOMAINS), size=rows, p=domain_p / domain_p.sum()),
    )
    emails = join(local, domain, sep="@")
    prior = 0 if taken is None else len(taken)
    while True:
        everything = canonicalize_gmail(
            emails if taken is None else pa.concat_arrays([taken, emails])
        )
        codes = pc.dictionary_encode(everything).indices.to_numpy()
        _, first_index = np.unique(codes, return_index=True)
        clash = np.ones(len(codes), dtype=bool)
        clash[first_index] = False
        clash = clash[prior:]
        if not clash.any():
            return emails
        suffix = pa.array(rng.integers(2, 1000, rows)).cast(pa.string())
        bumped = join(
            join(pc.replace_substring_regex(emails, "@.*$", ""), suffix),
            pc.replace_substring_regex(emails, "^[^@]*@", ""),
            sep="@",
        )
        emails = replace_where(emails, clash, bumped)
