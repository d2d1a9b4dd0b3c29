"""Documents for the document generators: loading, chunking and splitting text.

The document generators (``agent-instruct``, ``multi-hop``, ``continuation``) start from raw
text, given either as a ``documents`` option (a folder of ``.txt``/``.md`` files, one or
more files, or ``builtin:samples`` for the small sample set shipped with the package) or as
``--prompts`` records whose user message is a document. This module turns both into
:class:`Document` objects and cuts them into chunks of a target length that respect
paragraph and sentence boundaries, so a teacher never sees half a sentence.

>>> chunks = chunk_text("One two. Three four.\\n\\nFive six seven.", size=20)
>>> chunks
['One two. Three four.', 'Five six seven.']
>>> split_near_middle("The sun rose. Birds sang. The town woke up. Bells rang.")
Split(head='The sun rose. Birds sang.', tail='The town woke up. Bells rang.', unit='sentence', at=25)

Chunks become :class:`~syllabus.record.Example` records with deterministic ids
(``<document>-c000``) and the shared ``source`` meta key (``kessel.md#0``)::

    docs = load_documents("builtin:samples")
    chunks = chunk_documents(docs, size=1200)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError, DataError
from syllabus.record import Example

__all__ = [
    "DOCUMENT_SUFFIXES",
    "SAMPLES",
    "Document",
    "Split",
    "chunk_documents",
    "chunk_text",
    "documents_for",
    "documents_from_examples",
    "load_documents",
    "split_near_middle",
    "split_sentences",
]

DOCUMENT_SUFFIXES = (".txt", ".md")
SAMPLES = "builtin:samples"  # the sample documents in syllabus/data/documents


@dataclass(frozen=True)
class Document:
    """A named text. ``id`` is a slug unique among the loaded documents (used in record ids);
    ``parent`` is the id of the input record it came from, if any (for provenance)."""

    id: str
    name: str
    text: str
    parent: str | None = None


@dataclass(frozen=True)
class Split:
    """A text cut in two at ``at`` (a character offset) on a ``sentence`` or ``word`` boundary."""

    head: str
    tail: str
    unit: str
    at: int


# -- loading ----------------------------------------------------------------------------------
def _slug(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "doc"


def _unique_ids(named: list[tuple[str, str]]) -> list[Document]:
    seen: dict[str, int] = {}
    docs = []
    for name, text in named:
        slug = _slug(name)
        seen[slug] = seen.get(slug, 0) + 1
        docs.append(Document(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}", name, text))
    return docs


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{option}: {path} is not UTF-8 text; convert it or leave it out") from None


def load_documents(paths: str | Sequence[str], *, option: str = "documents") -> list[Document]:
    """Documents from folders (every ``.txt``/``.md`` file below, sorted), files, or ``builtin:samples``.

    Empty files found in a folder are skipped; an empty file named explicitly is an error.
    ``option`` names the setting in error messages.
    """
    items = [paths] if isinstance(paths, str) else list(paths)
    if not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise ConfigError(f"{option}: expected a folder, a file or a list of them, got {paths!r}")
    named: list[tuple[str, str]] = []
    for item in items:
        if item == SAMPLES:
            folder = resources.files("syllabus") / "data" / "documents"
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(DOCUMENT_SUFFIXES):
                    named.append((entry.name, entry.read_text(encoding="utf-8")))
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in DOCUMENT_SUFFIXES)
            if not files:
                raise ConfigError(f"{option}: no .txt or .md files in {path}")
            for file in files:
                text = _read(file, option)
                if text.strip():
                    named.append((file.relative_to(path).as_posix(), text))
        elif path.is_file():
            if path.suffix not in DOCUMENT_SUFFIXES:
                raise ConfigError(f"{option}: {path} is not a .txt or .md file (give plain-text documents)")
            text = _read(path, option)
            if not text.strip():
                raise DataError(f"{option}: {path} is empty")
            named.append((path.name, text))
        else:
            raise ConfigError(f"{option}: {path}: no such file or folder (or use {SAMPLES})")
    if not named:
        raise ConfigError(f"{option}: the documents in {paths!r} are all empty")
    return _unique_ids(named)


def documents_from_examples(examples: Sequence[Example]) -> list[Document]:
    """One document per input record: its last user message, named by its ``source`` meta or id."""
    docs = []
    for e in examples:
        if not e.prompt.strip():
            raise DataError(f"input record {e.id!r} has no user message to use as a document")
        name = str(e.meta.get("source") or e.id)
        docs.append(Document(_slug(e.id), name, e.prompt, parent=e.id))
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):  # slugs of distinct ids can collide; fall back to the ids
        docs = [replace(d, id=e.id) for e, d in zip(examples, docs, strict=True)]
    return docs


def documents_for(run: Any, option: str | Sequence[str] | None, *, name: str = "documents") -> list[Document]:
    """The documents of a generator run: its ``documents`` option, or else its ``--prompts`` inputs."""
    if option:
        return load_documents(option, option=f"--set {name}")
    if run.inputs:
        return documents_from_examples(run.inputs)
    raise ConfigError(
        f"generator {run.generator.name!r} needs documents: give --set {name}=FOLDER "
        f"(or {name}={SAMPLES}) or --prompts FILE.jsonl whose records are documents"
    )


# -- sentences and chunks --------------------------------------------------------------------
# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a capital,
# digit or opening quote. Lower-case after a period ("e.g. apples") is not a boundary.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_BLOCK_LINE = re.compile(r"^\s*(?:#{1,6}\s|[-*•]\s|\d{1,3}[.)]\s|>)")


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph (a rule-based splitter; good enough for cutting text)."""
    text = text.strip()
    if not text:
        return []
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start : m.start() + len(m.group(0).rstrip())].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks; hard-wrapped prose lines are joined, list and heading lines kept."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        joined = lines[0]
        for line in lines[1:]:
            joined += ("\n" if _BLOCK_LINE.match(line) or _BLOCK_LINE.match(lines[0]) else " ") + line
        paragraphs.append(joined)
    return paragraphs


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph as pieces of at most ``size`` characters: itself, its sentences, or word runs."""
    if len(paragraph) <= size:
        return [paragraph]
    pieces: list[str] = []
    for sentence in split_sentences(paragraph):
        if len(sentence) <= size:
            pieces.append(sentence)
            continue
        words, current = sentence.split(), ""
        for word in words:  # a sentence longer than a chunk: cut between words
            if current and len(current) + 1 + len(word) > size:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    return pieces


def chunk_text(text: str, size: int = 1200, *, min_size: int | None = None) -> list[str]:
    """Cut ``text`` into chunks of about ``size`` characters on paragraph, sentence or word boundaries.

    Paragraphs are packed together while they fit; a longer paragraph is cut between
    sentences (joined with spaces); a last chunk shorter than ``min_size`` (default
    ``size // 4``) joins the one before it, so a document does not end in a scrap.
    """
    if size < 20:
        raise ConfigError(f"chunk size must be at least 20 characters, got {size}")
    min_size = size // 4 if min_size is None else min_size
    chunks: list[str] = []
    current: list[tuple[str, str]] = []  # (separator, piece)

    def length(parts: list[tuple[str, str]]) -> int:
        return sum(len(sep) + len(piece) for sep, piece in parts) - (len(parts[0][0]) if parts else 0)

    for paragraph in _paragraphs(text):
        for i, piece in enumerate(_pieces(paragraph, size)):
            sep = "\n\n" if i == 0 else " "
            if current and length(current) + len(sep) + len(piece) > size:
                # A heading at the end of a full chunk belongs to the text after it.
                tail: list[tuple[str, str]] = []
                while current and _is_heading(current[-1][1]) and len(current) > 1:
                    tail.insert(0, current.pop())
                chunks.append(_join(current))
                current = tail
            current.append((sep, piece))
    if current:
        last = _join(current)
        if chunks and len(last) < min_size:
            chunks[-1] = f"{chunks[-1]}\n\n{last}"
        else:
            chunks.append(last)
    return chunks


def _is_heading(piece: str) -> bool:
    """A markdown heading, or a short line without end punctuation ("Water and floods")."""
    return piece.startswith("#") or (
        len(piece) < 60 and "\n" not in piece and not piece.rstrip().endswith((".", "!", "?", ":", '"'))
    )


def _join(parts: list[tuple[str, str]]) -> str:
    return "".join(sep + piece for sep, piece in parts)[len(parts[0][0]) :] if parts else ""


def chunk_documents(docs: Sequence[Document], size: int = 1200, *, min_size: int | None = None) -> list[Example]:
    """Every document's chunks as records: id ``<doc>-c000``, the chunk as the user message.

    Meta: ``source`` (``name#index``), ``doc.name``, ``doc.chunk`` (index), ``doc.chunks``
    (how many the document has) and ``doc.text`` (the chunk, kept when messages change);
    provenance names the document and, for documents from input records, the record as parent.
    """
    out = []
    for doc in docs:
        chunks = chunk_text(doc.text, size, min_size=min_size)
        for i, chunk in enumerate(chunks):
            e = Example.from_prompt(chunk, id=f"{doc.id}-c{i:03d}")
            e.meta["source"] = f"{doc.name}#{i}"
            e.set_meta("doc", "name", doc.name).set_meta("doc", "chunk", i)
            e.set_meta("doc", "chunks", len(chunks)).set_meta("doc", "text", chunk)
            e.provenance = {"step": "chunk", "document": doc.name, "parents": [doc.parent] if doc.parent else []}
            out.append(e)
    return out


def _closest(positions: list[int], target: float) -> int:
    return min(positions, key=lambda p: (abs(p - target), p))


def split_near_middle(text: str, *, fraction: float = 0.5, unit: str = "sentence", slack: float = 0.3) -> Split | None:
    """Cut ``text`` near ``fraction`` of its length: at the closest sentence end, else between words.

    A sentence boundary is used only when it lies within ``slack`` (a share of the length)
    of the target; otherwise (or with ``unit="word"``) the closest space is. None when the
    text has fewer than two words.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"split fraction must be between 0 and 1, got {fraction}")
    if unit not in ("sentence", "word"):
        raise ConfigError(f"split unit must be 'sentence' or 'word', got {unit!r}")
    text = text.strip()
    target = len(text) * fraction
    if unit == "sentence":
        ends = [m.start() for m in _SENTENCE_END.finditer(text)]
        ends += [m.start() for m in re.finditer(r"\n\s*\n", text)]
        near = [p for p in ends if abs(p - target) <= slack * len(text)]
        if near:
            at = _closest(near, target)
            return Split(text[:at].rstrip(), text[at:].strip(), "sentence", at)
    spaces = [m.start() for m in re.finditer(r"\s+", text)]
    if not spaces:
        return None
    at = _closest(spaces, target)
    return Split(text[:at].rstrip(), text[at:].strip(), "word", at)
