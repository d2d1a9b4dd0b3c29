"""SPaR-style refinement search (``spar-refine``) on fake models: planted depth, BFS vs DFS
order, budget exhaustion, the no-search case, token accounting, pairs and ``syllabus eval``."""

from __future__ import annotations

import json
import re

import pytest

from syllabus.errors import ConfigError
from syllabus.llm.base import GenerateRequest
from syllabus.llm.fake import FunctionLLM
from syllabus.methods import build_method
from syllabus.methods.spar import SparRefine, refinement_search


def ask(text: str = "Count to three.") -> GenerateRequest:
    return GenerateRequest.chat([{"role": "user", "content": text}])


def _previous(request: GenerateRequest) -> str | None:
    """The answer a refinement request asks to refine (None for any other request)."""
    content = request.messages[-1]["content"]
    m = re.search(r"A previous answer was:\n(.*?)\n\nA judge did not accept it", content, re.DOTALL)
    return m.group(1) if m else None


def stepping_model(first: str = "step 0"):
    """Answers ``first``; refining ``step d.B`` gives ``step d+1.B`` plus the sample index (so
    every node of the tree is a distinct text);
    critiques and judge ratings are fixed short texts."""

    def fn(request: GenerateRequest) -> str:
        content = request.messages[-1]["content"]
        if content.startswith("Below are a task and a proposed answer"):  # the 1-10 judge
            answer = content.split("Proposed answer:\n")[1].split("\n\nRating")[0]
            return "9" if answer.startswith("step 3") else "2"
        if content.startswith("Here is a task and an answer to it"):  # the critique
            return "Not far enough."
        previous = _previous(request)
        if previous is None:
            return first
        number = previous.split()[1]
        d, _, branch = number.partition(".")
        return f"step {int(d) + 1}.{branch}{request.sample_index}"

    return FunctionLLM(fn, name="stepping")


class Counter:
    """A scorer (reward=task without a task): the depth reached, 1.0 from ``step N`` on."""

    def __init__(self, goal: int = 3):
        self.goal, self.seen = goal, []

    def score(self, request, text):
        self.seen.append(text)
        d = int(text.split()[1].split(".")[0])
        return 1.0 if d >= self.goal else d / self.goal


# -- the search itself -------------------------------------------------------------------------------


def test_search_finds_the_accepted_refinement_at_the_planted_depth():
    m = SparRefine(stepping_model(), scorer=Counter(3), reward="task", breadth=2, depth=4, critique=False)
    g = m.generate([ask()])[0]
    assert g.text == "step 3.000"
    assert g.trace["accepted"] is True
    assert [p["depth"] for p in g.trace["path"]] == [0, 1, 2, 3]
    assert [p["text"] for p in g.trace["path"]] == ["step 0", "step 1.0", "step 2.00", "step 3.000"]
    # BFS: levels of 1, 2, 4 nodes expanded before level 3 is judged; depth 4 is never reached
    assert g.trace["expansions"] == 1 + 2 + 4
    assert max(v["depth"] for v in g.trace["verdicts"]) == 3
    assert all(v["accepted"] is False for v in g.trace["verdicts"] if v["depth"] < 3)
    # too shallow: the budget ends at depth 2 and the best node (deepest) is returned, unaccepted
    shallow = SparRefine(stepping_model(), scorer=Counter(3), reward="task", breadth=1, depth=2, critique=False)
    g = shallow.generate([ask()])[0]
    assert (g.text, g.trace["accepted"]) == ("step 2.00", False)


def _tree(accept: str | None = None, scores: dict[str, float] | None = None):
    """Node ``r`` has children ``r0``, ``r1``...; records the order of expansion."""
    expanded: list[str] = []

    def propose(items):
        expanded.extend(n.text for _, n in items)
        return [[n.text + "0", n.text + "1"] for _, n in items]

    def judge(items):
        return [((scores or {}).get(t, 0.0), t == accept, {}) for _, t in items]

    return propose, judge, expanded


