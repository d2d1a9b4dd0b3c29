"""Export a trained student: merge a PEFT adapter into its base, and write a GGUF file.

Three forms of a student leave a run: the PEFT adapter (written by the recipe itself),
merged safetensors (:func:`merge_adapter`: a plain transformers folder that the ``hf:``
backend and any transformers user load), and GGUF (:func:`export_gguf`: what llama.cpp
and the ``llamacpp:`` backend run).

Example::

    merged = merge_adapter("runs/sft/adapter", "runs/sft/merged")
    export_gguf(merged, "runs/sft/student.gguf")          # template found from the base
    load_llm("llamacpp:runs/sft/student.gguf").chat("Name a colour.", max_tokens=8)

Why GGUF is written from a template rather than converted from scratch: llama.cpp's own
converter (``convert_hf_to_gguf.py``) is not part of any pip package, and it needs the
original Hugging Face tokenizer files, which the builtin models do not ship. The builtin
students come from GGUF files, and fine-tuning changes weights only, so the original GGUF
already holds everything else llama.cpp needs: architecture, hyperparameters, tokenizer,
chat template. :func:`export_gguf` copies all of that metadata and writes every tensor anew
from the merged weights, unquantized (float16 or float32), undoing the transforms
transformers applies when it loads a GGUF (:data:`SUPPORTED_ARCHITECTURES`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from syllabus.errors import ConfigError, DataError, MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SUPPORTED_ARCHITECTURES", "export_gguf", "find_template_gguf", "merge_adapter"]

# A model folder converted from a GGUF file names that file on the first line of SOURCE
# (syllabus.models writes it for the builtin models; merge_adapter copies it forward).
SOURCE_FILE = "SOURCE"


# -- merged safetensors ------------------------------------------------------------------


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, *, base: str | None = None) -> Path:
    """Fold a PEFT (LoRA) adapter into its base model and save a transformers folder.

    ``base`` is the base model (``builtin:NAME``, ``hf:PATH`` or a folder); by default the
    one the adapter records (``base_model_name_or_path`` in ``adapter_config.json``). The
    merge runs in float32 and the weights are saved in float32 (safetensors) with the
    tokenizer, so ``load_llm("hf:" + out_dir)`` loads the result and nothing is rounded.

    Example::

        merge_adapter("runs/sft/adapter", "runs/sft/merged")
        load_llm("hf:runs/sft/merged").chat("Name a colour.", max_tokens=8)
    """
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"{adapter_dir}: no adapter_config.json; pass the adapter folder a LoRA run wrote")
    base_path = _base_model_path(config_file, base)
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise MissingDependencyError(f"torch and transformers ({e.name})", package="torch transformers") from None
    try:
        from peft import PeftModel
    except ImportError:
        raise MissingDependencyError("peft", extra="train") from None

    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    # The recipe saves the tokenizer beside the adapter (its chat template is the one the
    # student was trained with); an adapter saved by other tools may lack it.
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir) if has_tokenizer else base_path)

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    source = Path(base_path) / SOURCE_FILE
    if source.is_file():
        shutil.copyfile(source, tmp / SOURCE_FILE)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def _base_model_path(config_file: Path, base: str | None) -> str:
    from syllabus.train.model import resolve_student_path

    if base is not None:
        path = resolve_student_path(base)
    else:
        try:
            path = json.loads(config_file.read_text())["base_model_name_or_path"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(f"{config_file}: no base_model_name_or_path; pass the base model (--base)") from None
        if not isinstance(path, str) or not path:
            raise DataError(f"{config_file}: no base_model_name_or_path; pass the base model (--base)")
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(
            f"{config_file}: the base model {path} is not a transformers folder here; "
            "pass the base model it was trained on (--base builtin:NAME or a folder)"
        )
    return path


# -- GGUF --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GGUFArchitecture:
    """How one GGUF architecture stores the weights a transformers model holds.

    ``to_gguf(gguf_name, weights, metadata)`` turns the transformers weights (float32,
    transformers' shape) into the values llama.cpp expects under ``gguf_name``: the inverse
    of what transformers' GGUF loader (``TENSOR_PROCESSORS``) does to that tensor.
    """

    name: str
    to_gguf: Callable[[str, np.ndarray, dict[str, Any]], np.ndarray]


def _llama_to_gguf(name: str, w: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    # llama.cpp applies RoPE to interleaved pairs, transformers to the two halves of each
    # head, so llama.cpp's converter permutes the rows of q and k (and transformers'
    # LlamaTensorProcessor reverses that when it loads a GGUF). Do what the converter does.
    n_head = int(meta["llama.attention.head_count"])
    n_kv = int(meta.get("llama.attention.head_count_kv", n_head))
    if name.endswith("attn_q.weight"):
        return _permute_rope(w, n_head)
    if name.endswith("attn_k.weight"):
        return _permute_rope(w, n_kv)
    return w


def _permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gemma3_to_gguf(name: str, w: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    # Gemma's RMSNorm multiplies by (1 + weight); llama.cpp's by weight, so GGUF stores
    # weight + 1 for every norm (transformers subtracts the 1 again when loading).
    return w + 1.0 if name.endswith("norm.weight") else w


# GGUF general.architecture -> its rule. Adding one: the inverse of transformers'
# TensorProcessor for it, and a test that an unchanged model round-trips.
SUPPORTED_ARCHITECTURES: dict[str, GGUFArchitecture] = {
    "llama": GGUFArchitecture("llama", _llama_to_gguf),
    "gemma3": GGUFArchitecture("gemma3", _gemma3_to_gguf),
}


def find_template_gguf(model_dir: str | Path, template_gguf: str | Path | None = None) -> Path:
    """The GGUF file whose metadata an export copies.

    ``template_gguf`` is a GGUF file, ``builtin:NAME``, or the base model's folder; by
    default the file named in the folder's ``SOURCE`` (builtin models, and folders
    :func:`merge_adapter` made from them). A fully fine-tuned model has no ``SOURCE``: pass
    the student it started from.

    >>> find_template_gguf("runs/sft/model", "builtin:smollm2-135m-instruct").suffix  # doctest: +SKIP
    '.gguf'
    """
    if template_gguf is not None:
        spec = str(template_gguf)
        if spec.startswith("builtin:"):
            from syllabus.models import builtin_gguf_path

            return builtin_gguf_path(spec.removeprefix("builtin:"))
        path = Path(spec.removeprefix("llamacpp:").removeprefix("hf:"))
        if path.is_dir():  # the base model's folder: the GGUF it was converted from
            return find_template_gguf(path)
        if not path.is_file():
            raise ConfigError(f"--gguf-template {spec}: no such file; pass the GGUF file the base model came from")
        return path
    source = Path(model_dir) / SOURCE_FILE
    if source.is_file():
        lines = source.read_text().splitlines()
        if lines and Path(lines[0]).is_file():
            return Path(lines[0])
    raise ConfigError(
        f"{model_dir}: no GGUF file to copy the tokenizer and metadata from; pass the base model's GGUF "
        "(--gguf-template FILE.gguf or builtin:NAME)"
    )


def export_gguf(
    model_dir: str | Path,
    out_file: str | Path,
    *,
    template_gguf: str | Path | None = None,
    dtype: Literal["f16", "f32"] = "f16",
) -> Path:
    """Write the weights of a transformers folder as a GGUF file llama.cpp runs.

    Metadata (architecture, hyperparameters, tokenizer, chat template) is copied from
    ``template_gguf`` (see :func:`find_template_gguf`), the GGUF of the base model, and
    every tensor is written from ``model_dir``'s safetensors: weight matrices in ``dtype``
    (``f16`` halves the file; ``f32`` keeps the trained values exactly), norms and other
    vectors in float32 as llama.cpp's converter writes them. Supported architectures: see
    :data:`SUPPORTED_ARCHITECTURES`.

    Example::

        export_gguf("runs/sft/merged", "runs/sft/student.gguf", template_gguf="builtin:smollm2-135m-instruct")
    """
    if dtype not in ("f16", "f32"):
        raise ConfigError(f"--gguf-dtype {dtype}: choose f16 or f32")
    try:
        import gguf
        import numpy as np
    except ImportError as e:
        raise MissingDependencyError(f"the {e.name} package", package=e.name or "gguf") from None
    model_dir, out_file = Path(model_dir), Path(out_file)
    template = find_template_gguf(model_dir, template_gguf)
    reader = gguf.GGUFReader(template)
    meta = {f.name: f.contents() for f in reader.fields.values() if not f.name.startswith("GGUF.")}
    arch_name = str(meta.get("general.architecture"))
    if arch_name not in SUPPORTED_ARCHITECTURES:
        raise ConfigError(
            f"{template}: GGUF export supports the architectures {', '.join(sorted(SUPPORTED_ARCHITECTURES))}, "
            f"not {arch_name!r}; use the merged safetensors (hf: backend) instead"
        )
    arch = SUPPORTED_ARCHITECTURES[arch_name]
    weights = _gguf_named_weights(model_dir, arch_name, int(meta[f"{arch_name}.block_count"]))

    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".partial")
    writer = gguf.GGUFWriter(tmp, arch_name)  # writes general.architecture itself
    file_type = gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        value = int(file_type) if field.name == "general.file_type" else field.contents()
        writer.add_key_value(field.name, value, value_type, sub_type=sub_type)
    if "general.file_type" not in meta:
        writer.add_file_type(int(file_type))

    used = set()
    for tensor in reader.tensors:  # the template's order, names and shapes
        name = tensor.name
        if name == "output.weight" and name not in weights and "token_embd.weight" in weights:
            # A template with its own output layer for a model saved with tied embeddings.
            weights[name] = weights["token_embd.weight"]
        if name not in weights:
            # Not a weight of the transformers model (e.g. llama3's precomputed rope_freqs):
            # training cannot have changed it, so it is copied as it is.
            writer.add_tensor(name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
            continue
        used.add(name)
        values = arch.to_gguf(name, weights[name], meta)
        expected = tuple(int(n) for n in reversed(tensor.shape))  # GGUF lists dims innermost first
        if values.shape != expected:
            raise DataError(
                f"{model_dir}: {name} has shape {values.shape} but {template} has {expected}; "
                "pass the GGUF of the model this one was trained from (--gguf-template)"
            )
        # llama.cpp's converter keeps vectors (norms, biases) in float32 whatever the type.
        half = dtype == "f16" and values.ndim > 1
        writer.add_tensor(name, values.astype(np.float16 if half else np.float32, copy=False))
    extra = sorted(set(weights) - used)
    if extra:
        raise DataError(
            f"{model_dir}: weights {', '.join(extra[:3])} have no place in {template} "
            "(an untied output layer on a tied model?); pass the matching base GGUF (--gguf-template)"
        )
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out_file)
    return out_file


def _gguf_named_weights(model_dir: Path, arch_name: str, n_blocks: int) -> dict[str, np.ndarray]:
    """The folder's weights as float32 numpy arrays under their GGUF names."""
    import gguf

    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name), None)
    if arch is None:
        raise ConfigError(f"this gguf package does not know the architecture {arch_name!r}; upgrade gguf")
    name_map = gguf.get_tensor_name_map(arch, n_blocks)
    out: dict[str, np.ndarray] = {}
    for hf_name, values in _read_safetensors(model_dir):
        stem, dot, suffix = hf_name.rpartition(".")
        gguf_stem = name_map.get_name(stem) if dot else None
        if gguf_stem is None:
            raise DataError(f"{model_dir}: the weight {hf_name} has no GGUF name for {arch_name}; is it that model?")
        out[f"{gguf_stem}.{suffix}"] = values
    return out


def _read_safetensors(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, float32 array) for every weight of a (possibly sharded) safetensors folder."""
    import torch
    from safetensors import safe_open

    # A PEFT adapter saved in the same folder is not part of the model.
    files = sorted(p for p in model_dir.glob("*.safetensors") if not p.name.startswith("adapter_model"))
    if not files:
        raise ConfigError(f"{model_dir}: no *.safetensors files; pass a merged model folder (merge_adapter)")
    for file in files:
        # Through torch, because numpy has no bfloat16.
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not iterable)
                yield name, f.get_tensor(name).to(torch.float32).numpy()
