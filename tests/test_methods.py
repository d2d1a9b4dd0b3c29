"""Inference-time methods on fake models: spec grammar, nesting, cache keys, invariants,
voting, rewards, refinement, demonstrations, I³C and `syllabus eval --method`."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from syllabus.errors import CapabilityError, ConfigError, UnknownNameError
from syllabus.llm.base import LLM, GenerateRequest, Generation
from syllabus.llm.fake import EchoLLM, FunctionLLM, ScriptedLLM
from syllabus.methods import Method, MethodGeneration, build_method, list_methods, parse_method_spec
from syllabus.methods.beam import BeamSearch
from syllabus.methods.prompting import Demo, FewShot, SKiC, ZeroShotCoT, select_demos
from syllabus.methods.refine import SelfRefine
from syllabus.methods.sampling import BestOfN, SelfConsistency


def ask(text: str = "What is 3 + 4?", **params) -> GenerateRequest:
    return GenerateRequest.chat([{"role": "user", "content": text}], **params)


SOLUTION = "3 + 4 = 7.\nSo the total is 7.\nThe answer is 7."


def continuing(target: str = SOLUTION):
    """A deterministic, prefix-consistent model: it continues ``target`` after whatever
    part of it the prompt already holds (so greedy step-by-step equals greedy at once)."""

    def fn(request: GenerateRequest) -> str:
        done = request.render_plain().split("assistant:")[-1]
        return target[len(done):] if target.startswith(done) else ""

    return FunctionLLM(fn, name="continuing")


class NoScores(LLM):
    """A backend without log-likelihoods."""

    def __init__(self):
        super().__init__("fake:noscores")

    def generate(self, requests):
        return [Generation("The answer is 1.") for _ in requests]


# -- spec grammar, registry, nesting, cache keys -------------------------------------------


def test_spec_grammar_and_left_wraps_right():
    assert parse_method_spec("i3c+self-consistency:k=8,temperature=0.5,vote=weighted") == [
        ("i3c", {}),
        ("self-consistency", {"k": 8, "temperature": 0.5, "vote": "weighted"}),
    ]
    m = build_method("cot+self-consistency:k=2", EchoLLM())
    assert isinstance(m, ZeroShotCoT) and isinstance(m.inner, SelfConsistency) and isinstance(m.inner.inner, EchoLLM)
    assert m.base is m.inner.inner and m.inner.options.k == 2
    assert m.chain == "cot+self-consistency:k=2"
    # the chain builds the same method back
    assert build_method(m.chain, EchoLLM()).cache_id == m.cache_id
    assert build_method("direct", m.base) is m.base and build_method(None, m.base) is m.base
    assert {"direct", "cot", "i3c", "beam", "self-consistency"} <= set(list_methods())


def test_bad_specs_say_what_to_fix():
    with pytest.raises(UnknownNameError, match="Did you mean self-consistency"):
        build_method("self-consistensy:k=3", EchoLLM())
    with pytest.raises(ConfigError, match="Did you mean k"):
        build_method("self-consistency:kk=3", EchoLLM())
    with pytest.raises(ConfigError, match="not key=value"):
        build_method("self-consistency:k", EchoLLM())
    with pytest.raises(ConfigError, match="empty component"):
        build_method("cot++beam", EchoLLM())
    with pytest.raises(ConfigError, match="expected int"):
        build_method("self-consistency:k=many", EchoLLM())
    with pytest.raises(ConfigError, match="k >= 1"):
        build_method("self-consistency:k=0", EchoLLM())


def test_cache_key_differs_per_method_and_setting():
    llm = EchoLLM()
    keys = {
        build_method(spec, llm).cache_id
        for spec in ["cot", "self-consistency:k=2", "self-consistency:k=3", "self-consistency:k=3,temperature=0.9",
                     "cot+self-consistency:k=3", "self-consistency:k=3+cot"]
    }
    assert len(keys) == 6 and llm.cache_id not in keys
    assert build_method("self-consistency:k=3", llm).cache_id == build_method("self-consistency:temperature=0.7,k=3", llm).cache_id
    assert BestOfN(llm, reward="judge", judge=ScriptedLLM()).cache_id != BestOfN(llm, reward="judge").cache_id


def test_methods_register_lazily_and_report_themselves():
    # Listing imports no method module. Checked in a fresh interpreter: other tests in this
    # process may already have resolved the lazy entries.
    code = "import sys, syllabus.methods as m; m.METHODS.names(); print('syllabus.methods.beam' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    m = build_method("cot", EchoLLM())
    assert m.describe()["method"] == "cot" and m.describe()["model_id"] == "fake:echo"
    assert m.model_id.endswith("@fake:echo") and m.capabilities == EchoLLM.capabilities


def test_loglikelihood_passes_through():
    from syllabus.llm.base import LoglikelihoodRequest

    r = [LoglikelihoodRequest(continuation="ab", context="x")]
    assert build_method("cot+self-consistency:k=2", EchoLLM()).loglikelihood(r)[0].logprob == EchoLLM().loglikelihood(r)[0].logprob


# -- invariants ------------------------------------------------------------------------------


def test_majority_of_one_greedy_sample_is_greedy():
    llm = continuing()
    greedy = llm.generate([ask()])[0]
    sc = SelfConsistency(llm, k=1, temperature=0.0)
    out = sc.generate([ask()])[0]
    assert out.text == greedy.text and llm.history[-1] == ask()  # the very same request was sent
    assert (out.requests, out.completion_tokens) == (1, greedy.completion_tokens)


def test_beam_width_one_one_expansion_at_temperature_zero_is_greedy():
    llm = continuing()
    greedy = llm.generate([ask()])[0].text
    beam = BeamSearch(llm, width=1, expansions=1, temperature=0.0)
    out = beam.generate([ask(), ask("other")])
    assert [o.text for o in out] == [greedy, greedy]
    # one call per line (the last ends without a line break) and one exact token count per cut line
    assert out[0].requests == 3 + 2
    # each expansion decodes past its first line: the honest cost is above greedy's
    assert out[0].completion_tokens > llm.generate([ask()])[0].completion_tokens
    # blank lines stay with the line before them (one "\n\n" token in real tokenizers)
    paragraphs = continuing("First.\n\nSecond.\n\n\nThe answer is 7.")
    out = BeamSearch(paragraphs, width=1, expansions=1, temperature=0.0).generate([ask()])[0]
    assert out.text == paragraphs.generate([ask()])[0].text and out.requests == 3 + 2
    # a raw prompt works too
    raw = GenerateRequest(prompt="user: q\nassistant:")
    assert beam.generate([raw])[0].text == llm.generate([raw])[0].text == SOLUTION


def test_beam_keeps_the_best_scored_steps():
    # Expansions differ by sample index; the fake's log-probability is -ln 2 per character,
    # so per token (word) the line of short words is likelier and the search keeps it.
    def fn(request):
        done = request.render_plain().split("assistant:")[-1]
        lead = "\n" if done else ""  # a step ends before its line break; the next one starts with it
        if done.count("\n") >= 1:
            return lead + "The answer is 7."
        return lead + ("averyveryverylongword", "two words")[request.sample_index % 2] + "\nand so on"

    out = BeamSearch(FunctionLLM(fn), width=1, expansions=2, temperature=0.7).generate([ask()])[0]
    assert out.text == "two words\ntwo words\nThe answer is 7."
    with pytest.raises(ConfigError, match="cot\\+beam"):
        build_method("beam+cot", EchoLLM())
    with pytest.raises(CapabilityError, match="value=judge"):
        BeamSearch(NoScores(), width=2)


# -- voting, rewards, refinement ---------------------------------------------------------------


def test_self_consistency_majority_and_weighted_vote():
    samples = ["8888888888", "The answer is 7.", "8888888888"]
    maj = SelfConsistency(ScriptedLLM(samples), k=3).generate([ask()])[0]
    assert maj.text == "8888888888" and maj.trace["votes"] == {"8888888888": 2, "7": 1}
    # weighted: exp(mean token logprob); the fake gives long tokens tiny probability
    w = SelfConsistency(ScriptedLLM(samples), k=3, vote="weighted").generate([ask()])[0]
    assert w.text == "The answer is 7." and w.trace["answer"] == "7"
    assert w.requests == 6  # 3 samples + 3 scorings
    with pytest.raises(CapabilityError, match="vote=majority"):
        SelfConsistency(NoScores(), vote="weighted")


def test_self_consistency_samples_are_distinct_requests_and_unanswered_samples_do_not_vote():
    llm = ScriptedLLM(["no idea", "The answer is 5.", "hmm"])
    out = SelfConsistency(llm, k=3, temperature=0.8).generate([ask()])[0]
    assert out.text == "The answer is 5."
    assert [r.sample_index for r in llm.history] == [0, 1, 2] and {r.params.temperature for r in llm.history} == {0.8}
    none = SelfConsistency(ScriptedLLM(["a", "b"]), k=2).generate([ask()])[0]
    assert none.text == "a" and none.trace["answer"] is None


def test_text_answers_vote_on_the_last_line():
    out = SelfConsistency(ScriptedLLM(["x\nParis.", "y\nRome", "z\nAnswer: paris"]), k=3, answer="text").generate([ask()])[0]
    assert out.text == "x\nParis." and out.trace["votes"] == {"paris": 2, "rome": 1}


def test_best_of_n_rewards():
    cands = ["The answer is 7, since three plus four is seven.", "The answer is 7."]
    out = BestOfN(ScriptedLLM(cands), n=2).generate([ask()])[0]
    assert out.text == "The answer is 7." and out.trace["chosen"] == 1

    def judged(request):
        text = request.messages[-1]["content"]
        if "Rating (1-10)" in text:
            return "9" if "seven" in text else "3"
        return cands[request.sample_index]

    judge = BestOfN(FunctionLLM(judged), n=2, reward="judge").generate([ask()])[0]
    assert judge.text == cands[0] and judge.trace["scores"] == [9.0, 3.0] and judge.requests == 4
    # a separate judge model rates instead of the policy
    rater = FunctionLLM(lambda r: "10" if "three plus" not in r.messages[-1]["content"] else "1", name="rater")
    assert BestOfN(ScriptedLLM(cands), n=2, reward="judge", judge=rater).generate([ask()])[0].text == cands[1]
    rnd = [BestOfN(ScriptedLLM(cands), n=2, reward="random", seed=s).generate([ask()])[0].trace["chosen"] for s in range(12)]
    assert set(rnd) == {0, 1}
    with pytest.raises(CapabilityError, match="reward=judge"):
        BestOfN(NoScores())


def test_self_refine_rounds_and_stop_when_no_issues():
    llm = ScriptedLLM(["The answer is 5.", "3 + 4 is 7.", "The answer is 7.", "NO ISSUES"])
    out = SelfRefine(llm, rounds=3).generate([ask()])[0]
    assert out.text == "The answer is 7." and out.requests == 4 and len(out.trace["feedback"]) == 2
    assert "Feedback on it:\n3 + 4 is 7." in llm.history[2].messages[-1]["content"]
    assert SelfRefine(ScriptedLLM(["x"]), rounds=0).generate([ask()])[0].text == "x"


def test_tokens_are_summed_over_nested_calls():
    llm = FunctionLLM(lambda r: "one two three The answer is 7.")
    out = build_method("cot+self-consistency:k=4", llm).generate([ask()])[0]
    assert isinstance(out, MethodGeneration)
    assert out.requests == 4 and out.completion_tokens == 4 * 7
    assert out.trace["inner"]["votes"] == {"7": 4}


# -- prompts and demonstrations ----------------------------------------------------------------


def test_zero_shot_cot_and_skic_rewrite_the_question():
    cot = ZeroShotCoT(EchoLLM()).chat("Q?")
    assert cot.startswith("Q?\n\nLet's think step by step.") and "The answer is N." in cot
    assert ZeroShotCoT(EchoLLM(), trigger="Think.", answer_hint="").chat("Q?") == "Q?\n\nThink."
    skic = SKiC(EchoLLM()).chat("Problem: 2 + 2?")
    assert skic.index("Skill <add>") < skic.index("Using Skill <multiply>") < skic.index("Problem: 2 + 2?")


def test_demonstration_selectors():
    pool = [Demo(f"Mia buys {i} apples at a shop", " ".join(["Step."] * (i % 4 + 1)), f"d{i}") for i in range(6)]
    pool.append(Demo("A train travels 60 km per hour for 3 hours", "a. b.", "train"))
    assert select_demos(pool, "How far does a train travel in 3 hours?", 1, "bm25")[0].id == "train"
    assert [d.id for d in select_demos(pool, "q", 2, "complex")] == ["d3", "d2"]  # 4 steps, then 3
    first = select_demos(pool, "q1", 3, "random")
    assert first == select_demos(pool, "q1", 3, "random") and len({d.id for d in first}) == 3
    assert select_demos(pool + [Demo("q1", "x")], "q1", 7, "random")  # the query itself is never a demo
    with pytest.raises(ConfigError, match="pool has 7"):
        select_demos(pool, "q", 8, "random")


def test_few_shot_uses_the_task_pool_and_a_file(tmp_path):
    from syllabus.evaluate.tasks.arith_ic import ArithIC

    task = ArithIC(n_base=1)
    m = FewShot(EchoLLM(), k=2, select="complex")
    with pytest.raises(ConfigError, match="pool="):
        m.generate([ask()])
    m.bind_task(task)
    request = GenerateRequest(messages=tuple(task.prompt(task.load()[0])), params=task.sampling())
    m.generate([request])
    sent = m.inner.history[-1].messages
    assert [x["role"] for x in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"].endswith(".") and "The answer is" in sent[1]["content"]

    path = tmp_path / "demos.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"e{i}", "messages": [{"role": "user", "content": f"q{i}"}], "reference": str(i)})
                              for i in range(3)) + "\n")
    raw = FewShot(EchoLLM(), k=2, pool=str(path)).generate([GenerateRequest(prompt="q9")])[0].text
    assert raw.count("Q: q") == 2 and raw.endswith("q9")
    with pytest.raises(ConfigError, match="no such file"):
        FewShot(EchoLLM(), pool=str(tmp_path / "missing.jsonl"))


# -- evaluation --------------------------------------------------------------------------------


def test_eval_under_a_method_records_it_and_tokens(tmp_path):
    from syllabus.evaluate.runner import evaluate
    from syllabus.evaluate.tasks.arith_ic import ArithIC

    answer = FunctionLLM(lambda r: "Some steps. The answer is 7.")
    report = evaluate(build_method("few-shot:k=1+self-consistency:k=3", answer), [ArithIC(n_base=1, limit=2)], tmp_path)
    assert report["method"] == "few-shot:k=1+self-consistency:k=3"
    assert report["model"]["method"] == report["method"]
    spent = report["tasks"]["arith-ic"]["tokens_per_item"]
    assert spent["requests"] == 3 and spent["completion"] == 3 * 6 and spent["total"] == spent["prompt"] + spent["completion"]
    row = json.loads((tmp_path / "samples" / "arith-ic.jsonl").read_text().splitlines()[0])
    assert row["meta"]["eval.tokens"] == {"prompt": 0, "completion": 18, "requests": 3}
    assert row["meta"]["eval.method_trace"]["inner"]["votes"] == {"7": 3}
    # a plain model: one call per item
    plain = evaluate(answer, [ArithIC(n_base=1, limit=2)], tmp_path / "plain")
    assert plain["method"] == "direct" and plain["tasks"]["arith-ic"]["tokens_per_item"]["requests"] == 1


def test_cli_eval_method_flag(tmp_path):
    from syllabus.cli import main

    out = tmp_path / "run"
    assert main(["eval", "--model", "fake:echo", "--tasks", "arith-ic", "--limit", "2", "--no-progress",
                 "--method", "cot+self-consistency:k=2", "--out", str(out)]) == 0
    report = json.loads(next(out.glob("r*/05_eval/report.json")).read_text())
    assert report["method"] == "cot+self-consistency:k=2"
    assert report["tasks"]["arith-ic"]["tokens_per_item"]["requests"] == 2
    assert main(["eval", "--model", "fake:echo", "--tasks", "arith-ic", "--method", "selfconsistency", "--out", str(out / "x")]) == 2


def test_method_base_class_contract():
    class Upper(Method):
        name = "upper"

        def answer(self, requests):
            return [MethodGeneration(g.text.upper(), requests=1) for g in self.inner.generate(requests)]

    assert Upper(EchoLLM()).chat("hi") == "HI" and Upper(EchoLLM()).spec == "upper"
    with pytest.raises(ConfigError, match="wraps an LLM"):
        Upper("fake:echo")  # type: ignore[arg-type]
    assert math.isfinite(len(Upper(EchoLLM()).generate([])))


# -- sweep -------------------------------------------------------------------------------------


def test_sweep_scores_maj_pass_and_bon_from_one_set_of_samples(tmp_path):
    from syllabus.evaluate.tasks.arith_ic import ArithIC
    from syllabus.methods.sweep import pass_at_k, sweep

    task = ArithIC(n_base=2, variants=False)
    gold = [e.reference for e in task.load()]

    def sampler(request):  # right on samples 0 and 3 of each question, wrong otherwise
        question = request.messages[-1]["content"]
        ref = next(g for e, g in zip(task.load(), gold) if e.messages[-1]["content"] == question)
        return f"The answer is {ref}." if request.sample_index in (0, 3) else f"The answer is {request.sample_index}."

    llm = FunctionLLM(sampler)
    result = sweep(llm, task, n=4, temperatures=(0.5, 1.0), metric="strict_acc", reward="loglik", out_dir=tmp_path)
    assert len(llm.history) == 2 * 2 * 4  # settings x examples x samples, nothing drawn twice per setting
    s = result.settings[0]
    assert s["mean@1"][0]["value"] == 0.5
    assert [e["value"] for e in s["maj"]] == [1.0, 1.0, 1.0, 1.0]  # ties go to the first answer seen
    assert [round(e["value"], 3) for e in s["pass"]] == [0.5, round(1 - 1 / 6, 3), 1.0, 1.0]
    assert len(s["bon"]) == 4 and s["tokens_per_item"] > 0
    assert json.loads((tmp_path / "sweep.json").read_text())["n"] == 4
    assert (tmp_path / "sweep.svg").read_text().count("<polyline") == 2 * 3
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    with pytest.raises(ConfigError, match="scores"):
        sweep(llm, task, n=1, metric="accuracy")


def test_confusing_demonstrations_are_those_with_an_off_topic_condition():
    from syllabus.curate.embed import HashingEmbedder

    pool = [
        Demo("Ana buys 3 pens. Ana buys 2 pens. How many pens does Ana buy?", "5.", "plain"),
        Demo("Ben has 4 cups. The moon is bright tonight. Ben gets 1 cup. How many cups does Ben have?", "5.", "moon"),
        Demo("Cy reads 2 books. Cy reads 3 books. How many books does Cy read?", "5.", "plain2"),
    ]
    m = FewShot(EchoLLM(), k=1, select="confusing", demos=pool, embedder=HashingEmbedder())
    m.generate([ask("Dee has 1 hat. How many hats?")])
    assert m.inner.history[-1].messages[0]["content"] == pool[1].question
    with pytest.raises(ConfigError, match="confusion score"):
        select_demos(pool, "q", 1, "confusing")


def test_best_of_n_with_the_task_scorer_is_an_oracle_under_eval(tmp_path):
    from syllabus.evaluate.runner import evaluate
    from syllabus.evaluate.tasks.arith_ic import ArithIC

    task = ArithIC(n_base=1, limit=3)
    gold = task.load()[0].reference

    def sampler(request):  # only sample 2 is right
        return f"The answer is {gold}." if request.sample_index == 2 else "The answer is 0."

    report = evaluate(build_method("cot+best-of-n:n=3,reward=task", FunctionLLM(sampler)), [task], tmp_path)
    assert report["tasks"]["arith-ic"]["metrics"]["strict_acc"]["value"] == 1.0  # the oracle finds it through cot
    direct = evaluate(FunctionLLM(sampler), [task], tmp_path / "direct")
    assert direct["tasks"]["arith-ic"]["metrics"]["strict_acc"]["value"] == 0.0
    with pytest.raises(ConfigError, match="syllabus eval"):
        BestOfN(FunctionLLM(sampler), n=2, reward="task").generate([ask()])
    with pytest.raises(ConfigError, match="has strict_acc"):
        BestOfN(FunctionLLM(sampler), reward="task", metric="acc").bind_task(task)