def test_bfs_and_dfs_expand_in_their_order():
    propose, judge, bfs = _tree()
    refinement_search(["r"], propose, judge, breadth=2, depth=3, search="bfs")
    assert bfs == ["r", "r0", "r1", "r00", "r01", "r10", "r11"]
    propose, judge, dfs = _tree()
    refinement_search(["r"], propose, judge, breadth=2, depth=3, search="dfs")
    assert dfs == ["r", "r0", "r00", "r01", "r1", "r10", "r11"]
    # the first accepted node ends the search, at a different cost
    propose, judge, _ = _tree(accept="r10")
    [b] = refinement_search(["r"], propose, judge, breadth=2, depth=3, search="bfs")
    propose, judge, _ = _tree(accept="r10")
    [d] = refinement_search(["r"], propose, judge, breadth=2, depth=3, search="dfs")
    assert b.best.text == d.best.text == "r10" and b.accepted and d.accepted
    assert (b.expansions, d.expansions) == (3, 5)
    assert [n.text for n in d.path] == ["r", "r1", "r10"]
    # dfs goes to the best-scoring child first; keep=1 prunes the rest
    propose, judge, order = _tree(scores={"r1": 1.0})
    refinement_search(["r"], propose, judge, breadth=2, depth=2, search="dfs", keep=1)
    assert order == ["r", "r1"]
    propose, judge, order = _tree(scores={"r1": 1.0, "r10": 0.5, "r00": 2.0})
    refinement_search(["r"], propose, judge, breadth=2, depth=3, search="bfs", keep=1)
    assert order == ["r", "r1", "r10"]


def test_budget_exhaustion_returns_the_best_node():
    propose, judge, order = _tree(scores={"r": 0.1, "r0": 0.3, "r01": 0.9, "r1": 0.9, "r10": 2.0})
    [res] = refinement_search(["r"], propose, judge, breadth=2, depth=5, search="bfs", max_expansions=2)
    assert order == ["r", "r0"] and res.expansions == 2
    assert not res.accepted and res.best.text == "r1"  # r01 ties with it, but r1 was judged first
    assert res.pair() is None
    propose, judge, _ = _tree(scores={"r0": 0.3, "r01": 0.95, "r1": 0.9, "r10": 2.0})  # r10 is never judged
    [res] = refinement_search(["r"], propose, judge, breadth=2, depth=5, search="bfs", max_expansions=2)
    assert res.best.text == "r01" and [n.text for n in res.path] == ["r", "r0", "r01"]
    # through the method: nothing accepted, the best node is the answer and the trace says so
    m = SparRefine(stepping_model(), scorer=Counter(10), reward="task", breadth=2, depth=5, max_expansions=3,
                   critique=False)
    g = m.generate([ask()])[0]
    assert g.trace["accepted"] is False and g.trace["expansions"] == 3
    assert g.text == "step 2.00"  # the first node of the deepest level reached
    assert g.trace["path"][-1]["score"] == round(2 / 10, 6)


def test_breadth_one_depth_zero_is_the_plain_answer():
    llm = stepping_model()
    plain = llm.generate([ask()])[0]
    g = build_method("spar-refine:breadth=1,depth=0", llm).generate([ask()])[0]
    assert g.text == plain.text == "step 0"
    assert (g.requests, g.prompt_tokens, g.completion_tokens) == (1, plain.prompt_tokens, plain.completion_tokens)
    assert len(llm.history) == 2  # the plain call and the method's one call: no judge, no refiner


def test_an_accepted_root_is_returned_without_refining():
    llm = stepping_model(first="step 3")
    g = SparRefine(llm, breadth=2, depth=3).generate([ask()])[0]  # reward=judge: rating 9 >= 8
    assert g.text == "step 3" and g.trace["accepted"] and g.trace["expansions"] == 0
    assert g.requests == 2 and len(llm.history) == 2  # the answer and its rating


class Counting(FunctionLLM):
    """A FunctionLLM that adds up the tokens of everything it generates."""

    def generate(self, requests):
        out = super().generate(requests)
        self.prompt_tokens = getattr(self, "prompt_tokens", 0) + sum(g.prompt_tokens for g in out)
        self.completion_tokens = getattr(self, "completion_tokens", 0) + sum(g.completion_tokens for g in out)
        return out


