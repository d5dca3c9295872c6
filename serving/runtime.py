"""How the BentoML runtime is configured for low tail latency (see docs/benchmarks.md)."""

from __future__ import annotations


def serve_environment() -> dict[str, str]:
    """Environment variables for `bentoml serve` (placeholder until the tail study lands)."""
    return {}
