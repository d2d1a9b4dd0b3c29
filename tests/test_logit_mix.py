"""Token-level decoding (``syllabus.methods.logit_mix``) on tiny random Llama models.

Every model here is built from a config in ``tmp_path`` (a 64-word vocabulary, 2 layers,
hidden size 32) with one word-level tokenizer, so the file runs in seconds on a CPU and
loads no builtin model. The invariants: EFT with tuned == base is the large model, EFT
with the small base as the large model is the tuned model, ``next_token_logprobs`` is a
full forward pass's last position, the rules switched off are the identity, the EOS ramp
ends generations earlier, the repetition penalty lowers repeated tokens, and a backend
without logits fails with one clear line.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import GenerateRequest, LoglikelihoodRequest, SamplingParams
from syllabus.llm.cache import CachedLLM, RequestCache
from syllabus.llm.fake import EchoLLM
from syllabus.llm.hf import HFLLM
from syllabus.methods import build_method
from syllabus.methods.logit_mix import EFT, PoE, PoEProcessor, decode, parse_deltas, starting_tokens

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
WORDS = ["User", "Question", "Answer", ":", "the", "a", "is", "of", "and", "to", "in", "it", "cat", "dog", "red",
         "blue", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "yes", "no", "sun",
         "moon", "tree", "house", "car", "road", "fish", "bird", "milk", "tea", "cup", "hat", "box", "pen", "ink",
         "map", "key", "door", "wall", "book", "page", "word", "line", "song", "rain", "snow", "wind", "fire",
         "stone", "gold", "?", "."]
assert len(SPECIALS) + len(WORDS) == 64
PAD, BOS, EOS = 0, 1, 2


def tiny_tokenizer(words: list[str]) -> transformers.PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def tiny_model(folder, seed: int, words: list[str] = WORDS, *, init: float = 0.5) -> str:
    """A random 2-layer Llama; ``init`` (the weights' std) large enough that its next-token
    distributions are peaked, so greedy choices are not near-ties."""
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=64, max_position_embeddings=128, initializer_range=init,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tiny_tokenizer(words).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {name: tiny_model(root / name, seed) for name, seed in (("large", 0), ("tuned", 1), ("base", 2))}


@pytest.fixture(scope="module")
def models(folders):
    return {name: HFLLM(path, dtype="float32", batch_size=4) for name, path in folders.items()}


def prompt(text: str = "User : the cat is", **params) -> GenerateRequest:
    return GenerateRequest(prompt=text, params=SamplingParams(**params))


PROMPTS = ["User : the cat is", "a dog", "Question : one two three four five ?", "the sun and the moon in the rain"]


def ids(llm, text: str) -> list[int]:
    return list(llm.tokenizer(text, add_special_tokens=True).input_ids)


# -- the logits capability -------------------------------------------------------------------


def test_next_token_logprobs_is_the_last_position_of_a_full_forward(models):
    llm = models["large"]
    assert llm.capabilities.logits
    prefixes = [ids(llm, t) for t in PROMPTS]
    assert len({len(p) for p in prefixes}) > 1  # the batch is really padded
    got = llm.next_token_logprobs(prefixes)
    assert got.shape == (len(prefixes), 64) and got.dtype == torch.float32
    with torch.inference_mode():
        for row, p in enumerate(prefixes):
            want = llm.model(input_ids=torch.tensor([p])).logits[0, -1].float().log_softmax(-1)
            torch.testing.assert_close(got[row], want, atol=1e-5, rtol=1e-5)


def test_decode_steps_reuse_the_cache_and_agree_with_fresh_passes(models, folders):
    llm = models["large"]
    fresh = HFLLM(folders["large"], dtype="float32")
    prefixes = [ids(llm, t) for t in PROMPTS]
    llm.next_token_logprobs(prefixes)
    calls: list[tuple[int, ...]] = []
    handle = llm.model.get_decoder().register_forward_hook(
        lambda module, args, kwargs, out: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        for step in range(5):
            prefixes = [p + [4 + (step * 7 + row) % 60] for row, p in enumerate(prefixes)]
            calls.clear()
            stepped = llm.next_token_logprobs(prefixes)
            assert calls == [(len(prefixes), 1)]  # only the new token of each row was run
            fresh._step_cache = None
            torch.testing.assert_close(stepped, fresh.next_token_logprobs(prefixes), atol=1e-5, rtol=1e-5)
    finally:
        handle.remove()
    # the same prefixes again: the same values
    assert torch.equal(llm.next_token_logprobs(prefixes), stepped)


# -- EFT invariants --------------------------------------------------------------------------


def test_eft_with_tuned_equal_to_base_is_the_large_model(models):
    large, small = models["large"], models["tuned"]
    eft = EFT(large, tuned_llm=small, base_llm=small, beta=1.0)
    prefixes = [ids(large, t) for t in PROMPTS]
    large._step_cache = None
    torch.testing.assert_close(eft.next_token_logprobs(prefixes), large.next_token_logprobs(prefixes), atol=1e-6, rtol=0)
    requests = [prompt(t, max_tokens=12) for t in PROMPTS]
    assert [g.text for g in eft.generate(requests)] == [g.text for g in large.generate(requests)]


def test_eft_with_beta_zero_is_the_large_model_whatever_the_pair(models):
    large = models["large"]
    eft = EFT(large, tuned_llm=models["tuned"], base_llm=models["base"], beta=0.0)
    requests = [prompt(t, max_tokens=10) for t in PROMPTS]
    assert [g.text for g in eft.generate(requests)] == [g.text for g in large.generate(requests)]


def test_eft_with_the_small_base_as_large_is_the_tuned_model(models):
    base, tuned = models["base"], models["tuned"]
    eft = EFT(base, tuned_llm=tuned, base_llm=base, beta=1.0)
    prefixes = [ids(base, t) for t in PROMPTS]
    tuned._step_cache = None
    torch.testing.assert_close(eft.next_token_logprobs(prefixes), tuned.next_token_logprobs(prefixes), atol=1e-5, rtol=0)
    requests = [prompt(t, max_tokens=12) for t in PROMPTS]
    gens = eft.generate(requests)
    assert [g.text for g in gens] == [g.text for g in tuned.generate(requests)]
    assert all(g.requests == 3 and g.prompt_tokens == 3 * len(ids(base, r.prompt)) for g, r in zip(gens, requests))


def test_eft_mixes_the_three_distributions(models):
    large, tuned, base = models["large"], models["tuned"], models["base"]
    eft = EFT(large, tuned_llm=tuned, base_llm=base, beta=0.5)
    p = [ids(large, PROMPTS[0])]
    want = (large.next_token_logprobs(p) + 0.5 * (tuned.next_token_logprobs(p) - base.next_token_logprobs(p))).log_softmax(-1)
    torch.testing.assert_close(eft.next_token_logprobs(p), want, atol=1e-6, rtol=0)


def test_eft_spec_loads_the_pair_and_sampling_is_seeded(models, folders):
    spec = f"eft:tuned=hf:{folders['tuned']},base=hf:{folders['base']},beta=1.5"
    eft = build_method(spec, models["large"])
    assert isinstance(eft, EFT) and eft.options.beta == 1.5 and eft.options.tuned == f"hf:{folders['tuned']}"
    assert build_method(eft.chain, models["large"]).cache_id == eft.cache_id
    r = prompt(max_tokens=8, temperature=1.0, seed=3)
    first = eft.generate([r, r.with_sample(1)])
    again = eft.generate([r, r.with_sample(1)])
    assert [g.text for g in first] == [g.text for g in again]
    assert eft.models()[1].dtype == "float32"  # the pair follows the large model's dtype
    # a cached large model is looked through
    cached = CachedLLM(models["large"], RequestCache(":memory:"))
    assert build_method(spec, cached).generate([r])[0].text == first[0].text
    chained = build_method("poe:eos_ramp=0,repetition=0,deltas=+" + spec, models["large"])
    assert isinstance(chained, PoE) and isinstance(chained.inner, EFT)
    assert chained.generate([r])[0].text == first[0].text


def test_eft_refuses_models_that_do_not_share_a_tokenizer(models, tmp_path):
    other = HFLLM(tiny_model(tmp_path / "other", 5, list(reversed(WORDS))), dtype="float32")
    eft = EFT(models["large"], tuned_llm=other, base_llm=models["base"])
    with pytest.raises(ConfigError, match="do not share a tokenizer") as e:
        eft.generate([prompt(max_tokens=2)])
    assert "\n" not in str(e.value)


def test_eft_options_are_checked(models):
    with pytest.raises(ConfigError, match="eft needs tuned=MODEL"):
        build_method("eft:base=hf:x", models["large"])
    with pytest.raises(CapabilityError, match="scores no log-likelihoods"):
        EFT(models["large"], tuned_llm=models["tuned"], base_llm=models["base"]).loglikelihood(
            [LoglikelihoodRequest(context="a", continuation="b")])


# -- the product-of-experts rules -------------------------------------------------------------


def test_rules_off_are_the_identity(models):
    lp = torch.randn(3, 64).log_softmax(-1)
    off = PoEProcessor(eos_ids=[EOS], eos_ramp=0.0, repetition=0.0, token_deltas={})
    assert off([[5, 6], [], [7]], lp) is lp
    poe = build_method("poe:eos_ramp=0,repetition=0,deltas=", models["large"])
    requests = [prompt(t, max_tokens=10) for t in PROMPTS]
    assert [g.text for g in poe.generate(requests)] == [g.text for g in models["large"].generate(requests)]


def test_each_rule_moves_the_right_tokens():
    lp = torch.full((2, 64), -math.log(64))
    ramp = PoEProcessor(eos_ids=[EOS], eos_ramp=0.5)(([], [4, 5, 6, 7]), lp)
    assert torch.allclose(ramp[0], lp[0])  # nothing generated yet: no boost
    assert math.isclose(float(ramp[1, EOS] - ramp[1, 4]), 2.0, abs_tol=1e-5)  # 0.5 x 4 tokens
    rep = PoEProcessor(repetition=1.5)([[9, 9, 10], []], lp)
    assert rep[0, 9] < lp[0, 9] and rep[0, 11] > lp[0, 11]
    assert math.isclose(float(rep[0, 11] - rep[0, 9]), 1.5, abs_tol=1e-5)  # once, however often repeated
    assert torch.allclose(rep[1], lp[1])
    assert torch.allclose(rep.exp().sum(-1), torch.ones(2))


def test_deltas_hit_the_tokens_that_begin_a_turn(models):
    tok = models["large"].tokenizer
    assert starting_tokens(tok, "User") == [SPECIALS.__len__() + WORDS.index("User")]
    assert parse_deltas("User:-4;Question:-4") == {"User": -4.0, "Question": -4.0}
    with pytest.raises(ConfigError, match="TEXT:DELTA"):
        parse_deltas("User=-4")
    proc = PoEProcessor.from_strings(tok, {"User": -3.0, "Question": -3.0})
    lp = torch.full((1, 64), -math.log(64))
    out = proc([[]], lp)
    user, other = 4 + WORDS.index("User"), 4 + WORDS.index("cat")
    assert math.isclose(float(out[0, other] - out[0, user]), 3.0, abs_tol=1e-5)


def test_eos_ramp_ends_generations_earlier(models):
    llm = models["large"]
    requests = [prompt(t, max_tokens=24) for t in PROMPTS]
    plain = build_method("poe:eos_ramp=0,repetition=0,deltas=", llm).generate(requests)
    assert all(g.finish_reason == "length" and g.completion_tokens == 24 for g in plain)  # planted: no EOS on its own
    ramped = build_method("poe:eos_ramp=2.0,repetition=0,deltas=", llm).generate(requests)
    assert all(g.finish_reason == "stop" and g.completion_tokens < 24 for g in ramped)
    # what it kept is the start of the unramped text: the ramp only moved EOS
    assert all(p.text.startswith(r.text) for p, r in zip(plain, ramped))


def test_repetition_penalty_lowers_repeated_tokens(models):
    llm = models["large"]
    requests = [prompt(t, max_tokens=30) for t in PROMPTS]

    def repeats(spec):
        gens = build_method(spec, llm).generate(requests)
        words = [g.text.split() for g in gens]
        return sum(len(w) - len(set(w)) for w in words)

    assert repeats("poe:eos_ramp=0,repetition=0,deltas=") > 0  # a random model loops
    assert repeats("poe:eos_ramp=0,repetition=100,deltas=") == 0


def test_poe_wraps_eft_and_stop_strings_cut(models):
    large, tuned, base = models["large"], models["tuned"], models["base"]
    eft = EFT(large, tuned_llm=tuned, base_llm=base)
    poe = PoE(eft, eos_ramp=0.0, repetition=0.0, deltas="")
    requests = [prompt(t, max_tokens=10) for t in PROMPTS]
    assert [g.text for g in poe.generate(requests)] == [g.text for g in eft.generate(requests)]
    assert poe.chain == "poe:deltas=,eos_ramp=0.0,repetition=0.0+eft" and not poe.capabilities.logits
    full = eft.generate([prompt(max_tokens=10)])[0].text.split()
    stop = full[3]
    cut = eft.generate([prompt(max_tokens=10, stop=[stop])])[0]
    assert cut.finish_reason == "stop" and stop not in cut.text and full[0] in cut.text


def test_decode_keeps_order_and_batches(models):
    llm = models["large"]
    requests = [prompt(t, max_tokens=6) for t in PROMPTS]
    batched = decode(llm, requests)
    alone = [decode(llm, [r])[0] for r in requests]
    assert [g.text for g in batched] == [g.text for g in alone]


# -- errors ------------------------------------------------------------------------------------


def test_a_backend_without_logits_is_one_clear_line(models):
    for spec in ("poe", "eft:tuned=hf:x,base=hf:y"):
        with pytest.raises(CapabilityError, match="needs next-token log-probabilities") as e:
            build_method(spec, EchoLLM())
        assert "\n" not in str(e.value) and "fake:echo" in str(e.value)
    with pytest.raises(CapabilityError, match="directly around the model"):
        build_method("poe+cot", models["large"])
    with pytest.raises(ConfigError, match="eos_ramp"):
        build_method("poe:eos_ramp=-1", models["large"])
