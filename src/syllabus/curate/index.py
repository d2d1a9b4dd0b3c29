"""One persistent index per run directory, shared by dedup filters, rounds and the novelty gate.

``runs/NAME/index/index.sqlite`` holds what earlier shards and rounds kept, so a
record generated in round 3 is checked against everything kept since round 0:

- ``exact``: normalised-text hashes (exact dedup),
- ``minhash``: MinHash signatures (near-duplicate dedup),
- ``vectors``: sentence embeddings of kept records (semantic dedup),
- ``texts``: texts and keys of a :class:`~syllabus.text.rouge.NoveltyIndex` (Self-Instruct),
- ``embedding_cache``: embeddings keyed by model and text hash, so re-embedding is free.

Every entry carries the record id, the round and the shard that added it. Entries live
in a *space* (a name such as ``"exact:both"``) so that filters on different fields do
not see each other's entries. A shard that is run again first forgets what its earlier,
interrupted attempt added (:meth:`RunIndex.forget`), so a resumed run never finds a
record to be a duplicate of itself.

Example, a Self-Instruct gate that later rounds share::

    index = RunIndex("runs/demo", round="r01")
    gate = index.novelty_index("self-instruct", threshold=0.7)   # everything kept so far
    if gate.add_if_novel(instruction, key=example_id):
        ...
    index.save_novelty_index(gate, "self-instruct")             # stores the new texts

SQLite, because it is in the standard library, writes atomically and lets several
processes of one machine share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllabus.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from syllabus.text.rouge import NoveltyIndex

__all__ = ["IndexEntry", "RunIndex", "open_index"]

SCHEMA_VERSION = "1"

# (id, round, shard): who added an entry, for explanations and for forgetting a shard.
IndexEntry = tuple[str, str, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exact (
    space TEXT NOT NULL, hash TEXT NOT NULL, id TEXT NOT NULL, round TEXT NOT NULL,
    shard INTEGER NOT NULL, text TEXT, PRIMARY KEY (space, hash));
CREATE TABLE IF NOT EXISTS minhash (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, space TEXT NOT NULL, id TEXT NOT NULL,
    round TEXT NOT NULL, shard INTEGER NOT NULL, signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, space TEXT NOT NULL, id TEXT NOT NULL,
    round TEXT NOT NULL, shard INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS texts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, space TEXT NOT NULL, key TEXT NOT NULL,
    round TEXT NOT NULL, text TEXT NOT NULL, UNIQUE (space, key));
CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, hash));
CREATE INDEX IF NOT EXISTS minhash_space ON minhash (space, round, shard);
CREATE INDEX IF NOT EXISTS vectors_space ON vectors (space, round, shard);
CREATE INDEX IF NOT EXISTS exact_shard ON exact (space, round, shard);
"""


