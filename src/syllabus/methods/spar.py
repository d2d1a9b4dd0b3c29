"""SPaR-style refinement search (Cheng et al. 2024, "SPaR: Self-Play with Tree-Search Refinement").

Take an answer a judge rejects, let a refiner propose ``breadth`` refinements of it, judge
each, and keep searching the tree of refinements (breadth- or depth-first, at most
``depth`` refinements deep and ``max_expansions`` expanded nodes) until the judge accepts
a node. The first accepted node is the answer; when the budget is spent without one, the
best-scoring node (the root included) is. The root is the inner model's answer, so
``spar-refine+cot`` refines a CoT answer; a root the judge accepts is returned as it is.

Two ways to use it:

* as an inference-time method, ``syllabus eval --method spar-refine:breadth=2,depth=3``
  (test-time compute: SPaR's Fig. 5 compares it with best-of-N at equal generations);
* from Python, for preference pairs: :meth:`SparRefine.search` returns one
  :class:`SearchResult` per request, and :meth:`SearchResult.pair` is
  ``(refined, rejected)`` when the root was rejected and a refinement accepted. The
  search itself, :func:`refinement_search`, takes any proposer and judge;
  :class:`~syllabus.train.pairs.RefinementPairs` runs it with the example's verifier
  checks as judge.

The judge is a reward of :mod:`syllabus.methods.rewards` with an acceptance threshold:
``judge`` (a model's 1-10 rating, accepted at ``threshold``, default 8), ``task`` (the
task's own scorer: verifier checks, or an oracle reference checker; accepted at 1.0),
or ``loglik``/``random`` with an explicit threshold. With ``critique=true`` (the
default) the refiner first writes a critique of the node it expands, as SPaR's judge
does, and each refinement is asked to fix what the critique names with minimal edits.

>>> from syllabus.llm.fake import FunctionLLM
>>> def model(r):  # answers 5; a refinement request gets the fix
...     return "The answer is 7." if "minimal edits" in last_user_text(r) else "The answer is 5."
>>> class Checker:
...     def score(self, request, text): return float("7" in text)
>>> m = SparRefine(FunctionLLM(model), scorer=Checker(), reward="task", breadth=1, depth=2, critique=False)
>>> g = m.generate([GenerateRequest.chat([{"role": "user", "content": "3+4?"}])])[0]
>>> g.text, g.requests, g.trace["accepted"], [p["depth"] for p in g.trace["path"]]
('The answer is 7.', 2, True, [0, 1])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from syllabus.errors import CapabilityError, ConfigError
from syllabus.llm.base import LLM, GenerateRequest
from syllabus.methods.base import Method, MethodGeneration, Spent, last_user_text, with_params
from syllabus.methods.refine import FEEDBACK_TEMPLATE
from syllabus.methods.rewards import TaskScorer, score_candidates

__all__ = ["Node", "SearchResult", "SparRefine", "refinement_search"]

SPAR_REFINE_TEMPLATE = (
    "{question}\n\nA previous answer was:\n{answer}\n\nA judge did not accept it. {feedback}\n\n"
    "Rewrite the answer with minimal edits: fix only what is wrong, keep everything else as it is, and do not "
    "comment on the changes. Give only the answer, in the format the task asks for."
)


@dataclass
class Node:
    """One answer in the refinement tree: ``parent`` is its parent's index in ``SearchResult.nodes``."""

    text: str
    depth: int = 0
    parent: int | None = None
    score: float = -math.inf
    accepted: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # what the judge or the proposer noted


