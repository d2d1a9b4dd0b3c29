"""The run index persists across openings, rounds and pickling, and forgets a rerun shard."""

from __future__ import annotations

import doctest
import pickle

import numpy as np
import pytest

from syllabus.curate import index as index_module
from syllabus.curate.index import RunIndex
from syllabus.errors import DataError
from syllabus.text.rouge import NoveltyIndex


def test_docstring_examples():
    assert doctest.testmod(index_module).failed == 0


def test_everything_survives_closing_and_reopening(tmp_path):
    with RunIndex(tmp_path, round="r00") as index:
        index.add_exact("exact:both", [("h1", "a", 0, "text a"), ("h2", "b", 1, "text b")])
        index.add_exact("exact:both", [("h1", "late", 2, "text a")])  # first one wins
        index.add_minhash("minhash:x", [("a", 0, np.arange(4, dtype=np.uint32).tobytes())])
        index.add_vectors("semantic:x", [("a", 0, np.array([0.6, 0.8])), ("b", 1, np.array([1.0, 0.0]))])
        index.put_embeddings("model-1", {"hash-a": np.array([0.1, 0.2, 0.3])})
    assert (tmp_path / "index" / "index.sqlite").exists()

    with RunIndex(tmp_path, round="r01") as index:
        assert index.exact_hashes("exact:both") == {"h1": ("a", "r00", 0), "h2": ("b", "r00", 1)}
        assert index.exact_hashes("exact:prompt") == {}  # spaces are separate
        [(entry, blob)] = list(index.minhash_signatures("minhash:x"))
        assert entry == ("a", "r00", 0) and np.frombuffer(blob, dtype=np.uint32).tolist() == [0, 1, 2, 3]
        entries, matrix = index.vectors("semantic:x")
        assert entries == [("a", "r00", 0), ("b", "r00", 1)]
        assert matrix.dtype == np.float32 and np.allclose(matrix, [[0.6, 0.8], [1.0, 0.0]])
        cached = index.get_embeddings("model-1", ["hash-a", "missing"])
        assert list(cached) == ["hash-a"] and cached["hash-a"] == pytest.approx([0.1, 0.2, 0.3])
        assert index.get_embeddings("model-2", ["hash-a"]) == {}
        assert index.shards("exact:both") == {("r00", 0), ("r00", 1)}


def test_forget_removes_only_that_round_and_shard(tmp_path):
    index = RunIndex(tmp_path, round="r00")
    index.add_exact("s", [("h1", "a", 0, None), ("h2", "b", 1, None)])
    index.add_vectors("s", [("a", 0, np.ones(2)), ("b", 1, np.ones(2))])
    RunIndex(tmp_path, round="r01").add_exact("s", [("h3", "c", 0, None)])
    index.forget("s", "r00", 0)
    assert set(index.exact_hashes("s")) == {"h2", "h3"}
    assert [e[0] for e in index.vectors("s")[0]] == ["b"]


def test_novelty_index_round_trip_and_later_rounds_see_earlier_texts(tmp_path):
    index = RunIndex(tmp_path, round="r00")
    gate = index.novelty_index("self-instruct", threshold=0.7)
    assert len(gate) == 0
    for i, text in enumerate(["Write a poem about the sea.", "List three prime numbers.", "Translate hello to French."]):
        assert gate.add_if_novel(text, key=f"t{i}")
    assert index.save_novelty_index(gate, "self-instruct") == 3
    assert index.save_novelty_index(gate, "self-instruct") == 0  # saving twice adds nothing
    index.close()

    later = RunIndex(tmp_path, round="r01")
    gate = later.novelty_index("self-instruct", threshold=0.7)
    assert len(gate) == 3
    assert gate.max_similarity("Please write a poem about the sea.") == (pytest.approx(12 / 13), "t0")  # LCS 6 of 6 and 7 words
    assert gate.add_if_novel("Explain how vaccines work.", key="t3")
    assert later.save_novelty_index(gate, "self-instruct") == 1
    assert len(RunIndex(tmp_path).novelty_index("self-instruct")) == 4
    assert len(RunIndex(tmp_path).novelty_index("other-space")) == 0
    # Unkeyed texts are stored by position.
    anonymous = NoveltyIndex()
    anonymous.add("Some text without a key.")
    assert later.save_novelty_index(anonymous, "anon") == 1


def test_pickles_as_its_path_and_reopens(tmp_path):
    index = RunIndex(tmp_path, round="r02")
    index.add_exact("s", [("h", "a", 0, None)])
    clone = pickle.loads(pickle.dumps(index))
    assert clone.round == "r02" and clone.exact_hashes("s") == {"h": ("a", "r02", 0)}


def test_a_file_that_is_not_an_index_is_a_data_error(tmp_path):
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.sqlite").write_text("not a database" * 100)
    with pytest.raises(DataError, match="not a syllabus run index"):
        RunIndex(tmp_path).exact_hashes("s")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        RunIndex(tmp_path / "file").exact_hashes("s")
