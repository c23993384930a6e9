"""Persistent judge-answer cache: one sqlite file under ``cache_dir``.

The key covers everything that changes the answer: the endpoint's model name, the template's name
and a hash of its wording, the prompt, the (think-stripped) response, the constraints and whether
log-probs were asked for. Only answers the server actually produced are stored — transport failures
never are, so a re-run retries them.

Example:
    >>> import tempfile
    >>> cache = AnswerCache(tempfile.mkdtemp())
    >>> key = cache_key("m", "t", "h", "p", "r", ["c"], False)
    >>> cache.put(key, CachedAnswer(raw="[[1]]", p_yes=None, prompt_tokens=10, completion_tokens=3))
    >>> cache.get(key).raw
    '[[1]]'
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CACHE_FILENAME = "judge_cache.sqlite"


@dataclass(frozen=True)
class CachedAnswer:
    """What a cache entry holds: the judge's raw answer and what it cost the first time."""

    raw: str
    p_yes: float | None
    prompt_tokens: int
    completion_tokens: int


def cache_key(
    model: str,
    template_name: str,
    template_hash: str,
    prompt: str,
    response: str,
    constraints: list[str],
    logprobs: bool,
) -> str:
    """A stable hex key for one judgment.

    Example:
        >>> cache_key("m", "t", "h", "p", "r", ["a"], False) == cache_key("m", "t", "h", "p", "r", ["b"], False)
        False
    """
    blob = json.dumps(
        [model, template_name, template_hash, prompt, response, list(constraints), bool(logprobs)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """A sqlite-backed map from :func:`cache_key` to :class:`CachedAnswer`; safe across threads and processes.

    Example:
        >>> import tempfile
        >>> AnswerCache(tempfile.mkdtemp()).get("nothing") is None
        True
    """

    def __init__(self, cache_dir: str | Path):
        self.path = Path(cache_dir).expanduser() / CACHE_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared under a lock: the async client calls from its loop thread, while a
        # notebook may run batches from a helper thread.
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, raw TEXT NOT NULL, "
            "p_yes REAL, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
        )

    def get(self, key: str) -> CachedAnswer | None:
        """The stored answer for ``key``, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT raw, p_yes, prompt_tokens, completion_tokens FROM answers WHERE key=?", (key,)
            ).fetchone()
        return None if row is None else CachedAnswer(row[0], row[1], int(row[2] or 0), int(row[3] or 0))

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store (or replace) the answer for ``key``; written at once so an interrupted run keeps it."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (key, answer.raw, answer.p_yes, answer.prompt_tokens, answer.completion_tokens, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
