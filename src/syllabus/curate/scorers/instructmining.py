"""InstructMining indicators: cheap per-example numbers that a fitted linear rule combines.

InstructMining (Cao et al., 2023) predicts how good an instruction set is for fine-tuning
from a handful of natural-language indicators averaged over its examples. This module
computes them, one step each, all under the ``quality`` namespace:

=====================  =======================  ===============================================
step                   score                    what it measures
=====================  =======================  ===============================================
ResponseLength         ``quality.length``       response length in **words** (whitespace-
                       ``quality.prompt_length``  separated), so it needs no tokenizer; and the
                                                prompt's (last user turn) length likewise
ResponsePerplexity     ``quality.perplexity``   exp(mean negative log-likelihood per token) of
                       ``quality.nll``          the response given the prompt, under a chosen
                                                model (``quality.nll`` is its log, nats/token)
LexicalDiversity       ``quality.mtld``         MTLD (McCarthy & Jarvis, 2010), forward and
                                                backward averaged, factor threshold 0.72
NeighbourDistance      ``quality.knn``          mean cosine distance to the k nearest other
                                                examples in embedding space (k=6 by default,
                                                the paper's Knn6)
RewardScore            ``quality.reward``       a judge model's 1-10 rating of the response
=====================  =======================  ===============================================

:class:`syllabus.curate.rule.InstructMiningRule` turns these into ``quality.instructmining``.

>>> from syllabus.record import Example
>>> ex = Example.from_prompt("Name two colours.", completion="Red and blue.")
>>> [ex] = ResponseLength()([ex]); ex.scores["quality.length"]
3.0
>>> round(mtld("a a x y z x".split()), 4)
4.5849
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest, SamplingParams
from syllabus.pipeline.step import Batch, BatchMap, Map, Step, StepContext
from syllabus.record import Example, Message

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LexicalDiversity",
    "NeighbourDistance",
    "ResponseLength",
    "ResponsePerplexity",
    "RewardScore",
    "build_reward_messages",
    "mtld",
    "parse_rating",
    "words",
]

NS = "quality"


def words(text: str | None) -> list[str]:
    """Lower-cased word tokens (letters/digits, inner apostrophes kept), punctuation dropped.

    >>> words("It's 5 o'clock, Bob!")
    ["it's", '5', "o'clock", 'bob']
    """
    return re.findall(r"\w+(?:'\w+)*", (text or "").lower())


def _require_loglikelihood(llm: LLM, step: str) -> None:
    if not llm.capabilities.loglikelihood:
        raise CapabilityError(
            f"{step} needs a model that scores log-likelihoods; {llm.model_id} does not "
            "(use an hf, llamacpp or vllm model)"
        )


# -- length ---------------------------------------------------------------------------------


class ResponseLength(Map):
    """``quality.length``: words in the completion; ``quality.prompt_length``: words in the prompt.

    Words, not tokens: the count is the same whatever model later reads the data, and
    InstructMining's length term is tiny per unit either way.
    """

    name = "length"
    version = "1"

    def map(self, example: Example) -> Example:
        example.set_score(NS, "length", len((example.completion or "").split()))
        example.set_score(NS, "prompt_length", len(example.prompt.split()))
        return example


# -- perplexity -----------------------------------------------------------------------------


class ResponsePerplexity(BatchMap):
    """Perplexity of the completion given the prompt under ``llm`` (a scorer model).

    One :class:`LoglikelihoodRequest` per example (continuation = completion, context = the
    prompt's chat messages), sent ``batch_size`` at a time. Writes ``quality.nll`` (mean
    negative log-likelihood per token, in nats) and ``quality.perplexity`` = exp(nll).
    An example without a completion gets neither, and ``meta["quality.perplexity_error"]``.

    >>> from syllabus.llm.fake import EchoLLM
    >>> [ex] = ResponsePerplexity(EchoLLM())([Example.from_prompt("Hi", completion="ab")])
    >>> round(ex.scores["quality.perplexity"], 2)     # the fake scores 2 bits per character
    4.0
    """

    name = "perplexity"
    version = "1"

    def __init__(self, llm: LLM, *, batch_size: int = 16):
        _require_loglikelihood(llm, "perplexity")
        self.llm = llm
        self.batch_size = batch_size

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        todo = [ex for ex in batch if ex.completion]
        for ex in batch:
            if not ex.completion:
                ex.set_meta(NS, "perplexity_error", "no completion")
        if todo:
            results = self.llm.loglikelihood(
                [LoglikelihoodRequest(continuation=ex.completion or "", messages=tuple(ex.messages)) for ex in todo]
            )
            for ex, result in zip(todo, results, strict=True):
                nll = -result.logprob / max(1, result.n_tokens)
                ex.set_score(NS, "nll", nll)
                # exp overflows past ~709 nats/token; no real model gets there, a broken one might.
                ex.set_score(NS, "perplexity", math.exp(min(nll, 700.0)))
        return batch

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "model": self.llm.model_id}


# -- lexical diversity ----------------------------------------------------------------------


def _mtld_one_way(tokens: Sequence[str], threshold: float) -> float:
    """Tokens per factor in one direction (McCarthy & Jarvis 2010).

    A factor ends each time the running type-token ratio falls to ``threshold``; the
    leftover segment counts as the fraction ``(1 - ttr) / (1 - threshold)`` of a factor.
    """
    factors = 0.0
    types: set[str] = set()
    count = 0
    ttr = 1.0
    for token in tokens:
        count += 1
        types.add(token)
        ttr = len(types) / count
        if ttr <= threshold:
            factors += 1
            types, count, ttr = set(), 0, 1.0
    if count:
        factors += (1.0 - ttr) / (1.0 - threshold)
    # No factor at all happens only when every word differs (the running TTR never falls).
    # The formula's value is then infinite; counting the text as one factor keeps the score
    # finite and still ranks it at the top for its length.
    return len(tokens) / factors if factors > 0 else float(len(tokens))


def mtld(tokens: Sequence[str], threshold: float = 0.72) -> float:
    """MTLD: the mean of the forward and the backward pass; 0 for an empty text.

    Worked example, ``a a x y z x``: forward, ``a a`` ends a factor (TTR 0.5), then ``x y
    z x`` is left at TTR 0.75, i.e. 0.25/0.28 = 0.893 of a factor: 6 / 1.893 = 3.170.
    Backward (``x z y x a a``): TTR 0.75, 0.8, then 0.667 ends one factor with nothing
    left: 6 / 1 = 6. MTLD = (3.170 + 6) / 2 = 4.585.

    >>> round(mtld("a a x y z x".split()), 4), mtld([])
    (4.5849, 0.0)
    """
    if not 0 < threshold < 1:
        raise ConfigError(f"mtld threshold must be in (0, 1), got {threshold}")
    if not tokens:
        return 0.0
    return (_mtld_one_way(tokens, threshold) + _mtld_one_way(list(reversed(tokens)), threshold)) / 2


class LexicalDiversity(Map):
    """``quality.mtld``: MTLD of the completion's lower-cased words (see :func:`mtld`).

    MTLD is known to be unstable below ~50 words; short answers get a value anyway, and
    ``quality.length`` next to it tells the rule how much to trust it.
    """

    name = "mtld"
    version = "1"

    def __init__(self, *, threshold: float = 0.72):
        if not 0 < threshold < 1:
            raise ConfigError(f"mtld: threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold

    def map(self, example: Example) -> Example:
        example.set_score(NS, "mtld", mtld(words(example.completion), self.threshold))
        return example


# -- nearest-neighbour distance -------------------------------------------------------------

Embedder = Callable[[list[str]], "np.ndarray"]
Field = Literal["prompt", "completion", "both"]


def _text(example: Example, field: Field) -> str:
    if field == "prompt":
        return example.prompt
    if field == "completion":
        return example.completion or ""
    return f"{example.prompt}\n{example.completion or ''}"


def _embed_function(embedder: Any) -> Embedder:
    """An ``embed(texts)`` callable from an embedder spec string or an embedder object."""
    if isinstance(embedder, str):
        # Imported here: the embedding model (and torch) load only when a step needs them.
        from syllabus.curate.embed import load_embedder

        embedder = load_embedder(embedder)
    if hasattr(embedder, "encode"):
        return lambda texts: embedder.encode(list(texts))
    if callable(embedder):
        return embedder
    raise ConfigError(f"knn-distance: embedder must be a spec string or an object with encode(texts), got {embedder!r}")


class NeighbourDistance(Step):
    """``quality.knn``: mean cosine distance from an example to its ``k`` nearest neighbours.

    Neighbours are the other examples the step sees in one run, i.e. one shard under the
    pipeline runner (the step reads the whole shard before writing). A far-from-everything
    example is unusual; InstructMining's fitted rule rewards it (negative Knn6 coefficient
    on loss). With fewer than ``k + 1`` examples, ``k`` shrinks to what there is; a lone
    example gets no score and ``meta["quality.knn_error"]``.

    ``embed`` maps a list of texts to an (n, d) array (a recipe run hands the step its
    shared embedder); without it, ``embedder`` names one for
    :func:`syllabus.curate.embed.load_embedder` (all-MiniLM-L6-v2 by default, ``fake:bow``
    for dry runs). Tests pass a fake::

        step = NeighbourDistance(k=2, embed=lambda texts: np.array([[len(t), 1.0] for t in texts]))
    """

    name = "knn-distance"
    version = "1"
    block = 1024

    def __init__(
        self,
        *,
        k: int = 6,
        field: Field = "both",
        embed: Embedder | None = None,
        embedder: Any = "builtin:all-minilm-l6-v2",
    ):
        if k < 1:
            raise ConfigError(f"knn-distance: k must be >= 1, got {k}")
        if field not in ("prompt", "completion", "both"):
            raise ConfigError(f"knn-distance: field must be prompt, completion or both, got {field!r}")
        self.k = k
        self.field = field
        self._embed = embed
        self.embedder = embedder

    def run(self, examples: Iterable[Example], ctx: StepContext) -> Iterator[Example]:
        import numpy as np

        batch = list(examples)
        if len(batch) < 2:
            for ex in batch:
                ex.set_meta(NS, "knn_error", "no other example to compare with")
            yield from batch
            return
        embed = self._embed or _embed_function(self.embedder)
        vectors = np.asarray(embed([_text(ex, self.field) for ex in batch]), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.where(norms == 0, 1.0, norms)
        k = min(self.k, len(batch) - 1)
        # Row blocks keep memory at block x n, not n x n, for a large shard.
        for start in range(0, len(batch), self.block):
            distance = 1.0 - unit[start : start + self.block] @ unit.T
            rows = np.arange(distance.shape[0])
            distance[rows, rows + start] = np.inf  # an example is not its own neighbour
            nearest = np.partition(distance, k - 1, axis=1)[:, :k]
            for ex, row in zip(batch[start : start + self.block], nearest, strict=True):
                ex.set_score(NS, "knn", float(row.mean()))
        yield from batch

    def describe(self) -> dict[str, object]:
        embedder = self.embedder if isinstance(self.embedder, str) else getattr(self.embedder, "model_id", repr(self.embedder))
        return {**super().describe(), "k": self.k, "field": self.field, "embedder": None if self._embed else embedder}


# -- reward (judge rating) ------------------------------------------------------------------

REWARD_SYSTEM = "You are a strict grader of answers written by AI assistants."
REWARD_TEMPLATE = """\
Rate how well the response below answers the instruction, on a scale from 1 to 10:
1 = useless: wrong, off-topic, a refusal without reason, or it does not answer;
5 = partly right or partly helpful;
10 = correct, complete, helpful and clearly written.
Judge the content, not the length.

