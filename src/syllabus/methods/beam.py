"""Step-level beam search: keep ``width`` partial solutions, expand each ``expansions`` times
by one step, score the candidates with a value function, keep the best; repeat.

A step is one line: the line breaks before it and its text up to the next line break.
Backends cannot say whether a generation stopped at a stop string or at the end of the
sequence, so an expansion is decoded without a stop string and cut before its next line
break (see :func:`_line_end` for why before): a continuation with no further line break
that ended on its own finishes the solution. With ``width=1``, ``expansions=1`` and
``temperature=0`` this is greedy decoding (each step is the greedy continuation of the
previous ones): exactly so for a model that reads text back as the tokens it wrote (a
test checks it on a fake); a real tokenizer may split a re-read partial solution
differently, and then the search can drift from greedy. It costs more tokens than
greedy, since each expansion decodes past its first line (``step_tokens`` caps that, and
the token totals show it).

Partial solutions are continued as raw text after the rendered chat prompt, so beam
search drives a plain model: put prompt methods outside it (``cot+beam``), not inside.

Value functions (``value=``): ``loglik``, the model's mean token log-probability of the
partial solution; ``judge``, the model's 1-10 rating of it (see :mod:`syllabus.methods.rewards`).

>>> from syllabus.llm.fake import FunctionLLM
>>> target = "3 * 4 = 12.\\n12 + 5 = 17.\\nThe answer is 17."
>>> def fn(r):  # continues the target after whatever part of it the prompt already holds
...     done = r.render_plain().split("assistant:")[-1]
...     return target[len(done):] if target.startswith(done) else ""
>>> llm = FunctionLLM(fn)
>>> r = GenerateRequest.chat([{"role": "user", "content": "q"}])
>>> BeamSearch(llm, width=1, expansions=1, temperature=0.0).generate([r])[0].text == llm.generate([r])[0].text
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest, LoglikelihoodRequest
from syllabus.methods.base import Method, MethodGeneration, Spent
from syllabus.methods.rewards import score_candidates

__all__ = ["BeamSearch"]


@dataclass
class _Beam:
    text: str = ""
    score: float = 0.0
    tokens: int = 0
    done: bool = False
    finish: str = "stop"
    scored: bool = False  # whether ``score`` is the value of this exact text
    estimated: bool = False  # whether ``tokens`` is an estimate (the step was cut from a longer continuation)


@dataclass
class BeamOptions:
    """width: partial solutions kept (B1); expansions: continuations per kept solution and
    step (B2); temperature, top_p: decoding of the expansions; value: loglik or judge;
    max_steps: steps at most; step_tokens: token cap of one expansion (0: the request's
    whole remaining budget)."""

    width: int = 2
    expansions: int = 2
    temperature: float = 0.7
    top_p: float = 1.0
    value: Literal["loglik", "judge"] = "loglik"
    max_steps: int = 16
    step_tokens: int = 0


class BeamSearch(Method):
    """Step-level beam search (B1 kept x B2 expansions per step, scored by a value function)."""

    name = "beam"
    Options = BeamOptions
    accepts: ClassVar[tuple[str, ...]] = ("judge",)

    def __init__(self, inner: LLM, *, judge: LLM | None = None, **options: Any):
        self.judge = judge
        super().__init__(inner, **options)

    def validate(self) -> None:
        o = self.options
        if isinstance(self.inner, Method):
            raise ConfigError(
                f"beam continues partial solutions, which needs a plain model, but it wraps {self.inner.name!r}; "
                f"put prompt methods outside it: {self.inner.chain}+beam"
            )
        if o.width < 1 or o.expansions < 1 or o.max_steps < 1 or o.step_tokens < 0:
            raise ConfigError("beam: width, expansions and max_steps must be >= 1, step_tokens >= 0")
        if o.value == "loglik" and not self.inner.capabilities.loglikelihood and o.width * o.expansions > o.width:
            raise CapabilityError(f"beam value=loglik needs log-likelihoods; {self.inner.model_id} has none (use value=judge)")

    @property
    def cache_id(self) -> str:
        return super().cache_id + (f",judge={self.judge.cache_id}" if self.judge is not None else "")

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        o = self.options
        prompts = [r.prompt if r.prompt is not None else self.inner.apply_chat_template(r.messages or ()) for r in requests]
        beams: list[list[_Beam]] = [[_Beam()] for _ in requests]
        spent = [Spent() for _ in requests]
        for _ in range(o.max_steps):
            todo = [(i, b) for i, bs in enumerate(beams) for b in bs if not b.done]
            if not todo:
                break
            calls, owners = [], []
            for i, b in todo:
                budget = requests[i].params.max_tokens - b.tokens
                step = min(budget, o.step_tokens) if o.step_tokens else budget
                params = {**requests[i].params.to_dict(), "max_tokens": max(1, step), "stop": (), "temperature": o.temperature, "top_p": o.top_p}
                for j in range(o.expansions):
                    calls.append(GenerateRequest(prompt=prompts[i] + b.text, params=type(requests[i].params)(**params), sample_index=j))
                    owners.append((i, b))
            gens = self.inner.generate(calls)
            fresh: list[list[_Beam]] = [[b for b in bs if b.done] for bs in beams]
            seen: list[set[str]] = [{b.text for b in bs} for bs in fresh]
            for (i, parent), g in zip(owners, gens, strict=True):
                spent[i].add(g)
                child = _extend(parent, g.text, g.completion_tokens, g.finish_reason, requests[i].params.max_tokens)
                if child.text not in seen[i]:  # identical expansions (greedy) count once
                    seen[i].add(child.text)
                    fresh[i].append(child)
            self._score(requests, prompts, fresh, spent)
            beams = [sorted(bs, key=lambda b: -b.score)[: o.width] for bs in fresh]
            self._count_tokens(requests, prompts, beams, spent)
        out = []
        for i, bs in enumerate(beams):
            best = max(bs, key=lambda b: (b.done, b.score))
            out.append(spent[i].generation(best.text, self.model_id, finish_reason=best.finish,
                                           lines=best.text.count("\n") + 1, score=round(best.score, 6)))
        return out

    def _count_tokens(self, requests: Sequence[GenerateRequest], prompts: Sequence[str], beams: list[list[_Beam]], spent: list[Spent]) -> None:
        """Replace the estimated token counts of kept, unfinished partial solutions by exact
        ones, where the backend can count (one log-likelihood call each), so the token
        budget ends where greedy decoding's does."""
        if not self.inner.capabilities.loglikelihood:
            return
        todo = [(i, b) for i, bs in enumerate(beams) for b in bs if b.estimated and not b.done]
        if not todo:
            return
        counts = self.inner.loglikelihood([LoglikelihoodRequest(continuation=b.text, context=prompts[i]) for i, b in todo])
        for (i, b), ll in zip(todo, counts, strict=True):
            spent[i].add(ll)
            b.tokens, b.estimated = ll.n_tokens, False
            if b.tokens >= requests[i].params.max_tokens:
                b.done, b.finish = True, "length"

    def _score(self, requests: Sequence[GenerateRequest], prompts: Sequence[str], beams: list[list[_Beam]], spent: list[Spent]) -> None:
        """Score the new candidates, only where there are more than ``width`` to choose from."""
        todo = [(i, b) for i, bs in enumerate(beams) if len(bs) > self.options.width for b in bs if not b.scored]
        if not todo:
            return
        if self.options.value == "loglik":
            asked = [GenerateRequest(prompt=prompts[i]) for i, _ in todo]
        else:
            asked = [requests[i] for i, _ in todo]
        scores = score_candidates(
            self.options.value, self.inner, asked, [b.text for _, b in todo], [spent[i] for i, _ in todo], judge=self.judge
        )
        for (_, b), s in zip(todo, scores, strict=True):
            b.score, b.scored = s, True


