"""Loading a student for training, and giving it LoRA adapters (PEFT).

>>> resolve_student_path("hf:/models/tiny")
'/models/tiny'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError, MissingDependencyError

__all__ = ["DEFAULT_LORA_TARGETS", "add_lora", "load_student", "resolve_student_path"]

# Every linear layer of the attention and MLP blocks: LoRA on all of them learns faster per
# step than on q/v alone (QLoRA's finding) and costs little at these sizes.
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def resolve_student_path(spec: str) -> str:
    """A transformers folder for ``builtin:NAME``, ``hf:PATH`` or a plain folder path."""
    if spec.startswith("builtin:"):
        from syllabus.models import builtin_hf_dir

        return str(builtin_hf_dir(spec.removeprefix("builtin:")))
    path = spec.removeprefix("hf:")
    if ":" in spec and not spec.startswith("hf:") and not Path(spec).exists():
        raise ConfigError(f"--student {spec}: training needs weights in process: use builtin:NAME, hf:PATH or a folder")
    return path


def load_student(spec: str, *, dtype: str = "auto", threads: int | None = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, path) in train mode, on CPU or the first GPU."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise MissingDependencyError(f"torch and transformers ({e.name})", package="torch transformers") from None
    from syllabus.llm.hf import _resolve_dtype

    path = resolve_student_path(spec)
    if not (Path(path) / "config.json").exists():
        raise ConfigError(f"--student {spec}: {path} is not a transformers model folder (no config.json)")
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = _resolve_dtype(dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
    model.train()
    return model, tokenizer, path


def add_lora(model: Any, *, r: int = 16, alpha: int = 32, dropout: float = 0.0, targets: Sequence[str] = DEFAULT_LORA_TARGETS) -> Any:
    """Wrap ``model`` with fresh LoRA adapters on ``targets``; only they are trainable."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingDependencyError("peft", extra="train") from None
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ConfigError(f"--lora-targets: the model has no modules named {', '.join(missing)}")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), task_type="CAUSAL_LM")
    return get_peft_model(model, config)
