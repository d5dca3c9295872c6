"""US geography: states, cities with their ZIP codes, street addresses and phone numbers.

Cities and streets are built from Faker's en_US pools; ZIP codes fall in each state's real range
and each city owns a small block of them, so a postcode agrees with its city the way real ones do.
Phone numbers use real area codes of the person's state and never the fictional 555 exchange, so
`phonenumbers` accepts them as valid US numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.world.strings import (
    from_byte_matrix,
    join,
    set_null_where,
    take,
    to_digit_matrix,
    to_vocabulary,
)

# (state, population in millions, area codes): the weights make Californians common and
# Wyomingites rare, as in a real national retailer's customer base.
STATES: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("AL", 5.1, (205, 251, 256, 334)), ("AK", 0.7, (907,)), ("AZ", 7.4, (480, 520, 602, 623, 928)),
    ("AR", 3.0, (479, 501, 870)),
    ("CA", 39.0, (209, 213, 310, 323, 408, 415, 510, 530, 559, 562, 619, 626, 650, 661, 707, 714,
                  760, 805, 818, 831, 858, 909, 916, 925, 949)),
    ("CO", 5.8, (303, 719, 720, 970)), ("CT", 3.6, (203, 860)), ("DE", 1.0, (302,)),
    ("DC", 0.7, (202,)),
    ("FL", 22.0, (239, 305, 321, 352, 386, 407, 561, 727, 754, 772, 786, 813, 850, 863, 904, 941,
                  954)),
    ("GA", 11.0, (229, 404, 470, 478, 678, 706, 770, 912)), ("HI", 1.4, (808,)),
    ("ID", 1.9, (208,)), ("IL", 12.5, (217, 224, 309, 312, 618, 630, 708, 773, 815, 847)),
    ("IN", 6.8, (219, 260, 317, 574, 765, 812)), ("IA", 3.2, (319, 515, 563, 641, 712)),
    ("KS", 2.9, (316, 620, 785, 913)), ("KY", 4.5, (270, 502, 606, 859)),
    ("LA", 4.6, (225, 318, 337, 504, 985)), ("ME", 1.4, (207,)),
    ("MD", 6.2, (240, 301, 410, 443)), ("MA", 7.0, (339, 413, 508, 617, 774, 781, 978)),
    ("MI", 10.0, (231, 248, 269, 313, 517, 586, 616, 734, 810, 906, 989)),
    ("MN", 5.7, (218, 320, 507, 612, 651, 763, 952)), ("MS", 2.9, (228, 601, 662)),
    ("MO", 6.2, (314, 417, 573, 636, 660, 816)), ("MT", 1.1, (406,)), ("NE", 2.0, (308, 402)),
    ("NV", 3.2, (702, 775)), ("NH", 1.4, (603,)),
    ("NJ", 9.3, (201, 551, 609, 732, 848, 856, 862, 908, 973)), ("NM", 2.1, (505, 575)),
    ("NY", 19.5, (212, 315, 347, 516, 518, 585, 607, 631, 646, 716, 718, 845, 914, 917)),
    ("NC", 10.8, (252, 336, 704, 828, 910, 919, 980)), ("ND", 0.8, (701,)),
    ("OH", 11.8, (216, 234, 330, 419, 440, 513, 567, 614, 740, 937)),
    ("OK", 4.0, (405, 580, 918)), ("OR", 4.2, (458, 503, 541, 971)),
    ("PA", 13.0, (215, 267, 412, 484, 570, 610, 717, 724, 814)), ("RI", 1.1, (401,)),
    ("SC", 5.3, (803, 843, 864)), ("SD", 0.9, (605,)),
    ("TN", 7.0, (423, 615, 731, 865, 901, 931)),
    ("TX", 30.0, (210, 214, 254, 281, 325, 361, 409, 430, 432, 469, 512, 682, 713, 737, 806, 817,
                  830, 832, 903, 915, 936, 940, 956, 972, 979)),
    ("UT", 3.4, (385, 435, 801)), ("VT", 0.65, (802,)),
    ("VA", 8.7, (276, 434, 540, 571, 703, 757, 804)), ("WA", 7.8, (206, 253, 360, 425, 509)),
    ("WV", 1.8, (304,)), ("WI", 5.9, (262, 414, 608, 715, 920)), ("WY", 0.58, (307,)),
)  # fmt: skip

# Real street suffixes with their USPS abbreviation, weighted by how common they are; Faker's
# uniform list of 225 would make "Burgs" as frequent as "Street".
SUFFIXES: tuple[tuple[str, str, float], ...] = (
    ("Street", "St", 0.25), ("Avenue", "Ave", 0.17), ("Road", "Rd", 0.12), ("Drive", "Dr", 0.12),
    ("Lane", "Ln", 0.08), ("Court", "Ct", 0.05), ("Way", "Way", 0.05), ("Boulevard", "Blvd", 0.04),
    ("Place", "Pl", 0.04), ("Circle", "Cir", 0.03), ("Trail", "Trl", 0.03),
    ("Parkway", "Pkwy", 0.02),
)  # fmt: skip

COMMON_STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Walnut",
    "Sunset", "Lincoln", "Jackson", "Church", "River", "Highland", "Willow", "Spring", "Meadow",
    "Forest", "Ridge", "Chestnut", "Franklin", "Adams", "Jefferson", "Madison", "Mill", "Center",
    "Prospect", "Broad", "Dogwood", "Hickory", "Birch", "Aspen", "1st", "2nd", "3rd", "4th", "5th",
    "6th", "7th", "8th", "9th", "10th", "11th", "12th",
)  # fmt: skip


@dataclass(frozen=True)
class Geography:
    """Lookup tables of states, cities and street names shared by every address."""

    state_codes: tuple[str, ...]
    state_weight: np.ndarray
    area_codes: np.ndarray  # all area codes, grouped by state
    area_code_start: np.ndarray  # first index into area_codes of each state (+ end)
    city_names: pa.StringArray
    city_state: np.ndarray
    city_zip_base: np.ndarray
    city_zip_span: np.ndarray
    city_start: np.ndarray  # first city of each state (+ end); cities are grouped by state
    city_weight: np.ndarray  # within-state probability of each city
    street_names: pa.StringArray
    street_weight: np.ndarray
    suffix_long: pa.StringArray
    suffix_short: pa.StringArray
    suffix_weight: np.ndarray


@dataclass(frozen=True)
class Addresses:
    """Street addresses as codes; rendered to text per record so each source writes its own way."""

    number: np.ndarray
    street: np.ndarray
    suffix: np.ndarray
    unit: np.ndarray  # 0 = no apartment or suite
    unit_kind: np.ndarray  # 0 = "Apt.", 1 = "Suite"
    city: np.ndarray
    postcode: np.ndarray

    def __len__(self) -> int:
        return len(self.number)

    def state(self, geo: Geography, index: np.ndarray) -> np.ndarray:
        """State index of addresses."""
        return geo.city_state[self.city[index]]


def build_geography(rng: np.random.Generator) -> Geography:
    """Cities per state (more for populous states), their ZIP blocks, and street name pools."""
    from faker.providers.address.en_US import Provider as AddressProvider
    from faker.providers.person.en_US import Provider as PersonProvider

    codes = tuple(s[0] for s in STATES)
    population = np.array([s[1] for s in STATES])
    zip_ranges = np.array([AddressProvider.states_postcode[c] for c in codes])
    area_lists = [s[2] for s in STATES]
    area_start = np.concatenate([[0], np.cumsum([len(a) for a in area_lists])])
    cities_per_state = 3 + np.round(population * 5).astype(np.int64)
    city_state = np.repeat(np.arange(len(codes)), cities_per_state)
    city_start = np.concatenate([[0], np.cumsum(cities_per_state)])
    count = len(city_state)
    rank = np.arange(count) - city_start[city_state] + 1
    city_weight = 1.0 / rank**0.9  # a few big cities, many small towns
    city_weight /= np.bincount(city_state, weights=city_weight)[city_state]
    lo, hi = zip_ranges[city_state, 0], zip_ranges[city_state, 1]
    span = np.minimum(rng.integers(1, 16, size=count), hi - lo + 1)
    base = lo + np.floor(rng.random(count) * (hi - lo + 2 - span)).astype(np.int64)

    first = to_vocabulary(sorted(set(PersonProvider.first_names)))
    last = to_vocabulary(list(PersonProvider.last_names))
    prefixes = to_vocabulary(list(AddressProvider.city_prefixes))
    suffixes = to_vocabulary(list(AddressProvider.city_suffixes))
    person_first = take(first, rng.integers(0, len(first), count))
    person_last = take(last, rng.integers(0, len(last), count))
    prefix = take(prefixes, rng.integers(0, len(prefixes), count))
    suffix = take(suffixes, rng.integers(0, len(suffixes), count))
    # Faker's four city formats: "Lake Jamesview", "North Anna", "Marybury", "Smithton".
    forms = rng.integers(0, 4, count)
    candidates = [
        join(prefix, join(person_first, suffix), sep=" "),
        join(prefix, person_first, sep=" "),
        join(person_first, suffix),
        join(person_last, suffix),
    ]
    city_names = candidates[0]
    for form in (1, 2, 3):
        city_names = pc.if_else(pa.array(forms == form), candidates[form], city_names)

    street_pool = list(COMMON_STREETS) + sorted(set(PersonProvider.last_names))[:400]
    street_weight = np.concatenate(
        [np.full(len(COMMON_STREETS), 6.0), np.ones(len(street_pool) - len(COMMON_STREETS))]
    )
    return Geography(
        state_codes=codes,
        state_weight=population / population.sum(),
        area_codes=np.concatenate(area_lists).astype(np.int64),
        area_code_start=area_start,
        city_names=city_names,
        city_state=city_state,
        city_zip_base=base,
        city_zip_span=span,
        city_start=city_start,
        city_weight=city_weight,
        street_names=to_vocabulary(street_pool),
        street_weight=street_weight / street_weight.sum(),
        suffix_long=to_vocabulary([s[0] for s in SUFFIXES]),
        suffix_short=to_vocabulary([s[1] for s in SUFFIXES]),
        suffix_weight=np.array([s[2] for s in SUFFIXES]) / sum(s[2] for s in SUFFIXES),
    )


def draw_states(geo: Geography, rng: np.random.Generator, rows: int) -> np.ndarray:
    """States weighted by population."""
    return rng.choice(len(geo.state_codes), size=rows, p=geo.state_weight)


def draw_addresses(geo: Geography, rng: np.random.Generator, states: np.ndarray) -> Addresses:
    """One new street address in each given state."""
    rows = len(states)
    cumulative = np.cumsum(geo.city_weight)
    state_base = np.concatenate([[0.0], cumulative])[geo.city_start[states]]
    # Inverse CDF inside each state's block of cities (their weights sum to 1 per state).
    city = np.searchsorted(cumulative, state_base + rng.random(rows) * (1 - 1e-12), side="right")
    city = np.clip(city, geo.city_start[states], geo.city_start[states + 1] - 1)
    has_unit = rng.random(rows) < 0.18
    number_digits = rng.choice([3, 4, 5], size=rows, p=[0.35, 0.45, 0.20])
    number = np.floor(10.0 ** (number_digits - 1) * (1 + 9 * rng.random(rows))).astype(np.int64)
    return Addresses(
        number=number,
        street=rng.choice(len(geo.street_names), size=rows, p=geo.street_weight),
        suffix=rng.choice(len(geo.suffix_long), size=rows, p=geo.suffix_weight),
        unit=np.where(has_unit, rng.integers(1, 999, rows), 0),
        unit_kind=(rng.random(rows) < 0.2).astype(np.int8),
        city=city,
        postcode=geo.city_zip_base[city]
        + np.floor(rng.random(rows) * geo.city_zip_span[city]).astype(np.int64),
    )


def render_addresses(
    geo: Geography,
    addresses: Addresses,
    index: np.ndarray,
    rng: np.random.Generator,
    abbreviation_rate: float,
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Address line, city and 5-digit postcode of `addresses[index]`, the way one system wrote it.

    Systems differ in abbreviating the street suffix ("Avenue" / "Ave") and the unit ("Apt. 4" /
    "#4"), which is the everyday noise address matching has to see through.
    """
    rows = len(index)
    short = rng.random(rows) < abbreviation_rate
    suffix_codes = addresses.suffix[index]
    suffix = pc.if_else(
        pa.array(short), take(geo.suffix_short, suffix_codes), take(geo.suffix_long, suffix_codes)
    )
    unit_number = addresses.unit[index]
    unit_label = np.where(addresses.unit_kind[index] == 1, 1, np.where(short, 2, 0))
    unit = join(
        take(to_vocabulary(["Apt.", "Suite", "#"]), np.where(unit_number > 0, unit_label, -1)),
        pa.array(unit_number).cast(pa.string()),
        sep=" ",
    )
    unit = set_null_where(pc.replace_substring(unit, "# ", "#"), unit_number == 0)
    line = join(
        pa.array(addresses.number[index]).cast(pa.string()),
        take(geo.street_names, addresses.street[index]),
        suffix,
        unit,
        sep=" ",
    )
    city = take(geo.city_names, addresses.city[index])
    postcode = from_byte_matrix(to_digit_matrix(addresses.postcode[index], 5))
    return line, city, postcode


