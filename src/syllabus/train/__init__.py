"""Training recipes: SFT (LoRA or full) and DPO over TRL-format rows, export to PEFT, safetensors and GGUF.

Recipes read top to bottom (:mod:`syllabus.train.sft`, :mod:`syllabus.train.dpo`); what
they share (templating, masking, batching, the chunked output layer) lives in
:mod:`~syllabus.train.formatting` and :mod:`~syllabus.train.loss`. Importing this package
imports no torch: the recipes import it when they run.
"""

from __future__ import annotations

from syllabus.registry import Registry

__all__ = ["RECIPES"]

# name -> the function that runs it; the train command looks recipes up here.
RECIPES: Registry[object] = Registry("training recipe", entry_point_group="syllabus.recipes")
RECIPES.register("sft-lora", "syllabus.train.sft:train_sft")
RECIPES.register("sft-full", "syllabus.train.sft:train_sft")
RECIPES.register("dpo-lora", "syllabus.train.dpo:train_dpo")
