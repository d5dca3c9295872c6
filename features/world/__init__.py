"""Synthetic multi-source customer world: the data cdp-engine is developed and judged on.

`generate_world(WorldConfig(people=..., seed=...), out_dir)` writes the raw files of eleven
source systems (shop, CRM, email platform, orders, catalog, web and app tracking, call center,
consent log), the ground truth behind them (truth/), and manifest.json. See docs/world.md.

Importing this package does no work: the heavy modules load when `generate_world` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from features.world.config import WorldConfig

if TYPE_CHECKING:
    from features.world.generate import WorldSummary, generate_world

__all__ = ["WorldConfig", "WorldSummary", "generate_world"]


def __getattr__(name: str) -> Any:
    if name in ("WorldSummary", "generate_world"):
        from features.world import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'features.world' has no attribute {name!r}")
