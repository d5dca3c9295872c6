"""The service's side of the audit log (features.privacy.audit): every authorised call, by key
id, action and counts, never a person's data.

Calls that change something or let data leave in bulk (events, forget, audiences, suppression
lists) are appended before the answer, synchronously and durably. Lookups are many and small:
they go through a queue that a background thread writes in batches every `flush_seconds`, so an
agent's lookup never waits for a disk flush; a crash can lose at most the last batch of lookup
entries (documented in docs/privacy.md).
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from datetime import UTC, datetime

from features.privacy.audit import _SCHEMA, append_audit, audit_path
from features.settings import Settings
from serving.keys import Caller

log = logging.getLogger("cdp.serving")
DURABLE = frozenset({"events", "forget", "audience", "suppression"})


class AuditTrail:
    """Appends the service's entries; one per process."""

    def __init__(self, settings: Settings, *, flush_seconds: float = 0.2) -> None:
        self.settings = settings
        self.flush_seconds = flush_seconds
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="cdp-audit", daemon=True)
        self._thread.start()

    def record(self, caller: Caller, action: str, counts: dict[str, object]) -> None:
        """Append an entry: at once for DURABLE actions, otherwise in the next batch."""
        if action in DURABLE:
            append_audit(self.settings, caller.key_id, action, counts)
            return
        at = datetime.now(UTC).replace(tzinfo=None).isoformat()
        self._queue.put((at, caller.key_id, action, json.dumps(counts, sort_keys=True)))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued entry is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _write(self) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(audit_path(self.settings)), timeout=30)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute(_SCHEMA)
        while True:
            batch, waiters = [], []
            item = self._queue.get()
            while True:
                (waiters if isinstance(item, threading.Event) else batch).append(item)
                try:
                    item = self._queue.get(timeout=self.flush_seconds if not batch else 0.001)
                except queue.Empty:
                    break
            if batch:
                try:
                    with con:
                        con.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?)", batch)
                except sqlite3.Error:
                    log.exception("could not write %d audit entries", len(batch))
            for waiter in waiters:
                waiter.set()