@dataclass
class SearchResult:
    """The tree one search built, in judging order (``nodes[0]`` is the root), and its outcome."""

    nodes: list[Node]
    chosen: int = 0
    expansions: int = 0
    expanded: list[int] = field(default_factory=list)  # node indices, in the order they were expanded

    @property
    def root(self) -> Node:
        return self.nodes[0]

    @property
    def best(self) -> Node:
        return self.nodes[self.chosen]

    @property
    def accepted(self) -> bool:
        return self.best.accepted

    @property
    def path(self) -> list[Node]:
        """Root to chosen node."""
        out, k = [], self.chosen
        while k is not None:
            out.append(self.nodes[k])
            k = self.nodes[k].parent
        return out[::-1]

    def pair(self) -> tuple[str, str] | None:
        """``(refined, rejected)`` when the root was rejected and a refinement accepted, else None."""
        if self.root.accepted or not self.accepted or self.chosen == 0:
            return None
        return self.best.text, self.root.text

    def trace(self) -> dict[str, Any]:
        """What the search decided, JSON-ready: the path (with texts) and every verdict."""

        def num(x: float) -> float | None:
            return round(x, 6) if math.isfinite(x) else None

        path = [{"node": k, "depth": n.depth, "score": num(n.score), "accepted": n.accepted, "text": n.text,
                 **({"critique": n.info["critique"]} if "critique" in n.info else {})}
                for k, n in zip(self._path_indices(), self.path, strict=True)]
        verdicts = [{"node": k, "parent": n.parent, "depth": n.depth, "score": num(n.score), "accepted": n.accepted}
                    for k, n in enumerate(self.nodes)]
        return {"accepted": self.accepted, "chosen": self.chosen, "expansions": self.expansions,
                "expanded": list(self.expanded), "path": path, "verdicts": verdicts}

    def _path_indices(self) -> list[int]:
        out, k = [], self.chosen
        while k is not None:
            out.append(k)
            k = self.nodes[k].parent
        return out[::-1]


# judge([(search index, text), ...]) -> [(score, accepted, info), ...]
Judge = Callable[[list[tuple[int, str]]], list[tuple[float, bool, dict[str, Any]]]]
# propose([(search index, node), ...]) -> [[refinement text, ...] per node]
Propose = Callable[[list[tuple[int, Node]]], list[list[str]]]


def refinement_search(
    roots: Sequence[str],
    propose: Propose,
    judge: Judge,
    *,
    breadth: int = 2,
    depth: int = 2,
    search: str = "bfs",
    keep: int = 0,
    max_expansions: int = 0,
    dedup: bool = True,
) -> list[SearchResult]:
    """One tree search per root, all batched: each call to ``propose`` and ``judge`` serves
    every search that is still running.

    ``bfs`` expands a whole level at once (its nodes in judging order); ``dfs`` expands one
    node per search and step, children best-scoring first. ``keep`` (0: all) keeps only the
    best ``keep`` nodes of a level (bfs) or children of a node (dfs), SPaR's
    ``select_branch``. ``max_expansions`` (0: no cap but ``depth``) counts expanded nodes.
    With ``dedup`` a proposal already in the tree is not judged again. A search stops at the
    first node judged accepted (in judging order); otherwise its best-scoring node (ties:
    the earliest) is chosen.

    >>> def propose(items): return [[n.text + "!"] for _, n in items]
    >>> def judge(items): return [(len(t), t.endswith("!!"), {}) for _, t in items]
    >>> r = refinement_search(["hi"], propose, judge, breadth=1, depth=3)[0]
    >>> r.best.text, r.pair(), r.expansions
    ('hi!!', ('hi!!', 'hi'), 2)
    """
    if search not in ("bfs", "dfs"):
        raise ConfigError(f"refinement search={search!r}: use bfs or dfs")
    if breadth < 1 or depth < 0 or keep < 0 or max_expansions < 0:
        raise ConfigError("refinement search: breadth must be >= 1; depth, keep and max_expansions >= 0")
    results = [SearchResult([Node(t)]) for t in roots]
    _apply(results, [(i, 0) for i in range(len(results))], judge)
    frontier: list[list[int]] = [[0] if depth > 0 and not r.root.accepted else [] for r in results]
    while True:
        batch: list[tuple[int, int]] = []
        for i, r in enumerate(results):
            todo = frontier[i]
            room = max_expansions - r.expansions if max_expansions else len(todo)
            if not todo or room <= 0:
                frontier[i] = []
                continue
            if search == "bfs":
                level = [k for k in todo if r.nodes[k].depth == r.nodes[todo[0]].depth]
                if keep:
                    level = sorted(sorted(level, key=lambda k: -r.nodes[k].score)[:keep])
                take = level[:room]
                frontier[i] = [k for k in todo if r.nodes[k].depth != r.nodes[todo[0]].depth]
            else:
                take = [todo.pop()]
            batch += [(i, k) for k in take]
        if not batch:
            break
        proposals = propose([(i, results[i].nodes[k]) for i, k in batch])
        new: list[tuple[int, int]] = []
        for (i, k), texts in zip(batch, proposals, strict=True):
            r = results[i]
            r.expansions += 1
            r.expanded.append(k)
            seen = {n.text for n in r.nodes} if dedup else set()
            for text in texts[:breadth]:
                if dedup and text in seen:
                    continue
                seen.add(text)
                r.nodes.append(Node(text, r.nodes[k].depth + 1, k))
                new.append((i, len(r.nodes) - 1))
        _apply(results, new, judge)
        children: dict[int, list[int]] = {}
        for i, k in new:
            children.setdefault(i, []).append(k)
        for i, kids in children.items():
            r = results[i]
            hit = next((k for k in kids if r.nodes[k].accepted), None)
            if hit is not None:
                r.chosen, frontier[i] = hit, []
                continue
            open_ = [k for k in kids if r.nodes[k].depth < depth]
            if search == "bfs":
                frontier[i] += open_
            else:  # per parent: best child on top of the stack
                for parent in dict.fromkeys(r.nodes[k].parent for k in open_):
                    mine = sorted((k for k in open_ if r.nodes[k].parent == parent), key=lambda k: -r.nodes[k].score)
                    frontier[i] += (mine[:keep] if keep else mine)[::-1]
    for r in results:
        if not r.accepted:
            r.chosen = max(range(len(r.nodes)), key=lambda k: (r.nodes[k].score, -k))
    return results