def draw_phone_numbers(
    geo: Geography, rng: np.random.Generator, states: np.ndarray, taken: np.ndarray
) -> np.ndarray:
    """Ten-digit US numbers (area code of the state, mostly), unique against `taken` and each other.

    Exchanges avoid 555 and N11 codes, which are fictional or reserved.
    """
    rows = len(states)
    elsewhere = rng.random(rows) < 0.15  # people keep their number when they move states
    state = np.where(elsewhere, draw_states(geo, rng, rows), states)
    first, count = geo.area_code_start[state], np.diff(geo.area_code_start)[state]
    area = geo.area_codes[first + np.floor(rng.random(rows) * count).astype(np.int64)]
    numbers = np.zeros(rows, dtype=np.int64)
    pending = np.ones(rows, dtype=bool)
    while pending.any():
        todo = np.flatnonzero(pending)
        exchange = rng.integers(200, 1000, len(todo))
        reserved = (exchange == 555) | (exchange % 100 == 11)
        exchange = np.where(reserved, exchange + 1, exchange)
        numbers[todo] = (
            area[todo] * 10_000_000 + exchange * 10_000 + rng.integers(0, 10_000, len(todo))
        )
        everything = np.concatenate([taken, numbers])
        _, first_seen = np.unique(everything, return_index=True)
        clash = np.ones(len(everything), dtype=bool)
        clash[first_seen] = False
        pending = clash[len(taken) :]
    return numbers
