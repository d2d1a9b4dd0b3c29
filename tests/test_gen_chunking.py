"""Document loading, chunking and splitting shared by the document generators."""

from __future__ import annotations

import doctest

import pytest

from syllabus.errors import ConfigError, DataError
from syllabus.generators import chunking
from syllabus.generators.chunking import (
    chunk_documents,
    chunk_text,
    documents_for,
    documents_from_examples,
    load_documents,
    split_near_middle,
    split_sentences,
)
from syllabus.record import Example

PROSE = (
    "The Aune rises in the Tarn Hills. It falls through small waterfalls.\n\n"
    "Below Emsby the valley widens. The river slows down and loops across the plain. It passes Tarrow.\n\n"
    "In its last stretch the Aune flows north. It reaches the sea at Kessel."
)


def test_docstring_examples():
    assert doctest.testmod(chunking).failed == 0


def test_split_sentences_keeps_abbreviations_with_lowercase_after():
    assert split_sentences("Apples, e.g. red ones, grow here. Pears too! Do plums? Yes.") == [
        "Apples, e.g. red ones, grow here.",
        "Pears too!",
        "Do plums?",
        "Yes.",
    ]


def test_chunks_respect_size_and_boundaries_and_keep_every_word_in_order():
    chunks = chunk_text(PROSE, size=80)
    assert all(len(c) <= 80 for c in chunks)
    assert all(c.endswith(".") for c in chunks)  # cut between sentences, never inside one
    assert " ".join(" ".join(chunks).split()) == " ".join(PROSE.split())
    # Paragraphs that fit together are packed into one chunk.
    assert chunk_text(PROSE, size=1000) == [PROSE]


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    text = "word " * 30
    chunks = chunk_text(text, size=22, min_size=0)
    assert all(len(c) <= 22 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_headings_stay_with_their_text_and_a_short_tail_joins_the_chunk_before():
    text = (
        "# Title\n\n"
        + "First paragraph sentence. " * 3
        + "\n\n## Section\n\n"
        + "Second part sentence. " * 3
        + "\n\nEnd."
    )
    chunks = chunk_text(text, size=90)
    assert not any(c.rstrip().endswith("## Section") for c in chunks)
    assert any(c.startswith("## Section") for c in chunks)
    assert chunks[-1].endswith("End.") and "End." != chunks[-1]  # the scrap joined the last chunk
    with pytest.raises(ConfigError, match="at least 20"):
        chunk_text("x", size=5)


def test_hard_wrapped_lines_are_joined_but_lists_are_kept():
    chunks = chunk_text("A line that\nwraps here.\n\n- one\n- two", size=200)
    assert chunks == ["A line that wraps here.\n\n- one\n- two"]


def test_load_documents_from_a_folder_files_and_the_samples(tmp_path):
    (tmp_path / "b.txt").write_text("Bravo text.")
    (tmp_path / "a.md").write_text("# Alpha\n\nAlpha text.")
    (tmp_path / "skip.json").write_text("{}")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Nested alpha.")
    docs = load_documents(str(tmp_path))
    assert [d.name for d in docs] == ["a.md", "b.txt", "sub/a.txt"]  # sorted, .txt/.md only, empty skipped
    assert [d.id for d in docs] == ["a", "b", "sub-a"]
    assert [d.name for d in load_documents([str(tmp_path / "b.txt")])] == ["b.txt"]
    # Two files with the same stem get distinct ids.
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("Another bravo.")
    assert [d.id for d in load_documents([str(tmp_path / "b.txt"), str(other / "b.txt")])] == ["b", "b-2"]
    samples = load_documents("builtin:samples")
    assert len(samples) >= 3 and all(2000 <= len(d.text) <= 6000 for d in samples)


def test_bad_document_paths_name_the_option_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"--set documents: .*no such file or folder"):
        load_documents(str(tmp_path / "nope"), option="--set documents")
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(ConfigError, match="not a .txt or .md file"):
        load_documents(str(tmp_path / "data.csv"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_documents(str(tmp_path / "empty.txt"))
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_documents(str(tmp_path / "latin.txt"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="no .txt or .md files"):
        load_documents(str(tmp_path / "folder"))
    with pytest.raises(ConfigError, match="expected a folder"):
        load_documents([])


def test_documents_from_records_and_the_run_fallbacks():
    records = [Example.from_prompt("Some text.", id="r1"), Example.from_prompt("More text.", id="r2")]
    records[0].meta["source"] = "web/page.html"
    docs = documents_from_examples(records)
    assert [(d.id, d.name, d.text, d.parent) for d in docs] == [
        ("r1", "web/page.html", "Some text.", "r1"),
        ("r2", "r2", "More text.", "r2"),
    ]
    assert chunk_documents(docs)[0].provenance == {"step": "chunk", "document": "web/page.html", "parents": ["r1"]}
    odd = documents_from_examples([Example.from_prompt("a", id="A B"), Example.from_prompt("b", id="a-b")])
    assert [(d.id, d.parent) for d in odd] == [("A B", "A B"), ("a-b", "a-b")]  # colliding slugs: the ids

    class Run:
        def __init__(self, inputs):
            self.inputs = inputs

        class generator:
            name = "continuation"

    with pytest.raises(ConfigError, match="needs documents: give --set documents=FOLDER"):
        documents_for(Run([]), None)
    assert [d.id for d in documents_for(Run(records), None)] == ["r1", "r2"]
    assert documents_for(Run(records), "builtin:samples")[0].name.endswith((".txt", ".md"))


def test_chunk_records_have_stable_ids_and_source_meta():
    docs = load_documents("builtin:samples")
    chunks = chunk_documents(docs, size=600)
    assert chunks == chunk_documents(docs, size=600)  # deterministic
    assert len({c.id for c in chunks}) == len(chunks)
    first = chunks[0]
    assert first.id == f"{docs[0].id}-c000"
    assert first.meta["source"] == f"{docs[0].name}#0"
    assert first.meta["doc.text"] == first.prompt
    assert first.meta["doc.chunks"] == sum(c.meta["doc.name"] == docs[0].name for c in chunks)


def test_split_near_middle_prefers_sentences_then_words():
    s = split_near_middle("One two three. Four five six. Seven eight nine. Ten eleven twelve.")
    assert (s.head, s.tail, s.unit) == (
        "One two three. Four five six.",
        "Seven eight nine. Ten eleven twelve.",
        "sentence",
    )
    # No sentence end near the middle: the closest space.
    w = split_near_middle("Tiny. " + "word " * 40)
    assert w.unit == "word" and abs(w.at - len(("Tiny. " + "word " * 40).strip()) / 2) <= 5
    assert split_near_middle("a b c d", unit="word").unit == "word"
    assert split_near_middle("single") is None
    third = split_near_middle("aa bb cc dd ee ff", fraction=0.33, unit="word")
    assert third.head == "aa bb"
    with pytest.raises(ConfigError):
        split_near_middle("a b", fraction=1.0)
