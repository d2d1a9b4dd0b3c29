"""`syllabus sweep` end to end on `fake:echo`: outputs, the table, resuming from the request
cache, temperature 0 against `syllabus eval`, HTML escaping and one-line option errors."""

from __future__ import annotations

import json

import pytest

from syllabus.cli import main
from syllabus.evaluate.task import get_task
from syllabus.llm.fake import EchoLLM
from syllabus.methods.base import last_user_text

LIMIT = 20


@pytest.fixture
def controlled_echo(monkeypatch):
    """``fake:echo`` answering arith-ic: greedy right on questions of even length; sampled
    right on even sample indices. Returns the list of requests it answered."""
    task = get_task("arith-ic", limit=LIMIT)
    refs = {last_user_text(r): e.reference for e in task.load() for r in task.requests(e)}
    seen = []

    def respond(self, request):
        seen.append(request)
        question = last_user_text(request)
        if question not in refs:
            return question
        right = len(question) % 2 == 0 if request.params.temperature == 0 else request.sample_index % 2 == 0
        return f"The answer is {refs[question]}." if right else "The answer is -1."

    monkeypatch.setattr(EchoLLM, "_respond", respond)
    return seen


def sweep_argv(out, *extra):
    return ["sweep", "--model", "fake:echo", "--task", "arith-ic", "--temperature", "0", "0.7", "--top-p", "1.0", "0.9",
            "--n", "4", "--limit", str(LIMIT), "--out", str(out), *extra]


def test_sweep_writes_json_svg_html_prints_the_table_and_resumes(tmp_path, capsys, controlled_echo):
    out = tmp_path / "sweep"
    assert main(sweep_argv(out, "--reward", "loglik")) == 0
    printed = capsys.readouterr().out
    for curve in ("maj@m", "pass@m", "bon@m"):
        assert curve in printed
    result = json.loads((out / "sweep.json").read_text())
    assert result["n"] == 4 and result["task"] == "arith-ic"
    settings = [(s["temperature"], s["top_p"]) for s in result["settings"]]
    assert settings == [(0.0, 1.0), (0.0, 0.9), (0.7, 1.0), (0.7, 0.9)]
    assert all(len(s[c]) == 4 for s in result["settings"] for c in ("maj", "pass", "bon"))
    sampled = result["settings"][2]
    assert sampled["pass"][0]["value"] == 0.5 and sampled["pass"][1]["value"] > 0.5  # half the samples right
    assert (out / "sweep.svg").read_text().count("<polyline") == 4 * 3
    page = (out / "sweep.html").read_text()
    assert "<svg" in page and "maj@m" in page and "T=0.7, top_p=0.9" in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["commands"]["sweep"]["config"]["temperature"] == [0.0, 0.7]
    calls = len(controlled_echo)
    assert calls > 0 and (out / "cache" / "llm.sqlite").exists()
    # the same command again: every sample comes from the run's request cache
    assert main(sweep_argv(out, "--reward", "loglik")) == 0
    assert len(controlled_echo) == calls
    assert "model calls: 0 made" in capsys.readouterr().out
    assert json.loads((out / "sweep.json").read_text())["settings"][2]["maj"] == sampled["maj"]


def test_temperature_zero_maj_at_1_is_the_greedy_answers_score(tmp_path, capsys, controlled_echo):
    assert main(sweep_argv(tmp_path / "sweep", "--metric", "strict_acc")) == 0
    greedy = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["settings"][0]
    assert main(["eval", "--model", "fake:echo", "--tasks", "arith-ic", "--limit", str(LIMIT), "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    report = json.loads(next((tmp_path / "eval").glob("r*/05_eval/report.json")).read_text())
    expected = report["tasks"]["arith-ic"]["metrics"]["strict_acc"]["value"]
    assert 0 < expected < 1  # the fixture makes some greedy answers right and some wrong
    assert greedy["temperature"] == 0.0
    assert greedy["maj"][0]["value"] == pytest.approx(expected)
    assert greedy["mean@1"][0]["value"] == pytest.approx(expected)
    # greedy samples agree, so more of them change nothing
    assert {round(e["value"], 9) for e in greedy["maj"] + greedy["pass"]} == {round(expected, 9)}


def test_model_text_is_escaped_in_the_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(EchoLLM, "_respond", lambda self, r: "<script>alert('x')</script> The answer is 3.")
    out = tmp_path / "sweep"
    assert main(["sweep", "--model", "fake:echo", "--task", "arith-ic", "--temperature", "0", "--n", "2",
                 "--limit", "3", "--out", str(out)]) == 0
    page = (out / "sweep.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_plain_echo_runs(tmp_path, capsys):
    assert main(["sweep", "--model", "fake:echo", "--n", "2", "--limit", "2", "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "sweep.json").exists()


@pytest.mark.parametrize(("flags", "named"), [
    (["--n", "0"], "--n"),
    (["--temperature", "-0.5"], "--temperature"),
    (["--temperature"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--limit", "0"], "--limit"),
    (["--reward", "judge"], "--reward"),
    (["--metric", "accuracy"], "--metric"),
    (["--answer", "letters"], "--answer"),
    (["--task", "arith"], "--task"),
])
def test_bad_options_are_one_line_errors_naming_the_option(tmp_path, capsys, flags, named):
    assert main(["sweep", "--model", "fake:echo", "--limit", "2", "--out", str(tmp_path / "s"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("syllabus: error: ") and named in err
    assert not (tmp_path / "s" / "sweep.json").exists()
