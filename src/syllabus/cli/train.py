"""``train``: fine-tune a student on kept (and ordered) data with a recipe.

    syllabus train --student builtin:gemma-3-270m --data runs/x --recipe sft-lora --out runs/x
    syllabus train --data pairs.jsonl --recipe dpo-lora --out runs/x --beta 0.1

``--data`` takes a curriculum (``03_order``, trained stage by stage in order), a curated or
generated stage, a run directory (its latest ordered, else curated, else generated set) or
a file. Rerun the same command after a kill and it resumes from the last checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from syllabus.cli.options import console as _console
from syllabus.config import to_dict, to_yaml
from syllabus.progress import LiveLoss
from syllabus.train.sft import SFTSettings

__all__ = ["TrainConfig", "cmd_train"]


@dataclass
class TrainConfig(SFTSettings):
    """Fine-tune a student (LoRA SFT, full SFT or LoRA DPO); shows the loss live, resumes after a kill."""

    data: str | None = field(default=None, metadata={"help": "training data: a run directory, stage folder or file", "aliases": ["--in"]})
    eval_data: str | None = field(default=None, metadata={"help": "held-out data (default: --eval-fraction of --data)"})
    recipe: Literal["sft-lora", "sft-full", "dpo-lora"] = field(default="sft-lora", metadata={"help": "training recipe"})
    beta: float = field(default=0.1, metadata={"help": "dpo: strength of the pull toward the reference model"})
    loss_type: Literal["sigmoid", "ipo"] = field(default="sigmoid", metadata={"help": "dpo: DPO (sigmoid) or IPO loss"})
    out: str = field(default="runs/train", metadata={"help": "run directory"})
    round: int = field(default=0, metadata={"help": "round number (the rNN folder)"})
    format: str = field(default="auto", metadata={"help": "format of a file input"})
    progress: bool = field(default=True, metadata={"help": "show the live loss"})


def cmd_train(cfg: TrainConfig) -> int:
    import dataclasses

    from syllabus.inputs import load_examples, load_stages
    from syllabus.run import RunDir
    from syllabus.train.report import write_train_report

    stages = load_stages(cfg.data, cfg.format, option="--data")
    eval_examples = load_examples(cfg.eval_data, option="--eval-data") if cfg.eval_data else None
    settings = SFTSettings(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(SFTSettings)})
    run = RunDir(cfg.out)
    train_dir = run.stage(cfg.round, 4, "train")
    train_dir.mkdir(parents=True, exist_ok=True)
    (train_dir / "config.yaml").write_text(to_yaml(cfg))
    run.write_manifest(command="train", config=to_dict(cfg), models={"student": {"spec": cfg.student}}, seeds={"train": cfg.seed})
    with LiveLoss(cfg.progress, cfg.recipe) as on_step:
        if cfg.recipe == "dpo-lora":
            from syllabus.train.dpo import DPOSettings, train_dpo

            dpo = DPOSettings(**dataclasses.asdict(settings), beta=cfg.beta, loss_type=cfg.loss_type)
            summary = train_dpo([e for s in stages for e in s], train_dir, dpo, eval_examples=eval_examples, on_step=on_step)
        else:
            from syllabus.train.sft import train_sft

            summary = train_sft(
                stages, train_dir, settings, eval_examples=eval_examples, on_step=on_step, lora=cfg.recipe == "sft-lora"
            )
    report = write_train_report(train_dir)
    _print_summary(summary, report)
    return 0


def _print_summary(summary: dict[str, Any], report: Any) -> None:
    from rich.markup import escape

    console = _console()
    evals = [e for e in summary["evals"] if e.get("heldout_loss") is not None]
    if evals:
        first, last = evals[0]["heldout_loss"], evals[-1]["heldout_loss"]
        console.print(f"held-out loss {first:.4f} -> {last:.4f} over {summary['steps']} steps")
    console.print(f"{escape(summary['recipe'])} -> {escape(summary['output'])}; report: {escape(str(report))}")
