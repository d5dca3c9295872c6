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


def release_freed_memory() -> None:
    """Hand memory that Python has freed back to the operating system (glibc only).

    Freed pandas strings leave holes in glibc's heap that it keeps for reuse, so after a big
    frame is dropped the process still looks its size; the next phase's DuckDB buffers then
    stack on top of it. Elsewhere this does nothing.
    """
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
