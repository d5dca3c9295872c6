"""The outdoor retailer's catalog: categories, brands, price tiers, complements and seasons.

Categories carry the structure that behaviour models are meant to find: a monthly seasonal curve
(skis in winter, tents in summer), complements (a tent calls for a sleeping bag and a pad, a stove
for fuel), and consumables that are re-bought (socks, fuel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.world.strings import build_ids, join, take, to_timestamps, to_vocabulary


@dataclass(frozen=True)
class CategorySpec:
    """One category: popularity, subcategories, median price per tier, seasonal curve."""

    name: str
    popularity: float
    noun: str
    subcategories: tuple[str, ...]
    prices: tuple[float, float, float]  # median list price of low, mid, high tier
    season: tuple[float, ...]  # January..December, relative
    consumable: bool = False


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("tents", 0.07, "Tent", ("backpacking_tent", "camping_tent", "ultralight_tent"),
                 (129, 279, 549), (0.4, 0.5, 0.8, 1.2, 1.6, 1.9, 1.8, 1.4, 1.0, 0.6, 0.4, 0.5)),
    CategorySpec("sleeping_bags", 0.06, "Sleeping Bag", ("down_bag", "synthetic_bag"),
                 (79, 189, 399), (0.6, 0.6, 0.9, 1.1, 1.4, 1.6, 1.5, 1.3, 1.1, 0.8, 0.6, 0.6)),
    CategorySpec("sleeping_pads", 0.05, "Sleeping Pad", ("inflatable_pad", "foam_pad"),
                 (39, 99, 189), (0.5, 0.6, 0.9, 1.2, 1.5, 1.7, 1.6, 1.3, 1.0, 0.7, 0.5, 0.6)),
    CategorySpec("backpacks", 0.08, "Pack", ("daypack", "backpacking_pack"),
                 (59, 169, 299), (0.7, 0.7, 0.9, 1.1, 1.3, 1.4, 1.4, 1.3, 1.1, 0.9, 0.7, 0.8)),
    CategorySpec("boots", 0.09, "Boot", ("hiking_boots", "trail_runners", "mountaineering_boots"),
                 (89, 159, 259), (0.8, 0.8, 1.1, 1.3, 1.2, 1.0, 0.9, 1.0, 1.2, 1.2, 1.0, 0.9)),
    CategorySpec("socks", 0.10, "Sock", ("hiking_socks", "ski_socks"),
                 (12, 19, 26), (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.4),
                 consumable=True),
    CategorySpec("jackets", 0.10, "Jacket", ("rain_jacket", "insulated_jacket", "fleece"),
                 (69, 179, 349), (1.4, 1.1, 0.9, 0.7, 0.6, 0.5, 0.5, 0.6, 0.9, 1.3, 1.6, 1.8)),
    CategorySpec("base_layers", 0.08, "Base Layer",
                 ("merino_top", "merino_bottom", "synthetic_top"),
                 (35, 69, 109), (1.6, 1.3, 1.0, 0.7, 0.5, 0.4, 0.4, 0.5, 0.8, 1.2, 1.6, 1.8)),
    CategorySpec("stoves", 0.05, "Stove", ("canister_stove", "liquid_fuel_stove"),
                 (29, 69, 149), (0.5, 0.6, 0.9, 1.2, 1.5, 1.7, 1.6, 1.3, 1.0, 0.7, 0.5, 0.6)),
    CategorySpec("fuel", 0.06, "Fuel", ("isobutane_canister", "white_gas"),
                 (6, 8, 12), (0.6, 0.6, 0.9, 1.2, 1.4, 1.6, 1.6, 1.4, 1.1, 0.8, 0.6, 0.6),
                 consumable=True),
    CategorySpec("cookware", 0.05, "Cook Set", ("pot_set", "mug", "utensils"),
                 (19, 45, 89), (0.7, 0.7, 0.9, 1.1, 1.3, 1.4, 1.4, 1.2, 1.0, 0.8, 0.7, 0.9)),
    CategorySpec("headlamps", 0.06, "Headlamp", ("headlamp", "lantern"),
                 (19, 45, 89), (1.1, 0.9, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 1.4)),
    CategorySpec("water_filters", 0.04, "Water Filter", ("squeeze_filter", "pump_filter"),
                 (25, 49, 99), (0.5, 0.6, 0.9, 1.2, 1.5, 1.7, 1.7, 1.4, 1.0, 0.7, 0.5, 0.5)),
    CategorySpec("trekking_poles", 0.04, "Trekking Poles", ("aluminum_poles", "carbon_poles"),
                 (39, 99, 179), (0.6, 0.6, 0.9, 1.2, 1.4, 1.4, 1.3, 1.2, 1.2, 1.0, 0.7, 0.6)),
    CategorySpec("skis", 0.03, "Ski", ("all_mountain_skis", "backcountry_skis", "ski_bindings"),
                 (299, 549, 849), (2.0, 1.6, 1.0, 0.4, 0.15, 0.1, 0.1, 0.2, 0.5, 1.2, 2.0, 2.4)),
    CategorySpec("climbing", 0.04, "Climbing Gear",
                 ("harness", "climbing_shoes", "rope", "carabiners"),
                 (49, 119, 249), (0.7, 0.8, 1.1, 1.3, 1.3, 1.2, 1.1, 1.1, 1.2, 1.1, 0.8, 0.8)),
)  # fmt: skip

# Next-purchase pull between categories; a self-loop is the re-buy of a consumable.
COMPLEMENTS: dict[str, dict[str, float]] = {
    "tents": {"sleeping_bags": 0.45, "sleeping_pads": 0.35, "stoves": 0.2, "headlamps": 0.15},
    "sleeping_bags": {"sleeping_pads": 0.5, "tents": 0.2, "base_layers": 0.1},
    "sleeping_pads": {"sleeping_bags": 0.4, "tents": 0.2},
    "backpacks": {"water_filters": 0.3, "headlamps": 0.2, "trekking_poles": 0.2, "tents": 0.1},
    "boots": {"socks": 0.6, "trekking_poles": 0.2, "backpacks": 0.1},
    "socks": {"socks": 0.6, "boots": 0.1},
    "jackets": {"base_layers": 0.4, "socks": 0.1},
    "base_layers": {"socks": 0.4, "jackets": 0.2},
    "stoves": {"fuel": 0.6, "cookware": 0.4},
    "fuel": {"fuel": 0.7, "cookware": 0.1},
    "cookware": {"stoves": 0.3, "fuel": 0.3},
    "headlamps": {"backpacks": 0.1},
    "water_filters": {"cookware": 0.2, "backpacks": 0.1},
    "trekking_poles": {"boots": 0.2, "backpacks": 0.1},
    "skis": {"base_layers": 0.4, "jackets": 0.3, "socks": 0.2},
    "climbing": {"headlamps": 0.2, "backpacks": 0.15, "jackets": 0.1},
}

# (brand, tiers it sells in: 0 low, 1 mid, 2 high); invented names, no real trademarks.
BRANDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Trailhead Basics", (0,)), ("Campfire Co", (0,)), ("Ridgeway", (0, 1)),
    ("Northtrail", (0, 1)), ("Pinecrest", (1,)), ("Switchback", (1,)), ("Summit Ridge", (1, 2)),
    ("Alpenglow", (1, 2)), ("Cairn & Co", (1, 2)), ("Granite Peak", (2,)),
    ("Kestrel Alpine", (2,)), ("Talus Works", (0, 1, 2)), ("Bivouac", (1, 2)),
    ("Wildfern", (0, 1)), ("Ember Outdoor", (1,)), ("Glacier Line", (2,)),
)  # fmt: skip
_MODELS = (
    "Ridgeline", "Aspen", "Cirque", "Talus", "Juniper", "Basin", "Sierra", "Cascade", "Boulder",
    "Meadow", "Tundra", "Canyon", "Horizon", "Ember", "Glacier", "Traverse", "Vista", "Scree",
)  # fmt: skip
TIER_NAMES = ("low", "mid", "high")
# Probability of each product tier (column) for each price band (row).
BAND_TIER = np.array([[0.70, 0.25, 0.05], [0.25, 0.55, 0.20], [0.08, 0.37, 0.55]])


@dataclass(frozen=True)
class Catalog:
    """Products as arrays, plus the category-level matrices behaviour draws from."""

    category_names: tuple[str, ...]
    popularity: np.ndarray  # (C,) base share of each category
    season: np.ndarray  # (C, 12), mean 1 per category
    complements: np.ndarray  # (C, C) transition weights of the next purchase
    consumable: np.ndarray  # (C,) bool
    product_category: np.ndarray
    product_tier: np.ndarray
    product_price: np.ndarray
    product_created_day: np.ndarray  # float days relative to `start`
    product_weight: np.ndarray  # popularity inside its (category, tier) group
    table: pa.Table  # the products file

    @property
    def size(self) -> int:
        """Number of products."""
        return len(self.product_category)


def count_products(people: int) -> int:
    """About 300 products for a small world, growing slowly to 600 for millions of people."""
    return int(min(600, 300 + 30 * np.log2(max(1.0, people / 1000))))


def build_catalog(people: int, horizon: int, start_us: int, rng: np.random.Generator) -> Catalog:
    """Draw the products: category by popularity, tier, brand selling that tier, price, launch."""
    names = tuple(c.name for c in CATEGORIES)
    count = len(names)
    popularity = np.array([c.popularity for c in CATEGORIES])
    popularity /= popularity.sum()
    season = np.array([c.season for c in CATEGORIES])
    season /= season.mean(axis=1, keepdims=True)
    complements = np.zeros((count, count))
    for source, targets in COMPLEMENTS.items():
        for target, weight in targets.items():
            complements[names.index(source), names.index(target)] = weight

    size = count_products(people)
    # Every (category, tier) gets at least two products so any buyer finds something in stock.
    floor = np.repeat(np.arange(count * 3), 2)
    extra = rng.choice(count * 3, size=size - len(floor), p=np.repeat(popularity, 3) / 3)
    group = np.sort(np.concatenate([floor, extra]))
    category, tier = group // 3, group % 3
    # The first product of each group is "core" (on sale before the window); others may launch
    # during it, so new products appear over time.
    first_of_group = np.r_[True, group[1:] != group[:-1]]
    launched = np.where(
        first_of_group | (rng.random(size) < 0.8),
        -rng.uniform(30, 1500, size),
        rng.uniform(0, horizon - 60, size),
    )
    medians = np.array([c.prices for c in CATEGORIES])[category, tier]
    raw = medians * np.exp(rng.normal(0, 0.18, size))
    price = np.maximum(np.floor(raw) + np.where(raw > 20, 0.95, 0.99), 0.99)
    price = np.round(price, 2)
    weight = rng.pareto(1.5, size) + 0.2  # a few best-sellers per group
    weight /= np.bincount(group, weights=weight, minlength=count * 3)[group]

    brand_ok = np.array([[t in tiers for t in range(3)] for _, tiers in BRANDS])  # (B, 3)
    brand_p = brand_ok[:, tier].T.astype(float)  # (size, B)
    brand_p /= brand_p.sum(axis=1, keepdims=True)
    brand = (rng.random(size)[:, None] > np.cumsum(brand_p, axis=1)).sum(axis=1)
    subcategory_lists = [c.subcategories for c in CATEGORIES]
    sub_index = np.floor(rng.random(size) * np.array([len(s) for s in subcategory_lists])[category])
    sub_vocab = [s for subs in subcategory_lists for s in subs]
    sub_start = np.concatenate([[0], np.cumsum([len(s) for s in subcategory_lists])])
    subcategory = take(to_vocabulary(sub_vocab), sub_start[category] + sub_index.astype(np.int64))
    brand_names = take(to_vocabulary([b[0] for b in BRANDS]), brand)
    model = take(to_vocabulary(_MODELS), rng.integers(0, len(_MODELS), size))
    version = pa.array(rng.integers(1, 5, size)).cast(pa.string())
    noun = take(to_vocabulary([c.noun for c in CATEGORIES]), category)
    product_name = join(brand_names, model, version, noun, sep=" ")

    order = np.arange(size)
    table = pa.table(
        {
            "product_id": build_ids("prd_", order + 1, 5),
            "name": product_name,
            "category": take(to_vocabulary(names), category),
            "subcategory": subcategory,
            "brand": brand_names,
            "price": pa.array(price, type=pa.float64()),
            "created_at": to_timestamps(
                start_us + (launched * 86_400).astype(np.int64) * 1_000_000
            ),
        }
    )
    return Catalog(
        category_names=names,
        popularity=popularity,
        season=season,
        complements=complements,
        consumable=np.array([c.consumable for c in CATEGORIES]),
        product_category=category,
        product_tier=tier,
        product_price=price,
        product_created_day=launched,
        product_weight=weight,
        table=table,
    )


def draw_products(
    catalog: Catalog,
    rng: np.random.Generator,
    category: np.ndarray,
    band: np.ndarray,
    day: np.ndarray,
) -> np.ndarray:
    """A product per row: tier from the buyer's price band, then a product on sale that day."""
    tier_cdf = np.cumsum(BAND_TIER[band], axis=1)
    tier = (rng.random(len(band))[:, None] > tier_cdf).sum(axis=1)
    tier = np.minimum(tier, 2)
    group = category * 3 + tier
    product_group = catalog.product_category * 3 + catalog.product_tier
    order = np.argsort(product_group, kind="stable")
    cumulative = np.cumsum(catalog.product_weight[order])  # groups sum to 1 each, so this is k+cdf
    pick = np.searchsorted(cumulative, group + rng.random(len(group)) * (1 - 1e-9), side="right")
    pick = np.minimum(pick, len(order) - 1)
    product = order[pick]
    # Not launched yet: fall back to the group's core product (always on sale).
    core = order[np.searchsorted(product_group[order], group, side="left")]
    return np.where(catalog.product_created_day[product] <= day, product, core)
