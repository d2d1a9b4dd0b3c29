"""The command line: generated flags, YAML round-trip, one-line errors, secrets kept out."""

from __future__ import annotations

import json

import pytest
import yaml

from syllabus.cli import GenerateConfig, build_parser, main
from syllabus.config import from_dict, resolve, to_dict, to_yaml
from syllabus.errors import ConfigError


def write_prompts(path, prompts):
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": p}]}) + "\n" for p in prompts))
    return path


def test_generate_with_fake_writes_a_resumable_run(tmp_path, capsys):
    prompts = write_prompts(tmp_path / "p.jsonl", ["alpha", "beta", "gamma"])
    out = tmp_path / "run"
    argv = ["generate", "--teacher", "fake:echo", "--prompts", str(prompts), "--out", str(out), "--shard-size", "2", "--no-progress"]
    assert main(argv) == 0
    stage = out / "r00" / "01_generate"
    rows = [json.loads(line) for f in sorted((stage / "shards").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert [r["completion"] for r in rows] == ["alpha", "beta", "gamma"]
    assert rows[0]["provenance"]["model"] == "fake:echo"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["commands"]["generate"]["config"]["teacher"] == ["fake:echo"]
    assert manifest["commands"]["generate"]["models"]["teacher0"]["model_id"] == "fake:echo"
    assert (out / "cache" / "llm.sqlite").exists()
    capsys.readouterr()
    assert main(argv) == 0
    assert "2 shards already done" in " ".join(capsys.readouterr().out.split())


def test_txt_input_and_inline_prompts(tmp_path, capsys):
    (tmp_path / "p.txt").write_text("one\n\ntwo\n")
    argv = ["generate", "--teacher", "fake:echo", "--prompts", str(tmp_path / "p.txt"), "--prompt", "three",
            "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 0
    assert "kept 3 of 3" in " ".join(capsys.readouterr().out.split())


def test_config_yaml_round_trips_and_flags_override(tmp_path):
    cfg = GenerateConfig(teacher=["fake:echo"], prompt=["x"], n=3)
    cfg.sampling.temperature = 0.7
    cfg.sampling.stop = ["\n\n"]
    path = tmp_path / "run.yaml"
    path.write_text(to_yaml(cfg))
    parser = build_parser()
    args = parser.parse_args(["generate", "--config", str(path), "--sampling.max-tokens", "9"])
    for k in [k for k in vars(args) if k.startswith("_")]:
        delattr(args, k)
    loaded = resolve(GenerateConfig, args)
    assert loaded.sampling.temperature == 0.7 and loaded.sampling.stop == ["\n\n"] and loaded.n == 3
    assert loaded.sampling.max_tokens == 9
    loaded.sampling.max_tokens = cfg.sampling.max_tokens
    assert to_dict(loaded) == to_dict(cfg)


def test_unknown_yaml_key_names_file_and_suggests(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("teacher: [fake:echo]\nsampling:\n  temprature: 0.5\n")
    assert main(["generate", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "temprature" in err and "Did you mean temperature?" in err


def test_wrong_type_in_yaml_is_an_error():
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(GenerateConfig, {"n": "three"})


def test_bad_jsonl_line_is_one_line_error_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "ok"}]}\n{"messages": [\n')
    assert main(["generate", "--teacher", "fake:echo", "--prompts", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{bad}:2" in err


def test_unknown_model_suggests_the_right_name(capsys):
    assert main(["generate", "--teacher", "builtin:smollm2", "--prompt", "x"]) == 2
    assert "Did you mean smollm2-135m-instruct?" in capsys.readouterr().err


def test_debug_shows_the_traceback():
    with pytest.raises(ConfigError):
        main(["--debug", "generate", "--teacher", "nope:x", "--prompt", "x"])


def test_api_key_never_reaches_disk(tmp_path):
    out = tmp_path / "run"
    key = "sk-test-should-never-be-written-0123456789"
    assert main(["generate", "--teacher", "fake:echo", "--prompt", "hi", "--out", str(out), "--no-progress",
                 "--backend.api-key", key]) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert "api_key" not in yaml.safe_load((out / "r00" / "01_generate" / "config.yaml").read_text())["backend"]


def test_ls_lists_backends_and_models(capsys):
    assert main(["ls", "backends"]) == 0
    out = capsys.readouterr().out
    for name in ("fake", "builtin", "hf", "llamacpp", "openai", "vllm"):
        assert name in out
    assert main(["ls", "models"]) == 0
    out = capsys.readouterr().out
    assert "builtin:gemma-3-270m" in out and "builtin:smollm2-135m-instruct" in out


def test_show_prompt_renders_without_generating(capsys):
    assert main(["show-prompt", "--model", "fake:echo", "--prompt", "What is 2+2?", "--system", "Be brief."]) == 0
    out = capsys.readouterr().out
    assert "system: Be brief." in out and "user: What is 2+2?" in out


def test_chat_keeps_history_and_resets(monkeypatch, capsys):
    lines = iter(["hello", "/reset", "again", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "fake:echo"]) == 0
    out = capsys.readouterr().out
    assert "hello" in out and "(conversation cleared)" in out and "again" in out


def test_backend_option_that_does_not_apply_is_rejected(capsys):
    assert main(["generate", "--teacher", "openai:m@http://127.0.0.1:9/v1", "--prompt", "x", "--backend.n-ctx", "512"]) == 2
    assert "does not apply to openai" in capsys.readouterr().err


def test_ls_checks_lists_the_checks(capsys):
    assert main(["ls", "checks"]) == 0
    out = capsys.readouterr().out
    assert "case.lowercase" in out and "format.json" in out


def test_eval_with_per_task_settings_from_yaml(tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"model: fake:echo\ntasks: [arith-ic]\ntask_settings:\n  arith-ic: {{n_base: 2}}\nout: {tmp_path / 'run'}\nprogress: false\n"
    )
    assert main(["eval", "--config", str(config)]) == 0
    report = json.loads((tmp_path / "run" / "r00" / "05_eval" / "report.json").read_text())
    assert report["tasks"]["arith-ic"]["settings"]["n_base"] == 2
    assert report["tasks"]["arith-ic"]["n"] == 18  # 2 base problems x (clean + 8 variants)
    assert (tmp_path / "run" / "r00" / "05_eval" / "report.html").exists()
    config.write_text("model: fake:echo\ntasks: [arith-ic]\ntask_settings:\n  ifeval-lite: {n: 2}\n")
    assert main(["eval", "--config", str(config)]) == 2
    assert "not in --tasks" in capsys.readouterr().err


def test_compare_two_evaluations(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["eval", "--model", "fake:echo", "--tasks", "arith-ic", "--limit", "9", "--out", str(tmp_path / name), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp.json")]) == 0
    rows = json.loads((tmp_path / "cmp.json").read_text())["comparisons"]
    strict = next(r for r in rows if r["metric"] == "strict_acc")
    assert strict["verdict"] == "no significant change" and strict["n"] == 9 and strict["missing"] == 0


def test_trend_over_checkpoints_reports_kendall_tau(tmp_path):
    # Three "checkpoints" whose exact-match answers improve: 0, 1 then 2 of 2 right.
    for step, right in enumerate([0, 1, 2]):
        eval_dir = tmp_path / f"ckpt{step}" / "r00" / "05_eval"
        (eval_dir / "samples").mkdir(parents=True)
        report = {"tasks": {"t": {"metrics": {"acc": {"value": right / 2, "low": 0.0, "high": 1.0}}}}}
        (eval_dir / "report.json").write_text(json.dumps(report))
    runs = [str(tmp_path / f"ckpt{i}") for i in range(3)]
    assert main(["trend", *runs, "--out", str(tmp_path / "trend")]) == 0
    rows = json.loads((tmp_path / "trend" / "trend.json").read_text())
    assert rows[0]["values"] == [0.0, 0.5, 1.0] and rows[0]["tau"] == 1.0
    page = (tmp_path / "trend" / "trend.html").read_text()
    assert "<polyline" in page and "<script" not in page


def test_validate_dry_runs_every_registered_task(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    for name in ("ifeval-lite", "arith-ic", "mc", "heldout-nll", "pairwise", "humaneval"):
        assert f"ok {name}" in out


@pytest.mark.parametrize("what", ["generators", "curricula", "methods"])
def test_ls_lists_every_registered_name(what, capsys):
    assert main(["ls", what]) == 0
    out = capsys.readouterr().out
    assert "cannot import" not in out
    expected = {"generators": ["self-instruct", "verified-skills", "continuation"],
                "curricula": ["easy-to-hard", "global-interleave", "replay"],
                "methods": ["self-consistency", "beam", "i3c"]}[what]
    assert all(name in out for name in expected)
