"""The request cache: content-addressed, in SQLite, shared by every stage of a run.

The key is the model id, the request kind, the messages or prompt, the *semantic*
decoding parameters and the sample index. Batch size, concurrency and timeouts never
enter it, so a rerun with other throughput settings is served from the cache. Sampled
generations are cached per sample index, so a rerun returns exactly the same samples.

>>> from syllabus.llm.fake import EchoLLM
>>> llm = CachedLLM(EchoLLM(), RequestCache(":memory:"))
>>> llm.chat("hello"), llm.generate([GenerateRequest.chat([{"role": "user", "content": "hello"}])])[0].cached
('hello', True)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from syllabus.llm.base import (
    LLM,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    request_hash,
)

__all__ = ["RequestCache", "CachedLLM"]

R = TypeVar("R", Generation, Loglikelihood)


class RequestCache:
    """A key → JSON value store in one SQLite file (WAL mode; safe across processes)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, model TEXT, value TEXT NOT NULL)")

    def __getstate__(self) -> dict[str, Any]:
        # A connection cannot cross processes; a worker reopens the same file.
        if self.path == ":memory:":
            raise TypeError("an in-memory RequestCache cannot be sent to another process; give it a file path")
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite's parameter limit
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
        return found

    def put_many(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Store ``(key, model_id, value)`` triples in one transaction."""
        if not items:
            return
        rows = [(k, m, json.dumps(v, ensure_ascii=False)) for k, m, v in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO entries (key, model, value) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def __bool__(self) -> bool:
        # Defined so that `cache or default` does not discard an empty cache (__len__ == 0).
        return True

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedLLM(LLM):
    """Wraps any LLM; answered requests are served from the cache, the rest go to the model."""

    def __init__(self, inner: LLM, cache: RequestCache):
        super().__init__(inner.model_id)
        self.inner = inner
        self.cache = cache
        self.capabilities = inner.capabilities
        self.hits = 0
        self.misses = 0

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return self._through_cache("generate", requests, self.inner.generate, Generation)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._through_cache("loglikelihood", requests, self.inner.loglikelihood, Loglikelihood)

    def _through_cache(self, kind: str, requests: Sequence[Any], call: Callable[[list[Any]], list[R]], result: type[R]) -> list[R]:
        keys = [request_hash(self.cache_id, kind, r.key_fields()) for r in requests]
        found = self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        fresh: dict[int, R] = {}
        if missing:
            fresh = dict(zip(missing, call([requests[i] for i in missing]), strict=True))
            # Stored right after each batch, so a killed run loses at most one batch of work.
            self.cache.put_many([(keys[i], self.model_id, fresh[i].to_dict()) for i in missing])  # type: ignore[attr-defined]
        out: list[R] = []
        for i, key in enumerate(keys):
            if i in fresh:
                out.append(fresh[i])
            else:
                hit = result(**found[key])
                hit.cached = True  # type: ignore[attr-defined]
                out.append(hit)
        return out

    @property
    def cache_id(self) -> str:
        return self.inner.cache_id

    def apply_chat_template(self, messages, *, add_generation_prompt=True):  # type: ignore[no-untyped-def]
        return self.inner.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()