class RunIndex:
    """The index of one run directory (``RUN_DIR/index/index.sqlite``), opened lazily.

    ``round`` tags everything this handle adds (``"r00"``, ``"r01"``...); reads see all
    rounds. A handle pickles as its path (for executors that ship steps to workers) and
    reopens the file on first use.

    >>> import tempfile
    >>> index = RunIndex(tempfile.mkdtemp(), round="r00")
    >>> index.add_exact("exact:both", [("h1", "ex-1", 0, "hello")])
    >>> index.exact_hashes("exact:both")
    {'h1': ('ex-1', 'r00', 0)}
    """

    def __init__(self, run_dir: str | Path, *, round: str = ""):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "index" / "index.sqlite"
        self.round = str(round)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunIndex({str(self.run_dir)!r}, round={self.round!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "round": self.round}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["run_dir"], round=state["round"])  # type: ignore[misc]

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.run_dir.exists() and not self.run_dir.is_dir():
                raise DataError(f"{self.run_dir} is a file; the index needs a run directory (e.g. runs/NAME).")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
                conn.executescript(_SCHEMA)
                conn.execute("PRAGMA journal_mode=WAL")
                row = conn.execute("SELECT value FROM info WHERE key='schema'").fetchone()
            except sqlite3.DatabaseError as e:
                raise DataError(f"{self.path}: not a syllabus run index ({e}); move it away and rerun.") from e
            if row is None:
                conn.execute("INSERT INTO info VALUES ('schema', ?)", (SCHEMA_VERSION,))
                conn.commit()
            elif row[0] != SCHEMA_VERSION:
                raise DataError(
                    f"{self.path}: index schema {row[0]}, this syllabus writes {SCHEMA_VERSION}; "
                    "delete the index folder to rebuild it from the kept shards."
                )
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock, self.conn:
            self.conn.executemany(sql, rows)

    # -- shards that run again ------------------------------------------------------------
    def shards(self, space: str) -> set[tuple[str, int]]:
        """``(round, shard)`` pairs that have entries in ``space`` (any table)."""
        found: set[tuple[str, int]] = set()
        for table in ("exact", "minhash", "vectors"):
            found.update(self.conn.execute(f"SELECT DISTINCT round, shard FROM {table} WHERE space=?", (space,)))
        return found

    def forget(self, space: str, round: str, shard: int) -> None:
        """Delete what ``(round, shard)`` added to ``space``: that shard is being run again."""
        with self._lock, self.conn:
            for table in ("exact", "minhash", "vectors"):
                self.conn.execute(f"DELETE FROM {table} WHERE space=? AND round=? AND shard=?", (space, round, shard))

    # -- exact hashes --------------------------------------------------------------------------
    def exact_hashes(self, space: str) -> dict[str, IndexEntry]:
        """Every stored hash of ``space`` with the entry that kept it."""
        rows = self.conn.execute("SELECT hash, id, round, shard FROM exact WHERE space=?", (space,))
        return {h: (i, r, s) for h, i, r, s in rows}

    def add_exact(self, space: str, rows: Iterable[tuple[str, str, int, str | None]]) -> None:
        """Store ``(hash, id, shard, text)`` rows under this handle's round (first one wins)."""
        self._write(
            "INSERT OR IGNORE INTO exact (space, hash, id, round, shard, text) VALUES (?, ?, ?, ?, ?, ?)",
            ((space, h, i, self.round, s, t) for h, i, s, t in rows),
        )

    # -- MinHash signatures -------------------------------------------------------------------
    def minhash_signatures(self, space: str) -> Iterator[tuple[IndexEntry, bytes]]:
        """``((id, round, shard), signature bytes)`` in insertion order."""
        rows = self.conn.execute("SELECT id, round, shard, signature FROM minhash WHERE space=? ORDER BY seq", (space,))
        for i, r, s, sig in rows:
            yield (i, r, s), sig

    def add_minhash(self, space: str, rows: Iterable[tuple[str, int, bytes]]) -> None:
        """Store ``(id, shard, signature bytes)`` rows under this handle's round."""
        self._write(
            "INSERT INTO minhash (space, id, round, shard, signature) VALUES (?, ?, ?, ?, ?)",
            ((space, i, self.round, s, sig) for i, s, sig in rows),
        )

    # -- embeddings of kept records ----------------------------------------------------------
    def vectors(self, space: str) -> tuple[list[IndexEntry], np.ndarray]:
        """Entries and a ``(n, dim)`` float32 matrix of the vectors stored in ``space``."""
        import numpy as np

        entries: list[IndexEntry] = []
        blobs: list[bytes] = []
        for i, r, s, v in self.conn.execute(
            "SELECT id, round, shard, vector FROM vectors WHERE space=? ORDER BY seq", (space,)
        ):
            entries.append((i, r, s))
            blobs.append(v)
        if not blobs:
            return entries, np.zeros((0, 0), dtype=np.float32)
        return entries, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1).copy()

    def add_vectors(self, space: str, rows: Iterable[tuple[str, int, np.ndarray]]) -> None:
        """Store ``(id, shard, vector)`` rows under this handle's round."""
        import numpy as np

        self._write(
            "INSERT INTO vectors (space, id, round, shard, vector) VALUES (?, ?, ?, ?, ?)",
            ((space, i, self.round, s, np.asarray(v, dtype=np.float32).tobytes()) for i, s, v in rows),
        )

    # -- embedding cache ---------------------------------------------------------------------
    def get_embeddings(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors of ``model`` for the given text hashes (missing ones are absent)."""
        import numpy as np

        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for h, v in self.conn.execute(
                f"SELECT hash, vector FROM embedding_cache WHERE model=? AND hash IN ({marks})", (model, *chunk)
            ):
                found[h] = np.frombuffer(v, dtype=np.float32).copy()
        return found

    def put_embeddings(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        import numpy as np

        self._write(
            "INSERT OR REPLACE INTO embedding_cache (model, hash, vector) VALUES (?, ?, ?)",
            ((model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()),
        )

    # -- the ROUGE-L novelty gate -------------------------------------------------------------
    def novelty_index(self, space: str = "self-instruct", threshold: float = 0.7) -> NoveltyIndex:
        """A :class:`NoveltyIndex` holding every text saved in ``space`` (all rounds)."""
        from syllabus.text.rouge import NoveltyIndex

        index = NoveltyIndex(threshold)
        for key, text in self.conn.execute("SELECT key, text FROM texts WHERE space=? ORDER BY seq", (space,)):
            index.add(text, key=key)
        return index

    def save_novelty_index(self, index: NoveltyIndex, space: str = "self-instruct") -> int:
        """Store the texts of ``index`` not yet saved (by key; unkeyed ones by position); return how many."""
        before = self.count("texts", space)
        self._write(
            "INSERT OR IGNORE INTO texts (space, key, round, text) VALUES (?, ?, ?, ?)",
            ((space, key if key is not None else f"#{i}", self.round, text) for i, (text, key) in enumerate(index.items())),
        )
        return self.count("texts", space) - before

    def count(self, table: str, space: str) -> int:
        """Number of entries of ``space`` in ``table`` (exact, minhash, vectors or texts)."""
        if table not in ("exact", "minhash", "vectors", "texts"):
            raise ValueError(f"unknown index table {table!r}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE space=?", (space,)).fetchone()[0])


def open_index(index: RunIndex | str | Path | None, round: str = "") -> RunIndex | None:
    """Filters accept a :class:`RunIndex`, a run directory path, or None (in memory only)."""
    if index is None or isinstance(index, RunIndex):
        return index
    return RunIndex(index, round=round)