[Instruction]
{instruction}

[Response]
{response}
[End of Response]

Reply with one line: Rating: N/10"""

_RATING = re.compile(r"rating\W*?(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?", re.IGNORECASE)
_BARE_RATING = re.compile(r"^\W*(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?\W*$", re.IGNORECASE)


def build_reward_messages(example: Example) -> list[Message]:
    """The judge prompt of :class:`RewardScore` for one example."""
    from syllabus.evaluate.judge import instruction_text

    user = REWARD_TEMPLATE.format(instruction=instruction_text(example.messages).strip(), response=(example.completion or "").strip())
    return [{"role": "system", "content": REWARD_SYSTEM}, {"role": "user", "content": user}]


def parse_rating(text: str) -> tuple[float | None, str | None]:
    """``(rating, None)`` or ``(None, reason)``; never raises.

    >>> parse_rating("Rating: 7/10"), parse_rating("**Rating**: 9"), parse_rating("8")
    ((7.0, None), (9.0, None), (8.0, None))
    >>> parse_rating("Rating: 12/10")[1], parse_rating("It is good.")[1]
    ('rating 12 is outside 1-10', "no rating: expected a line 'Rating: N/10'")
    """
    match = _RATING.search(text) or _BARE_RATING.match(text.strip())
    if match is None:
        return None, "no rating: expected a line 'Rating: N/10'"
    value = float(match[1])
    if not 1 <= value <= 10:
        return None, f"rating {match[1]} is outside 1-10"
    return value, None


class RewardScore(BatchMap):
    """``quality.reward``: a judge model rates each response from 1 to 10.

    InstructMining's strongest indicator is a reward model's score; here any LLM plays the
    reward model, in one of two ways:

    - ``mode="loglik"``: no generation; the judge's log-likelihoods of the ten replies
      ``Rating: 1/10`` ... ``Rating: 10/10`` after the same prompt are renormalised, and the
      score is the expected rating (G-Eval's probability-weighted score). It never fails to
      parse and is smooth, which suits small local judges that will not follow a format.
    - ``mode="generate"``: the judge writes ``Rating: N/10`` (greedy); the parsed N is the
      score. An unreadable reply leaves the score out and keeps the text in
      ``meta["quality.reward_error"]`` / ``meta["quality.reward_raw"]``. The only choice
      for judges behind an API without log-likelihoods.
    - ``mode="auto"`` (default): ``loglik`` when the judge's backend scores
      log-likelihoods, else ``generate``.

    Why ``auto``: builtin:smollm2-135m-instruct, asked to generate, wrote a readable
    rating for 1 of 6 test answers; scored by likelihood, every answer gets a rating.

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> step = RewardScore(ScriptedLLM(["Rating: 8/10"]), mode="generate")
    >>> [ex] = step([Example.from_prompt("Hi", completion="Hello!")])
    >>> ex.scores["quality.reward"]
    8.0
    """

    name = "reward"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        *,
        mode: Literal["auto", "generate", "loglik"] = "auto",
        max_tokens: int = 16,
        batch_size: int = 16,
    ):
        if mode not in ("auto", "generate", "loglik"):
            raise ConfigError(f"reward: mode must be 'auto', 'generate' or 'loglik', got {mode!r}")
        if mode == "auto":
            mode = "loglik" if llm.capabilities.loglikelihood else "generate"
        elif mode == "loglik":
            _require_loglikelihood(llm, "reward (mode=loglik)")
        self.llm = llm
        self.mode = mode
        self.params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
        self.batch_size = batch_size

    def map_batch(self, batch: Batch) -> Iterable[Example]:
        if self.mode == "loglik":
            self._by_loglik(batch)
        else:
            self._by_generation(batch)
        return batch

    def _by_generation(self, batch: Batch) -> None:
        requests = [GenerateRequest(messages=tuple(build_reward_messages(ex)), params=self.params) for ex in batch]
        for ex, generation in zip(batch, self.llm.generate(requests), strict=True):
            ex.set_meta(NS, "reward_raw", generation.text)
            rating, error = parse_rating(generation.text)
            if rating is None:
                ex.set_meta(NS, "reward_error", error)
            else:
                ex.set_score(NS, "reward", rating)

    def _by_loglik(self, batch: Batch) -> None:
        ratings = range(1, 11)
        requests = [
            LoglikelihoodRequest(continuation=f"Rating: {r}/10", messages=tuple(build_reward_messages(ex)))
            for ex in batch
            for r in ratings
        ]
        results = self.llm.loglikelihood(requests)
        for i, ex in enumerate(batch):
            logps = [results[i * 10 + j].logprob for j in range(10)]
            top = max(logps)
            weights = [math.exp(lp - top) for lp in logps]
            total = sum(weights)
            ex.set_score(NS, "reward", sum(r * w for r, w in zip(ratings, weights, strict=True)) / total)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.llm.model_id, "mode": self.mode}
