"""Read-only warehouse queries run in a thread while the caller works.

A resolve run spends its first half in Python (preparing records, one core busy) and reads the
events for stitching and the record digests only at the end. Those reads need no profiles, and
DuckDB releases the GIL while it runs them, so they can use the core the Python work leaves idle.
"""

from __future__ import annotations

import threading

import duckdb
import pyarrow as pa


class BackgroundQueries:
    """Run `queries` (name -> SQL) one after another on a cursor of `con`, in a thread.

    `result(name)` waits for the thread and returns that query's rows as an Arrow table (None
    for a statement, such as a CREATE TABLE); an error in the thread is raised there. The cursor
    is a connection of its own to the same database, so the caller's connection stays free for
    its own statements meanwhile.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> None:
        self._cursor = con.cursor()
        self._results: dict[str, pa.Table] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(dict(queries),), name="cdp-background-queries", daemon=True
        )
        self._thread.start()

    def _run(self, queries: dict[str, str]) -> None:
        try:
            self._cursor.execute("SET enable_progress_bar = false")
            for name, sql in queries.items():
                relation = self._cursor.sql(sql)  # None for a statement (CREATE TABLE ...)
                self._results[name] = None if relation is None else relation.to_arrow_table()
        except BaseException as exc:  # re-raised in the caller's thread by result()
            self._error = exc
        finally:
            self._cursor.close()

    def result(self, name: str) -> pa.Table | None:
        """The rows of query `name` (waits for the thread; each result can be taken once)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._results.pop(name)

    def wait(self) -> None:
        """Wait for the thread (results stay available); errors are dropped: used on failure."""
        self._thread.join()
