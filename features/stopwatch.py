"""Phase timings for long jobs, reported with their results (seconds per named phase)."""

from __future__ import annotations

import time


class Stopwatch:
    """Seconds spent per phase: `lap(name)` closes the phase running since the previous lap."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, name: str) -> float:
        """Record the time since the last lap under `name` (adding up repeated names)."""
        now = time.perf_counter()
        spent = now - self._since
        self.phases[name] = round(self.phases.get(name, 0.0) + spent, 3)
        self._since = now
        return spent
