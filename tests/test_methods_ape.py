"""APE on fake models: proposals, bandit selection, resampling, saving and reuse."""

from __future__ import annotations

import pytest

from syllabus.errors import ConfigError
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.methods import build_method
from syllabus.methods.ape import APEResult, ape, propose_instructions, score_instruction

DEV = [(f"{a} {b}", str(a + b)) for a, b in [(2, 3), (4, 4), (1, 6), (5, 9), (7, 2), (3, 3)]]
CANDIDATES = ["say the first number", "add the two numbers", "repeat the input", "add the two numbers"]


def proposer():
    def fn(request):
        if request.prompt.startswith("Generate a variation"):
            return "sum the two numbers\nmore text"
        return CANDIDATES[request.sample_index % len(CANDIDATES)]

    return FunctionLLM(fn, name="proposer")


def solver():
    """Adds when told to add or sum; otherwise echoes the first number."""

    def fn(request):
        instruction, rest = request.prompt.split("\nInput: ")
        a, b = rest.split("\n")[0].split()
        return str(int(a) + int(b)) if ("add" in instruction or "sum" in instruction) else a

    return FunctionLLM(fn, name="solver")


def test_proposals_are_distinct_first_lines():
    assert propose_instructions(proposer(), DEV, n_prompts=4) == CANDIDATES[:3]


def test_bandit_finds_the_instruction_that_works_and_resampling_adds_variations(tmp_path):
    result = ape(solver(), DEV, proposer=proposer(), n_prompts=4, score="accuracy", rounds=4, per_round=2,
                 items_per_round=3, resample_rounds=1, keep=1)
    assert result.instruction in ("add the two numbers", "sum the two numbers")
    by_name = {c["instruction"]: c for c in result.candidates}
    assert "sum the two numbers" in by_name and by_name["add the two numbers"]["mean"] == 1.0
    assert by_name["say the first number"]["mean"] < 1.0
    # the good candidates got more of the budget than the bad ones
    assert by_name["add the two numbers"]["n"] >= by_name["repeat the input"]["n"]
    path = result.save(tmp_path / "ape.json")
    assert APEResult.load(path) == result
    # reuse: the chosen instruction goes before the prompt
    m = build_method(f"instruction:file={path}", EchoLLM())
    assert m.chat("3 4").startswith(result.instruction + "\n\n")
    assert m.cache_id != build_method("instruction:text=say the first number", EchoLLM()).cache_id


def test_scores_and_errors():
    assert score_instruction(solver(), "add the two numbers", DEV[:2], score="accuracy") == [1.0, 1.0]
    assert len(score_instruction(EchoLLM(), "x", DEV[:3], score="loglik")) == 3
    with pytest.raises(ConfigError, match="exactly one"):
        build_method("instruction", EchoLLM())
    with pytest.raises(ConfigError, match="no such APE result"):
        build_method("instruction:file=/nonexistent/ape.json", EchoLLM())
    with pytest.raises(ConfigError, match="loglik or accuracy"):
        score_instruction(EchoLLM(), "x", DEV, score="f1")