def _line_end(continuation: str) -> int:
    """Where the first line of ``continuation`` ends, or -1 when it has no line break.

    A step starts with the line breaks left over from the previous one and ends just
    before the next line break (and before spaces in front of it). Cutting before the
    break, not after it, matters: a tokenizer reads two line breaks at the end of a text as one
    token but as two before a word, so a partial solution ending in line breaks would be
    read back as other tokens than the model wrote, and the search would drift from
    greedy decoding. A line's last word is split off the same way in any context.

    >>> _line_end("3 + 4 = 7.\\nSo 7."), _line_end("\\n\\nNext. \\nMore"), _line_end("The end.")
    (10, 7, -1)
    """
    first = re.search(r"\S", continuation)
    if first is None:
        return -1
    end = continuation.find("\n", first.start())
    if end < 0:
        return -1
    while end > first.start() and continuation[end - 1] in " \t":
        end -= 1
    return end


def _extend(parent: _Beam, continuation: str, tokens: int, finish: str, max_tokens: int) -> _Beam:
    """The parent plus the first line of ``continuation`` (the whole of it when it has no line break)."""
    cut = _line_end(continuation)
    if cut >= 0:
        step = continuation[:cut]
        # Only the kept line counts against the budget: estimated by its share of characters
        # here, counted exactly later where the backend can (BeamSearch._count_tokens).
        used = max(1, round(tokens * len(step) / max(1, len(continuation))))
        total = parent.tokens + used
        return _Beam(parent.text + step, parent.score, total, total >= max_tokens, "length" if total >= max_tokens else "stop",
                     estimated=True)
    total = parent.tokens + tokens
    ended = finish == "stop" or total >= max_tokens
    return _Beam(parent.text + continuation, parent.score, total, ended, finish)
