"""ROUGE-L equals rouge_score's; the novelty index decides exactly as brute force, with far less work."""

from __future__ import annotations

import random

import pytest

from syllabus.errors import ConfigError
from syllabus.text.rouge import NoveltyIndex, lcs_length, rouge_l, rouge_l_tokens, tokenize

WORDS = ["the", "a", "of", "write", "poem", "sea", "list", "three", "prime", "numbers", "sort", "python",
         "explain", "why", "sky", "is", "blue", "give", "an", "example", "story", "cat", "dog", "short",
         "summarise", "text", "translate", "french", "how", "do", "i", "make", "bread", "and", "to", "in"]


def random_text(rng: random.Random, lo: int = 1, hi: int = 25) -> str:
    # Zipf-like word choice so that common words are common, as in real instructions.
    words = rng.choices(WORDS, weights=[1 / (i + 1) for i in range(len(WORDS))], k=rng.randint(lo, hi))
    punct = ["", "", ",", ".", "!", "?", " -", "'s"]
    return " ".join(w.capitalize() if rng.random() < 0.1 else w + rng.choice(punct) for w in words)


def mutate(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.4 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
        elif op < 0.8:
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS))
        else:
            words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def dp_lcs(a, b) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def test_tokenize_matches_rouge_score():
    rouge_tokenize = pytest.importorskip("rouge_score.tokenize")
    rng = random.Random(0)
    alphabet = "abcXYZ019 \t\n.,;:!?'\"-_()éüİßñ€😀"
    samples = ["", "   ", "Hello, World!", "İstanbul café naïve", "x_y-z 3.14 don't"]
    samples += ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(500)]
    for text in samples:
        assert tokenize(text) == rouge_tokenize.tokenize(text, None), text


def test_lcs_length_matches_dynamic_programming():
    rng = random.Random(1)
    for _ in range(500):
        a = rng.choices("abcd", k=rng.randint(0, 30))
        b = rng.choices("abcde", k=rng.randint(0, 30))
        assert lcs_length(a, b) == dp_lcs(a, b)
    # Longer than a machine word, to exercise the big-integer carries.
    a, b = rng.choices("ab", k=300), rng.choices("abc", k=200)
    assert lcs_length(a, b) == dp_lcs(a, b)


def test_rouge_l_equals_rouge_score_bit_for_bit():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(2)
    for _ in range(1000):
        a = random_text(rng, 0, 30)
        b = mutate(rng, a) if rng.random() < 0.5 and a else random_text(rng, 0, 30)
        expected = scorer.score(a, b)["rougeL"].fmeasure
        assert rouge_l(a, b) == expected, (a, b)
        assert rouge_l(b, a) == expected  # symmetric, also in floating point


def brute_force_max(stored: list[tuple[list[str], str]], tokens: list[str]) -> tuple[float, str | None]:
    best, best_key = 0.0, None
    for other, key in stored:
        score = rouge_l_tokens(tokens, other)
        if score > best:
            best, best_key = score, key
    return best, best_key


@pytest.mark.parametrize("threshold", [0.7, 0.5, 0.9, 1.0])
def test_novelty_index_agrees_with_brute_force(threshold):
    rng = random.Random(3)
    index = NoveltyIndex(threshold)
    stored: list[tuple[list[str], str]] = []
    texts: list[str] = []
    planted = found = 0
    for i in range(600):
        near_duplicate = texts and rng.random() < 0.35
        text = mutate(rng, rng.choice(texts)) if near_duplicate else random_text(rng)
        if rng.random() < 0.05:
            text = "!!!"  # no tokens at all
        tokens = tokenize(text)
        expected_score, expected_key = brute_force_max(stored, tokens)
        assert index.is_novel(text) == (expected_score <= threshold), text
        score, key = index.max_similarity(text)
        if expected_score > threshold:
            assert (score, key) == (expected_score, expected_key)
            planted += bool(near_duplicate)
        else:
            assert score <= expected_score  # a lower bound below the threshold
        found += index.add_if_novel(text, key=f"k{i}") is False
        if expected_score <= threshold:
            stored.append((tokens, f"k{i}"))
            texts.append(text)
        assert len(index) == len(stored)
    if threshold < 1.0:  # nothing scores above 1.0
        assert planted > 10 and found > 10  # the stream really contained near-duplicates


def test_novelty_index_add_keeps_everything_and_finds_exact_copies():
    index = NoveltyIndex()
    for i in range(100):
        index.add(f"Task number {i}: describe item {i * 7} in detail", key=str(i))
    assert len(index) == 100
    assert index.max_similarity("task number 42 describe item 294 in detail") == (1.0, "42")
    assert index.is_novel("An entirely different request about cooking pasta.")
    assert [key for _, key in index.items()][:3] == ["0", "1", "2"]


def test_novelty_index_prunes_far_below_quadratic():
    rng = random.Random(4)
    vocab = [f"w{i}" for i in range(3000)]
    common = ["write", "a", "the", "of", "and", "to", "for", "in"]
    index = NoveltyIndex(0.7)
    n = 3000
    for i in range(n):
        words = rng.choices(common, k=5) + rng.choices(vocab, weights=[1 / (j + 1) for j in range(3000)], k=10)
        rng.shuffle(words)
        text = " ".join(words)
        index.add_if_novel(text, key=str(i))
    pairs = n * (n - 1) // 2
    assert index.lcs_computations < pairs / 200, (index.lcs_computations, pairs)


def test_threshold_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="threshold"):
        NoveltyIndex(0.0)
    with pytest.raises(ConfigError, match="threshold"):
        NoveltyIndex(1.5)
