"""Phase timings for long jobs, reported with their results (seconds per named phase)."""

from __future__ import annotations

import resource
import time


class Stopwatch:
    """Seconds spent per phase: `lap(name)` closes the phase running since the previous lap.

    `peak_mb` holds the process's peak resident memory as each phase ended, so the phase that
    raised the peak is the first one showing the final figure.
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.peak_mb: dict[str, int] = {}
        self._since = time.perf_counter()

    def lap(self, name: str) -> float:
        """Record the time since the last lap under `name` (adding up repeated names)."""
        now = time.perf_counter()
        spent = now - self._since
        self.phases[name] = round(self.phases.get(name, 0.0) + spent, 3)
        self.peak_mb[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        self._since = now
        return spent
