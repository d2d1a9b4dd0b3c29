"""``mc`` and ``verbalized``: request layout, the four MC metrics on designed cases, verbalizer modes."""

from __future__ import annotations

import doctest
import json
import re
from collections.abc import Callable, Sequence

import pytest

from syllabus import ConfigError, DataError
from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.task import get_task
from syllabus.evaluate.tasks import multiple_choice
from syllabus.evaluate.tasks.multiple_choice import MultipleChoice, Verbalized, load_mc_file
from syllabus.llm.base import LLM, Capabilities, GenerateRequest, Generation, Loglikelihood, LoglikelihoodRequest


class ScoredLLM(LLM):
    """A fake whose log-likelihoods come from a rule ``(context, continuation) -> (logprob, n_tokens)``.

    The context is the raw context, or the last user turn for chat requests. Unknown
    pairs get a very low score, so a test notices when a request it did not design is asked.
    """

    capabilities = Capabilities(loglikelihood=True)

    def __init__(self, rule: dict[tuple[str, str], float | tuple[float, int]] | Callable[[str, str], float | None]):
        super().__init__("fake:scored")
        self.rule = rule
        self.asked: list[LoglikelihoodRequest] = []

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return [Generation(text="") for _ in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        out = []
        for r in requests:
            self.asked.append(r)
            context = r.context if r.context is not None else r.messages[-1]["content"]
            found = self.rule(context, r.continuation) if callable(self.rule) else self.rule.get((context, r.continuation))
            logprob, n_tokens = (found if isinstance(found, tuple) else (found, 1)) if found is not None else (-100.0, 1)
            out.append(Loglikelihood(logprob=logprob, is_greedy=False, n_tokens=n_tokens))
        return out


def write(tmp_path, records, name="items.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def score_one(task, llm):
    example = task.load()[0]
    return task.score(example, llm.loglikelihood(task.requests(example)))


def test_requests_are_conditional_then_neutral_then_blank(tmp_path):
    path = write(tmp_path, [{"question": "Sky?", "choices": ["blue", "red"], "answer": 0, "cloze": "The sky is ___."}])
    requests = MultipleChoice(path=path).requests(MultipleChoice(path=path).load()[0])
    assert [(r.context, r.continuation) for r in requests] == [
        ("Question: Sky?\nAnswer:", " blue"),
        ("Question: Sky?\nAnswer:", " red"),
        ("Answer:", " blue"),
        ("Answer:", " red"),
        ("", "The sky is blue."),
        ("", "The sky is red."),
    ]
    assert len(MultipleChoice(path=path, mutual_info=False, blank_ppl=False).requests(MultipleChoice(path=path).load()[0])) == 2


def test_acc_and_acc_norm_disagree_when_the_right_answer_is_long(tmp_path):
    # acc: -3 > -5 picks the short wrong answer; acc_norm: -5/20 > -3/1 picks the long right one.
    path = write(tmp_path, [{"question": "Q?", "choices": ["a", "a much longer answer"], "answer": 1}])
    llm = ScoredLLM({("Question: Q?\nAnswer:", " a"): -3.0, ("Question: Q?\nAnswer:", " a much longer answer"): -5.0})
    scores = score_one(MultipleChoice(path=path, mutual_info=False, blank_ppl=False), llm)
    assert scores == {"acc": 0.0, "acc_norm": 1.0}


def test_mutual_information_removes_a_choice_prior(tmp_path):
    # "yes" wins conditionally (-1 > -2) only because it is likely anywhere (-0.5 after
    # "Answer:"); relative to the neutral context, "no" gains +1 and "yes" loses 0.5.
    path = write(tmp_path, [{"question": "Is ice hot?", "choices": ["yes", "no"], "answer": 1}])
    ctx = "Question: Is ice hot?\nAnswer:"
    llm = ScoredLLM({(ctx, " yes"): -1.0, (ctx, " no"): -2.0, ("Answer:", " yes"): -0.5, ("Answer:", " no"): -3.0})
    scores = score_one(MultipleChoice(path=path, blank_ppl=False), llm)
    assert scores["acc"] == 0.0 and scores["acc_mi"] == 1.0


def test_blank_ppl_compares_mean_logprob_per_token_of_the_filled_sentence(tmp_path):
    # "blue" has the lower total (-4 < -3) but the better perplexity (-1.0/token vs -1.5/token).
    path = write(tmp_path, [{"question": "Sky?", "choices": ["blue", "green"], "answer": 0, "cloze": "The sky is ___."}])
    llm = ScoredLLM({("", "The sky is blue."): (-4.0, 4), ("", "The sky is green."): (-3.0, 2)})
    assert score_one(MultipleChoice(path=path, mutual_info=False), llm)["acc_blank"] == 1.0
    # Without a cloze, the blank goes after the prompt: question and answer are scored together.
    path = write(tmp_path, [{"question": "Sky?", "choices": ["blue", "green"], "answer": 0}], "plain.jsonl")
    task = MultipleChoice(path=path)
    assert task.requests(task.load()[0])[-1].continuation == "Question: Sky?\nAnswer: green"


def test_context_items_are_continued_directly_and_chat_uses_a_user_turn(tmp_path):
    path = write(tmp_path, [{"context": "She opened the umbrella because", "choices": ["it rained", "it was sunny"], "answer": 0}])
    task = MultipleChoice(path=path, mutual_info=False, blank_ppl=False)
    assert task.requests(task.load()[0])[0].context == "She opened the umbrella because"
    chat = MultipleChoice(path=path, mutual_info=False, blank_ppl=False, chat=True)
    request = chat.requests(chat.load()[0])[1]
    assert request.messages == ({"role": "user", "content": "She opened the umbrella because"},)
    assert request.continuation == "it was sunny"


def test_fewshot_demonstrations_are_other_items_with_their_answers(tmp_path):
    items = [{"id": f"q{i}", "question": f"Q{i}?", "choices": [f"a{i}", f"b{i}"], "answer": i % 2} for i in range(5)]
    task = MultipleChoice(path=write(tmp_path, items), num_fewshot=2)
    example = task.load()[0]
    context = task.context(example)
    demos = context.split("\n\n")
    assert len(demos) == 3 and demos[-1] == "Question: Q0?\nAnswer:"
    for demo in demos[:2]:
        i = int(re.search(r"Q(\d)\?", demo).group(1))
        assert i != 0 and demo.endswith(f" {'a' if i % 2 == 0 else 'b'}{i}")
    assert context == task.context(example)  # seeded: the same demonstrations every time


@pytest.mark.parametrize(
    "record, message",
    [
        ({"question": "Q", "choices": ["a", "b"], "answer": 2}, r"items.jsonl:2: 'answer' must be the 0-based index"),
        ({"question": "Q", "choices": ["a", "b"], "answer": True}, "'answer' must be the 0-based index"),
        ({"question": "Q", "choices": ["a"], "answer": 0}, r"items.jsonl:2: 'choices' must be a list of at least two"),
        ({"question": "Q", "context": "C", "choices": ["a", "b"], "answer": 0}, "exactly one of 'question'"),
        ({"question": "Q", "choices": ["a", "b"], "answer": 0, "label": 1}, "unknown key\\(s\\) label"),
        ({"question": "Q", "choices": ["a", "b"], "answer": 0, "cloze": "no blank"}, "exactly one blank"),
        ({"id": "first", "question": "Q2", "choices": ["a", "b"], "answer": 0}, "id 'first' repeats line 1"),
    ],
)
def test_bad_items_name_file_and_line(tmp_path, record, message):
    good = {"id": "first", "question": "Q", "choices": ["a", "b"], "answer": 0}
    path = write(tmp_path, [good, record])
    with pytest.raises(DataError, match=message):
        load_mc_file(path)


def test_packaged_sample_runs_end_to_end(tmp_path):
    task = get_task("mc")
    examples = task.load()
    assert len(examples) == 20 and all(e.meta["mc.cloze"].count("___") == 1 for e in examples)
    # A model that prefers the gold continuation (and the gold-filled cloze) is right by every metric.
    llm = ScoredLLM(lambda context, cont: -1.0 if _is_gold(examples, context, cont) else -5.0)
    report = evaluate(llm, [task], tmp_path)
    metrics = report["tasks"]["mc"]["metrics"]
    assert {m: metrics[m]["value"] for m in task.metrics} == {"acc": 1.0, "acc_norm": 1.0, "acc_mi": 1.0, "acc_blank": 1.0}
    assert metrics["acc"]["method"] == "wilson" and report["tasks"]["mc"]["n"] == 20


def _is_gold(examples, context, continuation):
    for e in examples:
        if context.endswith(f"{e.prompt}\nAnswer:") and continuation == f" {e.reference}":
            return True
        if context == "" and continuation == e.meta["mc.cloze"].replace("___", e.reference):
            return True
    return False


# -- verbalizer manipulation ----------------------------------------------------------------

SENTIMENT = {}  # text -> gold label word, filled from the packaged sample


def _sentiment() -> dict[str, str]:
    if not SENTIMENT:
        for e in Verbalized().load():
            SENTIMENT[e.prompt] = e.reference
    return SENTIMENT


def _text_of(context: str) -> str:
    return re.search(r"Text: (.*)\nAnswer:", context).group(1)


def prior_follower(context: str, continuation: str) -> float:
    """Answers with the word that *means* the gold label, whatever the instruction says."""
    return -1.0 if continuation.strip() == _sentiment()[_text_of(context)] else -2.0


def instruction_follower(context: str, continuation: str) -> float:
    """Reads the mapping from the instruction and answers with the word it assigns to the gold label."""
    gold = _sentiment()[_text_of(context)]
    word = re.search(rf'"(\w+)" if it is {gold}\b', context).group(1)
    return -1.0 if continuation.strip() == word else -2.0


def test_flipped_mode_swaps_the_label_words_and_says_so():
    task = Verbalized(mode="flipped")
    example = task.load()[0]
    assert task.verbalizers("natural") == ["negative", "positive"]
    assert task.verbalizers("flipped") == ["positive", "negative"]
    assert task.verbalizers("neutral") == ["foo", "bar"]
    prompt = task.prompt_text(example, "flipped")
    assert 'Answer "positive" if it is negative and "negative" if it is positive.' in prompt
    assert [r.continuation for r in task.requests(example)] == [" positive", " negative"]
    assert len(Verbalized().requests(example)) == 6  # all three modes, two words each


def test_an_instruction_follower_scores_one_in_every_mode(tmp_path):
    report = evaluate(ScoredLLM(instruction_follower), [Verbalized()], tmp_path)
    metrics = report["tasks"]["verbalized"]["metrics"]
    assert [metrics[m]["value"] for m in ("acc_natural", "acc_neutral", "acc_flipped", "flipped_prior")] == [1.0, 1.0, 1.0, 0.0]
    assert metrics["flipped_minus_natural"]["value"] == 0.0 and metrics["chance"] == 0.5


def test_a_prior_follower_is_right_when_natural_and_wrong_when_flipped(tmp_path):
    report = evaluate(ScoredLLM(prior_follower), [Verbalized()], tmp_path)
    metrics = report["tasks"]["verbalized"]["metrics"]
    assert metrics["acc_natural"]["value"] == 1.0 and metrics["acc_flipped"]["value"] == 0.0
    assert metrics["flipped_prior"]["value"] == 1.0
    # foo/bar mean nothing to it: equal scores, the first word wins, right on the half labelled "negative".
    assert metrics["acc_neutral"]["value"] == 0.5
    paired = metrics["flipped_minus_natural"]
    assert paired["value"] == -1.0 and paired["verdict"] == "significant regression" and paired["high"] < 0


def test_three_labels_rotate_so_no_label_keeps_its_word(tmp_path):
    moods = [("I cried.", 0), ("I rested.", 1), ("I laughed.", 2)]
    items = [{"question": t, "choices": ["sad", "calm", "happy"], "answer": a} for t, a in moods]
    task = Verbalized(path=write(tmp_path, items), mode="flipped", instruction="Classify the mood.")
    assert task.verbalizers("flipped") == ["calm", "happy", "sad"]
    prompt = task.prompt_text(task.load()[0], "flipped")
    assert 'Answer "calm" if it is sad, "happy" if it is calm, or "sad" if it is happy.' in prompt
    gold = {"I cried.": "sad", "I rested.": "calm", "I laughed.": "happy"}
    llm = ScoredLLM(lambda ctx, cont: -1.0 if cont.strip() == gold[_text_of(ctx)] else -2.0)
    for example in task.load():
        assert task.score(example, llm.loglikelihood(task.requests(example))) == {"acc_flipped": 0.0, "flipped_prior": 1.0}


def test_verbalized_needs_one_label_set(tmp_path):
    items = [{"question": "a", "choices": ["no", "yes"], "answer": 0}, {"question": "b", "choices": ["yes", "no"], "answer": 0}]
    with pytest.raises(DataError, match="one label set"):
        Verbalized(path=write(tmp_path, items)).load()
    with pytest.raises(ConfigError, match="not one of"):
        get_task("verbalized", mode="unnatural")


def test_docstring_examples():
    assert doctest.testmod(multiple_choice).failed == 0
