"""The ``syllabus`` command. Each subcommand is one function taking one config dataclass.

Flags are generated from the dataclasses (see :mod:`syllabus.config`); ``--config run.yaml``
loads the same structure. Errors print one line and exit with code 2 (``--debug`` shows
the traceback). One module per group of commands:

- :mod:`~syllabus.cli.generate`: ``generate``, ``show-prompt``, ``chat``
- :mod:`~syllabus.cli.evaluate`: ``eval``, ``compare``, ``trend``, ``validate``
- :mod:`~syllabus.cli.listing`: ``ls``
- :mod:`~syllabus.cli.curate`: ``curate``, ``curate explain``, ``curate fit-rule``
- :mod:`~syllabus.cli.order`: ``order``
- :mod:`~syllabus.cli.train`: ``train``
- :mod:`~syllabus.cli.sweep`: ``sweep``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from syllabus.cli.curate import (
    CurateConfig,
    CurateExplainConfig,
    CurateFitRuleConfig,
    cmd_curate,
    cmd_curate_explain,
    cmd_curate_fit_rule,
)
from syllabus.cli.discover import DiscoverSkillsConfig, cmd_discover_skills
from syllabus.cli.evaluate import (
    CompareConfig,
    EvalConfig,
    TrendConfig,
    ValidateConfig,
    cmd_compare,
    cmd_eval,
    cmd_trend,
    cmd_validate,
)
from syllabus.cli.generate import (
    ChatConfig,
    GenerateConfig,
    ShowPromptConfig,
    cmd_chat,
    cmd_generate,
    cmd_show_prompt,
)
from syllabus.cli.listing import LsConfig, cmd_ls
from syllabus.cli.options import BackendOptions, ExecutorOptions, SamplingOptions
from syllabus.cli.order import OrderConfig, cmd_order
from syllabus.cli.sweep import SweepConfig, cmd_sweep
from syllabus.cli.teach import TeachConfig, cmd_teach
from syllabus.cli.train import TrainConfig, cmd_train
from syllabus.config import add_arguments, resolve
from syllabus.errors import SyllabusError

__all__ = [
    "BackendOptions",
    "ChatConfig",
    "EvalConfig",
    "ExecutorOptions",
    "GenerateConfig",
    "SamplingOptions",
    "ShowPromptConfig",
    "build_parser",
    "main",
]

# name -> (config class, command, one-line help)
COMMANDS: dict[str, tuple[type, Callable[[Any], int], str]] = {
    "generate": (GenerateConfig, cmd_generate, "answer prompts with a model"),
    "show-prompt": (ShowPromptConfig, cmd_show_prompt, "render prompts through a model's chat template without calling it"),
    "chat": (ChatConfig, cmd_chat, "talk to a model"),
    "eval": (EvalConfig, cmd_eval, "evaluate a model on tasks"),
    "compare": (CompareConfig, cmd_compare, "paired before/after comparison of two evaluations"),
    "trend": (TrendConfig, cmd_trend, "metrics across checkpoints with Kendall τ"),
    "validate": (ValidateConfig, cmd_validate, "render and fake-score one example of every task"),
    "ls": (LsConfig, cmd_ls, "list backends, builtin models, tasks, checks, generators or curricula"),
    "curate": (CurateConfig, cmd_curate, "score, deduplicate and select examples; print the yield table"),
    "curate-explain": (CurateExplainConfig, cmd_curate_explain, "every score and decision for one curated example"),
    "curate-fit-rule": (CurateFitRuleConfig, cmd_curate_fit_rule, "fit the InstructMining rule from (subset, loss) results"),
    "order": (OrderConfig, cmd_order, "estimate difficulty and order examples into curriculum stages"),
    "teach": (TeachConfig, cmd_teach, "teach a student: rounds of generate, curate, train, evaluate, steered by its failures"),
    "train": (TrainConfig, cmd_train, "fine-tune a student: LoRA SFT, full SFT or LoRA DPO (resumes after a kill)"),
    "sweep": (SweepConfig, cmd_sweep, "decoding sweep over temperature x top_p: maj@m, pass@m, bon@m (resumable)"),
    "discover-skills": (DiscoverSkillsConfig, cmd_discover_skills, "group a student's failures into named skills; write a skills file"),
}


def _join_two_word_command(argv: list[str]) -> list[str]:
    """``curate explain ID`` is the command ``curate-explain``: two words may spell a dashed name."""
    i = next((k for k, a in enumerate(argv) if not a.startswith("-")), None)
    if i is not None and i + 1 < len(argv) and f"{argv[i]}-{argv[i + 1]}" in COMMANDS:
        return [*argv[:i], f"{argv[i]}-{argv[i + 1]}", *argv[i + 2 :]]
    return argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syllabus", description="Teach language models with language models.")
    parser.add_argument("--debug", dest="_debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="_command", metavar="COMMAND", required=True)
    for name, (cls, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=(cls.__doc__ or help_text).strip())
        add_arguments(p, cls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_join_two_word_command(list(sys.argv[1:] if argv is None else argv)))
    debug, command = args._debug, args._command
    del args._debug, args._command
    cls, run, _ = COMMANDS[command]
    try:
        return run(resolve(cls, args))
    except SyllabusError as e:
        if debug:
            raise
        print(f"syllabus: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("syllabus: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line, and the way to see more
        if debug:
            raise
        print(f"syllabus: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
