"""``order``: estimate difficulty, then order kept examples into training stages.

    syllabus order --in runs/x --curriculum easy-to-hard --difficulty student-loss \\
        --student builtin:gemma-3-270m --out runs/x
    syllabus order --in kept.jsonl --curriculum replay --earlier runs/x/r00/03_order --out runs/x --round 1

The difficulty estimators run as a resumable pipeline stage (``03_order/difficulty/``);
the stages land in ``rNN/03_order/stages/stage_N.jsonl`` with ``order.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syllabus.cli.options import BackendOptions, merge_set_options
from syllabus.cli.options import console as _console
from syllabus.config import to_dict, to_yaml
from syllabus.errors import ConfigError

__all__ = ["OrderConfig", "cmd_order"]

@dataclass
class OrderConfig:
    """Order kept examples into curriculum stages (after estimating difficulty, if asked)."""

    input: str | None = field(
        default=None,
        metadata={
            "help": "a stage folder with shards/, a run directory (its latest curated set) or a file",
            "aliases": ["--in"],
        },
    )
    curriculum: str = field(default="easy-to-hard", metadata={"help": "see `syllabus ls curricula`"})
    set: list[str] = field(default_factory=list, metadata={"help": "curriculum options as KEY=VALUE"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "curriculum options (YAML)"})
    difficulty: list[str] = field(
        default_factory=list,
        metadata={"help": "estimators to run first: student-loss, pass-at-k, judge-gap"},
    )
    student: str | None = field(default=None, metadata={"help": "student model spec (difficulty estimators)"})
    judge: str | None = field(default=None, metadata={"help": "judge model spec (judge-gap)"})
    earlier: list[str] = field(
        default_factory=list,
        metadata={"help": "earlier rounds' stage folders, oldest first (replay)"},
    )
    out: str = field(default="runs/order", metadata={"help": "run directory"})
    round: int = field(default=0, metadata={"help": "round number (the rNN folder)"})
    format: str = field(default="auto", metadata={"help": "format of a file input"})
    shard_size: int = field(default=64, metadata={"help": "examples per shard of the difficulty stage"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    backend: BackendOptions = field(default_factory=BackendOptions)

    def curriculum_options(self) -> dict[str, Any]:
        """``options`` (YAML) overlaid with ``--set KEY=VALUE``."""
        return merge_set_options(self.options, self.set)


def _estimators(cfg: OrderConfig, run: Any) -> tuple[list[Any], dict[str, Any]]:
    from syllabus.curriculum import DIFFICULTY
    from syllabus.llm import load_llm

    models: dict[str, Any] = {}

    def model(role: str) -> Any:
        spec = getattr(cfg, role)
        if spec is None:
            raise ConfigError(f"--difficulty needs --{role} SPEC")
        if role not in models:
            models[role] = load_llm(spec, cache=run.cache(), **cfg.backend.for_backend(spec))
        return models[role]

    steps = []
    for name in cfg.difficulty:
        cls = DIFFICULTY.get(name)
        steps.append(cls(model("student"), model("judge")) if name == "judge-gap" else cls(model("student")))
    return steps, models


def cmd_order(cfg: OrderConfig) -> int:
    from syllabus.curriculum import get_curriculum, write_stages
    from syllabus.inputs import load_examples
    from syllabus.pipeline import Pipeline
    from syllabus.run import RunDir

    curriculum = get_curriculum(cfg.curriculum, cfg.curriculum_options(), source="--set/options")
    examples = load_examples(cfg.input, cfg.format)
    earlier = [load_examples(p, option="--earlier") for p in cfg.earlier]
    run = RunDir(cfg.out)
    stage_dir = run.stage(cfg.round, 3, "order")
    stage_dir.mkdir(parents=True, exist_ok=True)
    (stage_dir / "config.yaml").write_text(to_yaml(cfg))
    models: dict[str, Any] = {}
    try:
        steps, models = _estimators(cfg, run)
        run.write_manifest(
            command="order",
            config=to_dict(cfg),
            models={r: m.describe() for r, m in models.items()},
            seeds={},
        )
        if steps:
            result = Pipeline(
                steps,
                shard_size=cfg.shard_size,
                progress=cfg.progress,
                label="difficulty",
            ).run(examples, stage_dir / "difficulty")
            examples = list(result.examples())
    finally:
        for m in models.values():
            m.close()
        run.close()
    stages = curriculum.order(examples, earlier)
    write_stages(
        stages,
        stage_dir,
        {
            "curriculum": curriculum.name,
            "version": curriculum.version,
            "options": to_dict(curriculum.config),
            "input": len(examples),
        },
    )
    _print_stages(stages, stage_dir)
    return 0


def _print_stages(stages: list[Any], stage_dir: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("stage", "examples", "details", title="curriculum")
    for i, s in enumerate(stages):
        table.add_row(
            str(i),
            str(len(s.examples)),
            escape(", ".join(f"{k}={v}" for k, v in s.info.items())),
        )
    console = _console()
    console.print(table)
    console.print(
        f"{sum(len(s.examples) for s in stages)} examples in {len(stages)} stages -> {escape(str(stage_dir / 'stages'))}"
    )
