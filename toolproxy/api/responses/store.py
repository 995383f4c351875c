"""Stored responses (``store: true``) in an embedded SQLite database: ``previous_response_id``, ``GET`` and
``DELETE /v1/responses/{id}``, ``GET /v1/responses/{id}/input_items`` and ``item_reference`` input items.

Each response keeps its items: ``input`` (the whole context it answered: a previous response's input and output
items, then this request's input) and ``output``. An ``item_reference`` names an item by id: the newest stored
item with that id (clients echo earlier output items, ids included, so an id may be stored more than once).

Bounded by age (``max_age_s``: older rows are gone, as if deleted) and by size (``max_count`` rows and
``max_bytes`` of JSON: the oldest go first). Each call opens its own connection (cheap, and no connection is
shared between threads); calls are synchronous, the routes run them in a worker thread. ``:memory:`` keeps
nothing across calls and is refused: use a file (a temporary one in tests).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolproxy.errors import ToolproxyError

log = logging.getLogger("toolproxy.api.responses")


class StoreUnavailable(ToolproxyError):
    """The response store's database cannot be opened or written (HTTP 503): its path names the setting."""

    status_code = 503
    error_type = "service_unavailable"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    response TEXT NOT NULL,      -- the response object as returned to the client
    conversation TEXT NOT NULL,  -- the chat messages of the whole conversation up to and including it
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at);
CREATE TABLE IF NOT EXISTS items (
    response_id TEXT NOT NULL,
    kind TEXT NOT NULL,          -- 'input' or 'output'
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    item TEXT NOT NULL,          -- the item as the API shows it
    PRIMARY KEY (response_id, kind, position)
);
CREATE INDEX IF NOT EXISTS items_by_id ON items (id);
"""


@dataclass(frozen=True)
class Stored:
    response: dict[str, Any]
    conversation: list[dict[str, Any]]
    input_items: list[dict[str, Any]]


class ResponseStore:
    def __init__(self, path: str | Path, *, max_count: int, max_bytes: int, max_age_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path).expanduser()
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()  # one writer at a time within this process
        self._ready = False

    def put(self, response_id: str, response: dict[str, Any], conversation: list[dict[str, Any]],
            input_items: Sequence[dict[str, Any]] = ()) -> None:
        payload = json.dumps(response, ensure_ascii=False)
        history = json.dumps(conversation, ensure_ascii=False)
        rows = [(response_id, kind, position, str(item.get("id", "")), json.dumps(item, ensure_ascii=False))
                for kind, items in (("input", input_items), ("output", response.get("output") or []))
                for position, item in enumerate(items)]
        size = len(payload) + len(history) + sum(len(row[4]) for row in rows)
        with self._connect() as db:
            self._expire(db)
            db.execute("DELETE FROM items WHERE response_id = ?", (response_id,))
            db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                       (response_id, self._clock(), payload, history, size))
            db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", rows)
            self._shrink(db)

    def get(self, response_id: str) -> Stored | None:
        with self._connect() as db:
            row = db.execute("SELECT response, conversation FROM responses WHERE id = ? AND created_at >= ?",
                             (response_id, self._oldest())).fetchone()
            if row is None:
                return None
            items = db.execute("SELECT item FROM items WHERE response_id = ? AND kind = 'input' ORDER BY position",
                               (response_id,)).fetchall()
        return Stored(json.loads(row[0]), json.loads(row[1]), [json.loads(item) for (item,) in items])

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The newest stored item (input or output of a live response) with id ``item_id``."""
        with self._connect() as db:
            row = db.execute("SELECT items.item FROM items JOIN responses ON responses.id = items.response_id "
                             "WHERE items.id = ? AND responses.created_at >= ? "
                             "ORDER BY responses.created_at DESC, responses.rowid DESC LIMIT 1",
                             (item_id, self._oldest())).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def delete(self, response_id: str) -> bool:
        with self._connect() as db:
            self._expire(db)
            db.execute("DELETE FROM items WHERE response_id = ?", (response_id,))
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM responses WHERE created_at >= ?",
                                  (self._oldest(),)).fetchone()[0])

    # ------------------------------------------------------------------ internals

    def _oldest(self) -> float:
        return self._clock() - self.max_age_s

    def _expire(self, db: sqlite3.Connection) -> None:
        if db.execute("DELETE FROM responses WHERE created_at < ?", (self._oldest(),)).rowcount:
            self._drop_orphans(db)

    @staticmethod
    def _drop_orphans(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM items WHERE response_id NOT IN (SELECT id FROM responses)")

    def _shrink(self, db: sqlite3.Connection) -> None:
        """Oldest first until both bounds hold (the row just written stays, even alone over ``max_bytes``)."""
        count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM responses").fetchone()
        excess = max(0, int(count) - self.max_count)
        if excess:
            db.execute("DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created_at, rowid "
                       "LIMIT ?)", (excess,))
            size = db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
        while int(size) > self.max_bytes:
            oldest = db.execute("SELECT id, size FROM responses ORDER BY created_at, rowid LIMIT 2").fetchall()
            if len(oldest) < 2:
                break
            db.execute("DELETE FROM responses WHERE id = ?", (oldest[0][0],))
            size = int(size) - int(oldest[0][1])
        self._drop_orphans(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10)
            except (OSError, sqlite3.Error) as exc:
                raise self._unavailable(exc) from exc
            try:
                if not self._ready:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                    self._ready = True
                with db:  # one transaction: committed on success, rolled back on error
                    yield db
            except (OSError, sqlite3.Error) as exc:
                raise self._unavailable(exc) from exc
            finally:
                db.close()

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        log.error("response store %s: %s: %s", self.path, type(exc).__name__, exc)  # the path only in the log
        return StoreUnavailable(f"the response store cannot be used ({type(exc).__name__}); the server's "
                                "`responses_db` setting needs a writable file (or send store: false)")
