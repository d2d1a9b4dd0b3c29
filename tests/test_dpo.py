"""The DPO recipe: the loss against hand-computed values, pairs from meta, and (integration)
a few real steps on the builtin SmolLM2 raising the chosen-minus-rejected margin, and
resume after a kill giving the same weights as an uninterrupted run.

The real-model tests load the model once and hand each run a deep copy (LoRA wraps the
model in place), with rows of at most 64 tokens and 2 pairs a batch, so each stays well
under 30 s on a 2-core CPU.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from syllabus.errors import ConfigError
from syllabus.record import Example

torch = pytest.importorskip("torch")

from syllabus.train.dpo import DPOSettings, dpo_loss, preference_pairs, train_dpo


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_dpo_loss_matches_hand_computed_values():
    pc, pr = torch.tensor([-10.0, -4.0]), torch.tensor([-12.0, -3.0])
    rc, rr = torch.tensor([-11.0, -4.0]), torch.tensor([-11.5, -4.5])
    out = dpo_loss(pc, pr, rc, rr, beta=0.1)
    # pair 1: (pc - pr) - (rc - rr) = 2 - 0.5 = 1.5; pair 2: -1 - 0.5 = -1.5
    assert out.margins.tolist() == pytest.approx([0.15, -0.15])
    assert out.losses.tolist() == pytest.approx([-_log_sigmoid(0.15), -_log_sigmoid(-0.15)])
    assert float(out.losses[0]) == pytest.approx(0.62096, abs=1e-5)


def test_ipo_loss_matches_hand_computed_values():
    pc, pr = torch.tensor([-10.0, -4.0]), torch.tensor([-12.0, -3.0])
    rc, rr = torch.tensor([-11.0, -4.0]), torch.tensor([-11.5, -4.5])
    out = dpo_loss(pc, pr, rc, rr, beta=0.25, loss_type="ipo")
    # 1/(2 beta) = 2: (1.5 - 2)^2 = 0.25, (-1.5 - 2)^2 = 12.25
    assert out.losses.tolist() == pytest.approx([0.25, 12.25])
    assert out.margins.tolist() == pytest.approx([0.375, -0.375])


def test_dpo_loss_gradient_pushes_chosen_up_and_rejected_down():
    pc, pr = torch.tensor([-5.0], requires_grad=True), torch.tensor([-5.0], requires_grad=True)
    dpo_loss(pc, pr, torch.tensor([-5.0]), torch.tensor([-5.0]), beta=0.1).losses.sum().backward()
    assert float(pc.grad[0]) == pytest.approx(-0.05)  # -beta * sigmoid(0)
    assert float(pr.grad[0]) == pytest.approx(0.05)


def test_bad_loss_settings_are_config_errors():
    z = torch.zeros(1)
    with pytest.raises(ConfigError, match="beta"):
        dpo_loss(z, z, z, z, beta=0.0)
    with pytest.raises(ConfigError, match="loss-type"):
        dpo_loss(z, z, z, z, beta=0.1, loss_type="hinge")  # type: ignore[arg-type]


def test_preference_pairs_read_meta_and_fall_back_to_completion():
    a = Example.from_prompt("2+2?", meta={"pref.chosen": "4", "pref.rejected": "5"})
    b = Example.from_prompt("3+3?", completion="6", meta={"pref.rejected": "7"})
    c = Example.from_prompt("4+4?", completion="8")  # no rejected response: skipped
    pairs, skipped = preference_pairs([a, b, c])
    assert [(chosen, rejected) for _, chosen, rejected in pairs] == [("4", "5"), ("6", "7")]
    assert skipped == 1


def test_dpo_settings_extend_sft_settings_as_the_cli_builds_them():
    import dataclasses

    from syllabus.train.sft import SFTSettings

    sft = SFTSettings(student="builtin:smollm2-135m-instruct", max_length=64)
    dpo = DPOSettings(**dataclasses.asdict(sft), beta=0.2, loss_type="ipo")
    assert (dpo.max_length, dpo.beta, dpo.loss_type) == (64, 0.2, "ipo")


# -- the real model ------------------------------------------------------------------------------

STUDENT = "builtin:smollm2-135m-instruct"

# Planted pairs: the chosen answer is right and plain, the rejected one wrong and shouting.
PLANTED = [
    ("What color is a clear daytime sky?", "Blue.", "GREEN, OBVIOUSLY!"),
    ("How many legs does a cat have?", "Four.", "SEVEN, OBVIOUSLY!"),
    ("What is 2 + 2?", "4.", "22, OBVIOUSLY!"),
    ("What is the capital of France?", "Paris.", "BERLIN, OBVIOUSLY!"),
]
HELD_OUT = [
    ("How many days are in a week?", "Seven.", "TWELVE, OBVIOUSLY!"),
    ("What do bees make?", "Honey.", "CHEESE, OBVIOUSLY!"),
]


def _pairs(rows):
    return [Example.from_prompt(q, meta={"pref.chosen": c, "pref.rejected": r}) for q, c, r in rows]


@pytest.fixture(scope="module")
def base_model():
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from syllabus.train.model import load_student

    return load_student(STUDENT, dtype="float32", threads=1)  # 1: a busy shared CPU thrashes with more


@pytest.fixture
def fresh_student(base_model, monkeypatch):
    """Each train_dpo call gets its own copy of the loaded model (no second 5 s load)."""
    import syllabus.train.dpo as dpo_module

    model, tokenizer, path = base_model
    monkeypatch.setattr(dpo_module, "load_student", lambda *a, **k: (copy.deepcopy(model), tokenizer, path))


def _settings(**changes):
    base = {"student": STUDENT, "max_length": 48, "batch_size": 2, "lr": 2e-3, "warmup": 0.0, "schedule": "constant",
            "beta": 0.1, "lora_r": 8, "lora_alpha": 16, "dtype": "float32", "eval_fraction": 0.0, "save_every": 2, "seed": 0}
    return DPOSettings(**{**base, **changes})


@pytest.mark.integration
def test_dpo_steps_raise_the_chosen_minus_rejected_margin(tmp_path, fresh_student):
    summary = train_dpo(_pairs(PLANTED), tmp_path, _settings(), eval_examples=_pairs(HELD_OUT))
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    first, last = summary["evals"][0], summary["evals"][-1]
    assert summary["recipe"] == "dpo-lora" and summary["steps"] == 2 == len(steps)
    # Before any update the policy is the reference: margin 0, loss log 2.
    assert first["heldout_margin"] == pytest.approx(0.0, abs=1e-4)
    assert first["heldout_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert steps[0]["margin"] == pytest.approx(0.0, abs=1e-4)
    # One update on two pairs already shows on the next two and on the held-out pairs.
    assert steps[1]["margin"] > 0.1 and steps[1]["accuracy"] == 1.0
    assert last["heldout_margin"] > 0.1 and last["heldout_loss"] < first["heldout_loss"]
    assert last["heldout_accuracy"] == 1.0
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "chat_template").read_text().strip()
    assert json.loads((tmp_path / "train.json").read_text())["pairs"] == len(PLANTED)


class _Killed(Exception):
    pass


@pytest.mark.integration
def test_resume_after_a_kill_gives_the_weights_of_an_uninterrupted_run(tmp_path, fresh_student):
    from safetensors.torch import load_file

    # 3 pairs, 1 a step: 3 steps, a checkpoint after every step (2 kept). Two pairs share a
    # prompt (and so an id), as in preference files with several pairs per prompt.
    cfg = _settings(batch_size=1, save_every=1)
    data = _pairs([*PLANTED[:2], (PLANTED[0][0], "Blue, like the sea.", "PURPLE, OBVIOUSLY!")])
    assert data[0].id == data[2].id
    train_dpo(data, tmp_path / "whole", cfg, eval_examples=[])

    def kill_at_step_3(record):
        if record["event"] == "step" and record["step"] == 3:
            raise _Killed  # after step 3's update, before its checkpoint: step 2 is the latest

    with pytest.raises(_Killed):
        train_dpo(data, tmp_path / "killed", cfg, eval_examples=[], on_step=kill_at_step_3)
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == ["step_1", "step_2"]
    seen = []
    summary = train_dpo(data, tmp_path / "killed", cfg, eval_examples=[], on_step=seen.append)
    assert [r["step"] for r in seen if r["event"] == "step"] == [3]  # continued from step 2
    assert summary["steps"] == 3
    log = [json.loads(line) for line in (tmp_path / "killed" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["event"] == "step"] == [1, 2, 3]  # the killed step 3 logged once
    whole = load_file(tmp_path / "whole" / "adapter" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "killed" / "adapter" / "adapter_model.safetensors")
    assert whole.keys() == resumed.keys()
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=1e-5, atol=1e-6)
    assert any(float(w.abs().sum()) > 0 for n, w in whole.items() if "lora_B" in n)  # it did train


def test_docstring_examples():
    import doctest

    import syllabus.train.dpo

    assert doctest.testmod(syllabus.train.dpo).failed == 0