def _apply(results: list[SearchResult], todo: list[tuple[int, int]], judge: Judge) -> None:
    if not todo:
        return
    verdicts = judge([(i, results[i].nodes[k].text) for i, k in todo])
    for (i, k), (score, accepted, info) in zip(todo, verdicts, strict=True):
        node = results[i].nodes[k]
        node.score, node.accepted = float(score), bool(accepted)
        node.info.update(info)


# -- the method ------------------------------------------------------------------------------------


@dataclass
class SparRefineOptions:
    """breadth: refinements proposed per expanded node; depth: refinements deep at most (0: the
    inner answer as it is); search: bfs or dfs; keep: nodes kept per level (bfs) or children
    per node (dfs), 0 all; max_expansions: expanded nodes at most (0: only depth limits);
    reward: the judge (judge, task, loglik, random); metric: the task metric of reward=task;
    threshold: the score a node needs to be accepted (default: 8 for judge, 1 for task);
    critique: the refiner critiques a node before refining it; critique_tokens: its budget;
    temperature: decoding of the refinements; seed: of the random reward."""

    breadth: int = 2
    depth: int = 2
    search: Literal["bfs", "dfs"] = "bfs"
    keep: int = 0
    max_expansions: int = 0
    reward: Literal["judge", "task", "loglik", "random"] = "judge"
    metric: str = ""
    threshold: float | None = None
    critique: bool = True
    critique_tokens: int = 128
    temperature: float = 0.7
    seed: int = 0


_DEFAULT_THRESHOLD = {"judge": 8.0, "task": 1.0}