def test_tokens_and_requests_are_counted_like_other_methods():
    llm = Counting(stepping_model().fn, name="counting")
    m = build_method("spar-refine:breadth=2,depth=3", llm)  # judge reward, critique on
    g = m.generate([ask()])[0]
    assert g.text == "step 3.000" and g.trace["accepted"]
    # answer + its rating; per expanded node: a critique and 2 refinements; each new node a rating
    expanded, judged = g.trace["expansions"], len(g.trace["verdicts"])
    assert g.requests == 1 + expanded * 3 + judged == len(llm.history)
    assert g.completion_tokens == llm.completion_tokens and g.prompt_tokens == llm.prompt_tokens
    assert g.trace["path"][1]["critique"] == "Not far enough."
    # a nested method's calls count too, and its trace is kept
    llm2 = Counting(stepping_model().fn, name="counting")
    chain = "spar-refine:breadth=1,depth=3,critique=false+self-consistency:k=2,temperature=0"
    g2 = build_method(chain, llm2).generate([ask()])[0]
    assert g2.requests == len(llm2.history) and g2.trace["inner"]["answers"]


def test_refine_pairs_from_python_and_the_refinement_pairs_step():
    m = SparRefine(stepping_model(), scorer=Counter(2), reward="task", breadth=1, depth=3, critique=False)
    results = m.search([ask(), ask()], answers=["step 0", "step 5"])
    assert results[0].pair() == ("step 2.00", "step 0")
    assert results[1].pair() is None and results[1].accepted and results[1].expansions == 0  # already accepted

    from syllabus.pipeline.step import StepContext
    from syllabus.record import Example
    from syllabus.train.pairs import RefinementPairs

    def refine(request):
        text = request.messages[-1]["content"].split("Response:\n")[1].split("\n\nProblems:")[0]
        return text.replace(",", "") if "," in text else text.lower()

    refiner = FunctionLLM(refine, name="refiner")
    ex = Example.from_prompt("Lowercase, no commas.", completion="Red, Green",
                             meta={"checks": [{"name": "case.lowercase"}, {"name": "punctuation.no_comma"}]})
    [pair] = RefinementPairs(refiner, depth=3, branch=1)([ex], StepContext())
    chosen, rejected, rounds = pair.meta["pref.chosen"], pair.meta["pref.rejected"], pair.meta["pref.rounds"]
    assert (chosen, rejected, rounds) == ("red green", "Red, Green", 2)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="breadth"):
        build_method("spar-refine:breadth=0", stepping_model())
    with pytest.raises(ConfigError, match="threshold"):
        build_method("spar-refine:reward=random", stepping_model())
    with pytest.raises(ConfigError, match="search"):
        build_method("spar-refine:search=astar", stepping_model())
    m = build_method("spar-refine:reward=random,threshold=0.5,search=dfs", stepping_model())
    assert m.chain == "spar-refine:reward=random,search=dfs,threshold=0.5"
    with pytest.raises(ConfigError, match="reward=task"):
        build_method("spar-refine:reward=task,depth=1", stepping_model()).generate([ask()])


def test_eval_under_spar_refine_records_the_trace(tmp_path):
    from syllabus.cli import main

    out = tmp_path / "run"
    assert main(["eval", "--model", "fake:echo", "--tasks", "arith-ic", "--limit", "2", "--no-progress",
                 "--method", "spar-refine:breadth=2,depth=1,reward=task", "--out", str(out)]) == 0
    eval_dir = next(out.glob("r*/05_eval"))
    report = json.loads((eval_dir / "report.json").read_text())
    assert report["method"] == "spar-refine:depth=1,reward=task"
    row = json.loads((eval_dir / "samples" / "arith-ic.jsonl").read_text().splitlines()[0])
    trace = row["meta"]["eval.method_trace"]
    assert trace["search"] == "bfs" and trace["verdicts"][0]["node"] == 0 and "path" in trace
    assert row["meta"]["eval.tokens"]["requests"] == 1 + trace["expansions"] * 3  # answer, critique, 2 refinements
