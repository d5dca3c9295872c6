"""Person fields as one source system writes them: names, phones, emails, addresses.

Each renderer reads the person's true state as of the record's date (maiden name before a
marriage, old address before a move) and applies that system's habits: nicknames and capitals,
phone layouts, stray spaces, junk placeholders, missing values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.config import WorldConfig
from features.world.geo import Geography, render_addresses
from features.world.names import NamePools, draw_nicknames
from features.world.noise import (
    JUNK_EMAILS,
    JUNK_PHONES,
    apply_typos,
    capitalize_emails,
    draw_junk,
    draw_mask,
    format_phones,
    pad_whitespace,
    swap_names,
)
from features.world.population import Population
from features.world.strings import (
    repeat_string,
    replace_where,
    set_null_where,
    take,
    upper_where,
)


@dataclass(frozen=True)
class NameNoise:
    """How one system damages names."""

    nickname_rate: float = 0.0
    all_caps_rate: float = 0.0
    lower_rate: float = 0.02


def render_names(
    cfg: WorldConfig,
    pop: Population,
    pools: NamePools,
    person: np.ndarray,
    day: np.ndarray,
    rng: np.random.Generator,
    noise: NameNoise,
) -> tuple[pa.Array, pa.Array]:
    """First and last name of `person` as of `day`, with the system's nickname, case and typos."""
    rows = len(person)
    first_code = pop.first_name[person]
    if noise.nickname_rate > 0:
        nickname, has = draw_nicknames(pools, rng, first_code)
        # Scale so the share among all rows (not only names with a nickname) meets the rate.
        p = min(1.0, noise.nickname_rate / max(float(has.mean()) if rows else 0.0, 1e-9))
        first_code = np.where(has & (rng.random(rows) < p), nickname, first_code)
    first = take(pools.first, first_code)
    last = take(pools.last, pop.last_name_at(person, day))
    typo = draw_mask(rng, rows, cfg.name_typo_rate)
    on_first = rng.random(rows) < 0.5
    first = apply_typos(first, typo & on_first, rng)
    last = apply_typos(last, typo & ~on_first, rng)
    first, last = swap_names(first, last, draw_mask(rng, rows, cfg.name_swap_rate))
    caps = draw_mask(rng, rows, noise.all_caps_rate)
    lower = ~caps & draw_mask(rng, rows, noise.lower_rate)
    first, last = upper_where(first, caps), upper_where(last, caps)
    first = replace_where(first, lower, pc.utf8_lower(first))
    last = replace_where(last, lower, pc.utf8_lower(last))
    first = pad_whitespace(first, draw_mask(rng, rows, cfg.whitespace_rate / 2), rng)
    last = pad_whitespace(last, draw_mask(rng, rows, cfg.whitespace_rate / 2), rng)
    return first, last


def render_phones(
    cfg: WorldConfig,
    pop: Population,
    person: np.ndarray,
    present_rate: float,
    rng: np.random.Generator,
    weights: tuple[float, ...],
) -> pa.Array:
    """A phone per record: the mobile, or the household landline, in a typed layout; or junk."""
    rows = len(person)
    landline = pop.landline[person]
    use_landline = (landline > 0) & (
        (pop.mobile[person] == 0) | (rng.random(rows) < cfg.landline_use_rate)
    )
    number = np.where(use_landline, landline, pop.mobile[person])
    number = np.where(rng.random(rows) < present_rate, number, 0)
    phones = format_phones(number, rng, weights)
    junk = draw_mask(rng, rows, cfg.junk_phone_rate)
    return replace_where(phones, junk, draw_junk(rng, rows, JUNK_PHONES))


def render_emails(
    cfg: WorldConfig, source: pa.Array, rng: np.random.Generator, junk_rate: float = 0.0
) -> pa.Array:
    """Emails as typed: occasional upper case, stray spaces, and junk placeholders."""
    rows = len(source)
    email = capitalize_emails(source, draw_mask(rng, rows, cfg.email_case_rate), rng)
    email = pad_whitespace(email, draw_mask(rng, rows, cfg.whitespace_rate), rng)
    junk = draw_mask(rng, rows, junk_rate)
    return replace_where(email, junk, draw_junk(rng, rows, JUNK_EMAILS))


def render_address_columns(
    cfg: WorldConfig,
    geo: Geography,
    pop: Population,
    person: np.ndarray,
    day: np.ndarray,
    rng: np.random.Generator,
    missing_rate: float,
) -> dict[str, pa.Array]:
    """address_line, city, postcode (old address before a move) and country_code."""
    rows = len(person)
    line, city, postcode = render_addresses(
        geo, pop.addresses, pop.address_at(person, day), rng, cfg.address_abbreviation_rate
    )
    missing = draw_mask(rng, rows, missing_rate)
    country = repeat_string("US", rows)
    return {
        "address_line": set_null_where(line, missing),
        "city": set_null_where(city, missing),
        "postcode": set_null_where(postcode, missing),
        "country_code": set_null_where(country, missing),
    }