class SparRefine(Method):
    """SPaR-style tree search over refinements of a rejected answer, judged node by node.

    Objects a spec cannot spell: ``refiner`` (the LLM that critiques and refines; default
    the plain model at the bottom of the chain), ``judge`` (the rater of reward=judge) and
    ``scorer`` (anything with ``score(request, text) -> float``, used as reward=task
    without a task bound).
    """

    name = "spar-refine"
    Options = SparRefineOptions
    accepts: ClassVar[tuple[str, ...]] = ("judge", "refiner", "scorer")

    def __init__(self, inner: LLM, *, judge: LLM | None = None, refiner: LLM | None = None, scorer: Any = None,
                 **options: Any):
        self.judge, self.refiner, self.scorer = judge, refiner, scorer
        super().__init__(inner, **options)

    def validate(self) -> None:
        o = self.options
        if o.breadth < 1 or o.depth < 0 or o.keep < 0 or o.max_expansions < 0:
            raise ConfigError("spar-refine: breadth must be >= 1; depth, keep and max_expansions >= 0")
        if o.temperature < 0 or o.critique_tokens < 1:
            raise ConfigError("spar-refine: temperature must be >= 0 and critique_tokens >= 1")
        if o.threshold is None and o.reward not in _DEFAULT_THRESHOLD:
            raise ConfigError(f"spar-refine reward={o.reward} has no natural acceptance score: give threshold=X")
        if o.reward == "loglik" and not self.base.capabilities.loglikelihood:
            raise CapabilityError(f"spar-refine reward=loglik needs log-likelihoods; {self.base.model_id} has none")

    def bind_task(self, task: Any) -> None:
        super().bind_task(task)
        if self.options.reward == "task" and self.scorer is None:
            self.scorer = TaskScorer(task, self.options.metric)

    @property
    def threshold(self) -> float:
        o = self.options
        return float(o.threshold) if o.threshold is not None else _DEFAULT_THRESHOLD[o.reward]

    @property
    def cache_id(self) -> str:
        named = (("judge", self.judge), ("refiner", self.refiner))
        extra = "".join(f",{k}={v.cache_id}" for k, v in named if v is not None)
        return super().cache_id + extra

    def answer(self, requests: Sequence[GenerateRequest]) -> list[MethodGeneration]:
        first = self.inner.generate(requests)
        inner = [g.trace if isinstance(g, MethodGeneration) else {} for g in first]
        spent = [Spent().add(g) for g in first]
        if self.options.depth == 0:  # nothing to search: the inner answer, unjudged
            return [s.generation(g.text, self.model_id, finish_reason=g.finish_reason, **({"inner": tr} if tr else {}))
                    for s, g, tr in zip(spent, first, inner, strict=True)]
        results = self._search(requests, [g.text for g in first], spent)
        out = []
        for r, s, g, tr in zip(results, spent, first, inner, strict=True):
            finish = g.finish_reason if r.chosen == 0 else r.best.info.get("finish_reason", "stop")
            out.append(s.generation(r.best.text, self.model_id, finish_reason=finish, search=self.options.search,
                                    threshold=self.threshold, **r.trace(), **({"inner": tr} if tr else {})))
        return out

    def search(self, requests: Sequence[GenerateRequest], answers: Sequence[str] | None = None) -> list[SearchResult]:
        """The search trees themselves, for preference pairs: ``answers`` are the roots (default:
        the inner model's answers). ``result.pair()`` is ``(refined, rejected)`` or None."""
        spent = [Spent() for _ in requests]
        if answers is None:
            answers = [g.text for g in self.inner.generate(requests)]
        if len(answers) != len(requests):
            raise ConfigError(f"spar-refine search: {len(answers)} answers for {len(requests)} requests")
        return self._search(requests, list(answers), spent)

    def _search(self, requests: Sequence[GenerateRequest], roots: list[str], spent: list[Spent]) -> list[SearchResult]:
        o = self.options
        refiner = self.refiner or self.base
        finishes: list[dict[str, str]] = [{} for _ in requests]  # per search: refinement text -> finish reason

        def judge(items: list[tuple[int, str]]) -> list[tuple[float, bool, dict[str, Any]]]:
            scores = score_candidates(o.reward, self.base, [requests[i] for i, _ in items], [t for _, t in items],
                                      [spent[i] for i, _ in items], judge=self.judge, seed=o.seed,
                                      task_scorer=self.scorer)
            return [(s, s >= self.threshold, {}) for s in scores]

        def propose(items: list[tuple[int, Node]]) -> list[list[str]]:
            questions = [last_user_text(requests[i]) for i, _ in items]
            if o.critique:
                critiques = refiner.generate([
                    GenerateRequest.chat(
                        [{"role": "user", "content": FEEDBACK_TEMPLATE.format(question=q, answer=n.text)}],
                        max_tokens=o.critique_tokens, temperature=0.0,
                    )
                    for q, (_, n) in zip(questions, items, strict=True)
                ])
                for (i, n), c in zip(items, critiques, strict=True):
                    spent[i].add(c)
                    n.info["critique"] = c.text
            calls = []
            for q, (i, n) in zip(questions, items, strict=True):
                feedback = (f"Its critique:\n{n.info['critique']}" if "critique" in n.info
                            else f"Its score was {n.score:g}; it needs {self.threshold:g}.")
                base = with_params(
                    GenerateRequest.chat([{"role": "user", "content": SPAR_REFINE_TEMPLATE.format(
                        question=q, answer=n.text, feedback=feedback)}]),
                    **{**requests[i].params.to_dict(), "stop": requests[i].params.stop, "temperature": o.temperature},
                )
                calls += [base.with_sample(j) for j in range(o.breadth)]
            gens = refiner.generate(calls)
            out = []
            for j, (i, _) in enumerate(items):
                mine = gens[j * o.breadth : (j + 1) * o.breadth]
                spent[i].add(mine)
                finishes[i].update({g.text: g.finish_reason for g in mine})
                out.append([g.text for g in mine])
            return out

        results = refinement_search(roots, propose, judge, breadth=o.breadth, depth=o.depth, search=o.search,
                                    keep=o.keep, max_expansions=o.max_expansions)
        for r, f in zip(results, finishes, strict=True):
            if r.chosen:
                r.best.info.setdefault("finish_reason", f.get(r.best.text, "stop"))
        return results
