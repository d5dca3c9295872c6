"""Run one phase of a benchmark script in its own process and read its figures.

Peak memory is the child's own maximum RSS (os.wait4), so each phase reports its own peak.
The child prints its figures as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def run_child(script: str, args: list[str]) -> dict:
    """Run `script` with `args`; return its JSON figures plus seconds and peak_mb."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    output = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{script} {' '.join(args[:2])} failed")
    figures = json.loads(output.strip().splitlines()[-1])
    figures.update(seconds=seconds, peak_mb=usage.ru_maxrss / 1024)
    return figures
