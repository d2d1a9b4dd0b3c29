"""Export of a trained student: merged safetensors and GGUF.

The unit tests build tiny GGUF templates and safetensors folders in ``tmp_path``. The
integration tests use the builtin models: an unchanged model must come back out of
:func:`export_gguf` tensor for tensor (proving the name mapping and the inverse
transforms), and a LoRA-changed smollm2 must give the same greedy text through ``hf:``
(merged safetensors) and ``llamacpp:`` (exported GGUF).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from syllabus.errors import ConfigError, DataError
from syllabus.train.export import SUPPORTED_ARCHITECTURES, export_gguf, find_template_gguf, merge_adapter

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")


# -- tiny synthetic models ---------------------------------------------------------------

VOCAB, HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN = 16, 8, 2, 1, 4, 12


def tiny_weights(arch: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """transformers names -> float32 weights of a one-block model."""
    shapes = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "model.norm.weight": (HIDDEN,),
        "model.layers.0.input_layernorm.weight": (HIDDEN,),
        "model.layers.0.post_attention_layernorm.weight": (HIDDEN,),
        "model.layers.0.self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
        "model.layers.0.self_attn.k_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
        "model.layers.0.self_attn.v_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
        "model.layers.0.self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
        "model.layers.0.mlp.gate_proj.weight": (FFN, HIDDEN),
        "model.layers.0.mlp.up_proj.weight": (FFN, HIDDEN),
        "model.layers.0.mlp.down_proj.weight": (HIDDEN, FFN),
    }
    if arch == "gemma3":
        shapes |= {
            "model.layers.0.pre_feedforward_layernorm.weight": (HIDDEN,),
            "model.layers.0.post_feedforward_layernorm.weight": (HIDDEN,),
            "model.layers.0.self_attn.q_norm.weight": (HEAD_DIM,),
            "model.layers.0.self_attn.k_norm.weight": (HEAD_DIM,),
        }
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


def gguf_name(arch: str, hf_name: str) -> str:
    arch_id = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    stem, suffix = hf_name.rsplit(".", 1)
    return f"{gguf.get_tensor_name_map(arch_id, 1).get_name(stem)}.{suffix}"


def write_template(path: Path, arch: str, weights: dict[str, np.ndarray]) -> Path:
    """A GGUF file with the tensors' names and shapes (zeros) and a little metadata."""
    writer = gguf.GGUFWriter(path, arch)
    writer.add_block_count(1)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    writer.add_token_list([f"t{i}" for i in range(VOCAB)])
    writer.add_chat_template("{{ messages }}")
    for name, w in weights.items():
        writer.add_tensor(gguf_name(arch, name), np.zeros_like(w))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_model(folder: Path, weights: dict[str, np.ndarray], template: Path | None = None) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(folder / "model.safetensors"))
    if template is not None:
        (folder / "SOURCE").write_text(f"{template}\nconverted for a test\n")
    return folder


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    return {t.name: np.asarray(t.data) for t in gguf.GGUFReader(path).tensors}


# -- unit tests --------------------------------------------------------------------------


def test_llama_export_permutes_q_and_k_the_way_transformers_undoes(tmp_path):
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weights = tiny_weights("llama", np.random.default_rng(0))
    template = write_template(tmp_path / "base.gguf", "llama", weights)
    model = write_model(tmp_path / "model", weights, template)

    out = export_gguf(model, tmp_path / "out.gguf", dtype="f32")  # template found through SOURCE
    got = read_tensors(out)

    assert set(got) == {gguf_name("llama", n) for n in weights}
    q, k = got["blk.0.attn_q.weight"], got["blk.0.attn_k.weight"]
    assert not np.array_equal(q, weights["model.layers.0.self_attn.q_proj.weight"])  # really permuted
    # transformers' GGUF loader applies the reverse permutation: it must give back the weights.
    loader = LlamaTensorProcessor(config={"num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS})
    np.testing.assert_array_equal(
        loader.process(q, "blk.0.attn_q.weight").weights, weights["model.layers.0.self_attn.q_proj.weight"]
    )
    np.testing.assert_array_equal(
        loader.process(k, "blk.0.attn_k.weight").weights, weights["model.layers.0.self_attn.k_proj.weight"]
    )
    np.testing.assert_array_equal(got["blk.0.ffn_down.weight"], weights["model.layers.0.mlp.down_proj.weight"])
    np.testing.assert_array_equal(got["token_embd.weight"], weights["model.embed_tokens.weight"])


def test_gemma3_export_adds_one_to_every_norm_and_rounds_matrices_to_f16(tmp_path):
    weights = tiny_weights("gemma3", np.random.default_rng(1))
    template = write_template(tmp_path / "base.gguf", "gemma3", weights)
    model = write_model(tmp_path / "model", weights)

    out = export_gguf(model, tmp_path / "out.gguf", template_gguf=template)  # f16 by default
    reader = gguf.GGUFReader(out)
    types = {t.name: t.tensor_type for t in reader.tensors}
    got = read_tensors(out)

    for hf_name, w in weights.items():
        name = gguf_name("gemma3", hf_name)
        if name.endswith("norm.weight"):
            assert types[name] == gguf.GGMLQuantizationType.F32
            np.testing.assert_array_equal(got[name], w + 1)
        else:
            assert types[name] == gguf.GGMLQuantizationType.F16
            np.testing.assert_array_equal(got[name], w.astype(np.float16))
    assert len(got) == len(weights)


def test_export_copies_metadata_and_sets_the_file_type(tmp_path):
    weights = tiny_weights("llama", np.random.default_rng(2))
    template = write_template(tmp_path / "base.gguf", "llama", weights)
    model = write_model(tmp_path / "model", weights)

    out = export_gguf(model, tmp_path / "out.gguf", template_gguf=template, dtype="f16")
    before, after = gguf.GGUFReader(template).fields, gguf.GGUFReader(out).fields

    assert set(before) == set(after)
    for key, field in before.items():
        if key.startswith("GGUF.") or key == "general.file_type":
            continue
        assert after[key].contents() == field.contents(), key
        assert after[key].types == field.types, key
    assert after["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    assert after["tokenizer.chat_template"].contents() == "{{ messages }}"


def test_export_refuses_a_model_that_does_not_fit_the_template(tmp_path):
    weights = tiny_weights("llama", np.random.default_rng(3))
    template = write_template(tmp_path / "base.gguf", "llama", weights)

    wider = dict(weights)
    wider["model.layers.0.mlp.up_proj.weight"] = np.zeros((FFN + 1, HIDDEN), np.float32)
    with pytest.raises(DataError, match="blk.0.ffn_up.weight has shape"):
        export_gguf(write_model(tmp_path / "wider", wider), tmp_path / "a.gguf", template_gguf=template)

    untied = weights | {"lm_head.weight": np.zeros((VOCAB, HIDDEN), np.float32)}
    with pytest.raises(DataError, match="output.weight have no place"):
        export_gguf(write_model(tmp_path / "untied", untied), tmp_path / "b.gguf", template_gguf=template)

    stranger = weights | {"model.vision_tower.weight": np.zeros(3, np.float32)}
    with pytest.raises(DataError, match="model.vision_tower.weight has no GGUF name"):
        export_gguf(write_model(tmp_path / "stranger", stranger), tmp_path / "c.gguf", template_gguf=template)
    assert sorted(p.name for p in tmp_path.glob("*.gguf*")) == ["base.gguf"]


def test_export_names_the_supported_architectures(tmp_path):
    weights = tiny_weights("llama", np.random.default_rng(4))
    template = write_template(tmp_path / "base.gguf", "qwen2", weights)
    with pytest.raises(ConfigError, match="supports the architectures gemma3, llama, not 'qwen2'"):
        export_gguf(write_model(tmp_path / "m", weights), tmp_path / "out.gguf", template_gguf=template)
    assert sorted(SUPPORTED_ARCHITECTURES) == ["gemma3", "llama"]


def test_bad_export_options_are_config_errors(tmp_path):
    model = write_model(tmp_path / "m", {"model.norm.weight": np.ones(2, np.float32)})
    with pytest.raises(ConfigError, match="no GGUF file to copy"):
        find_template_gguf(model)
    with pytest.raises(ConfigError, match="--gguf-template nowhere.gguf: no such file"):
        find_template_gguf(model, "nowhere.gguf")
    with_source = write_model(tmp_path / "base", {"model.norm.weight": np.ones(2, np.float32)}, tmp_path / "b.gguf")
    (tmp_path / "b.gguf").write_bytes(b"")
    assert find_template_gguf(model, f"hf:{with_source}") == tmp_path / "b.gguf"  # a base folder's SOURCE
    with pytest.raises(ConfigError, match="choose f16 or f32"):
        export_gguf(model, tmp_path / "o.gguf", dtype="q4")  # type: ignore[arg-type]


def test_merge_needs_an_adapter_folder_and_its_base(tmp_path):
    with pytest.raises(ConfigError, match="no adapter_config.json"):
        merge_adapter(tmp_path, tmp_path / "out")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "gone")}))
    with pytest.raises(ConfigError, match="is not a transformers folder here; pass the base model"):
        merge_adapter(tmp_path, tmp_path / "out")
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(DataError, match="no base_model_name_or_path"):
        merge_adapter(tmp_path, tmp_path / "out")


# -- the builtin models ------------------------------------------------------------------


def dequantized(tensor) -> np.ndarray:
    return gguf.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)


@pytest.mark.integration
def test_unchanged_smollm2_exports_back_to_its_own_gguf(tmp_path):
    """Every tensor of the shipped GGUF comes back (float16-rounded), with its metadata."""
    from syllabus.models import builtin_gguf_path, builtin_hf_dir

    original = gguf.GGUFReader(builtin_gguf_path("smollm2-135m-instruct"))
    out = export_gguf(builtin_hf_dir("smollm2-135m-instruct", progress=False), tmp_path / "smol.gguf")
    exported = gguf.GGUFReader(out)

    assert [t.name for t in exported.tensors] == [t.name for t in original.tensors]
    by_name = {t.name: t for t in exported.tensors}
    for tensor in original.tensors:
        want, got = dequantized(tensor), np.asarray(by_name[tensor.name].data)
        if want.ndim > 1:
            assert got.dtype == np.float16
            want = want.astype(np.float16)
        np.testing.assert_array_equal(got, want, err_msg=tensor.name)
    for key, field in original.fields.items():
        if not key.startswith("GGUF.") and key != "general.file_type":
            assert exported.fields[key].contents() == field.contents(), key


@pytest.mark.integration
def test_unchanged_gemma_exports_back_to_its_own_gguf(tmp_path):
    """Names, shapes and metadata of all tensors; values of every norm (the +1) and of one block.

    De-quantizing all of gemma's 236 tensors takes minutes on a small CPU; the values of
    block 0 cover every kind of tensor, and the first rows of the embedding cover it too.
    """
    from syllabus.models import builtin_gguf_path, builtin_hf_dir

    original = gguf.GGUFReader(builtin_gguf_path("gemma-3-270m"))
    out = export_gguf(builtin_hf_dir("gemma-3-270m", progress=False), tmp_path / "gemma.gguf")
    exported = gguf.GGUFReader(out)

    by_name = {t.name: t for t in exported.tensors}
    assert list(by_name) == [t.name for t in original.tensors]
    checked = 0
    for tensor in original.tensors:
        got = np.asarray(by_name[tensor.name].data)
        assert got.shape == tuple(int(n) for n in reversed(tensor.shape)), tensor.name
        if tensor.name == "token_embd.weight":
            rows = 2048  # a slice of whole quantization blocks
            want = gguf.dequantize(tensor.data[:rows], tensor.tensor_type)
            np.testing.assert_array_equal(got[:rows], want.astype(np.float16))
        elif tensor.name.endswith("norm.weight"):
            # float32, through -1 (transformers' loader) and +1 (export): equal to float error
            np.testing.assert_allclose(got, dequantized(tensor), rtol=0, atol=1e-6, err_msg=tensor.name)
            checked += 1
        elif tensor.name.startswith("blk.0."):
            np.testing.assert_array_equal(got, dequantized(tensor).astype(np.float16), err_msg=tensor.name)
            checked += 1
    assert checked > 18 * 6  # six norms per block, and block 0's matrices
    for key, field in original.fields.items():
        if not key.startswith("GGUF.") and key != "general.file_type":
            assert exported.fields[key].contents() == field.contents(), key
    assert exported.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)


@pytest.fixture(scope="module")
def lora_smollm2(tmp_path_factory):
    """A LoRA adapter on smollm2 with random non-zero B matrices (a real change to every layer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from syllabus.models import builtin_hf_dir
    from syllabus.train.model import add_lora

    base = builtin_hf_dir("smollm2-135m-instruct", progress=False)
    model = add_lora(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), r=4, alpha=8)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # zero at init: the adapter would change nothing
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
    folder = tmp_path_factory.mktemp("lora") / "adapter"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder, base


@pytest.mark.integration
def test_merged_and_gguf_students_agree_after_a_lora_change(lora_smollm2, tmp_path):
    from safetensors import safe_open

    from syllabus.llm import GenerateRequest, LoglikelihoodRequest, SamplingParams, load_llm

    adapter, base = lora_smollm2
    merged = merge_adapter(adapter, tmp_path / "merged")
    name = "model.layers.0.self_attn.q_proj.weight"
    with safe_open(str(merged / "model.safetensors"), "pt") as m, safe_open(str(base / "model.safetensors"), "pt") as b:
        change = (m.get_tensor(name) - b.get_tensor(name)).abs().max().item()
    assert change > 1e-3  # the adapter really moved the weights
    assert (merged / "SOURCE").is_file()  # so export finds the template by itself

    out = export_gguf(merged, tmp_path / "student.gguf", dtype="f32")
    params = SamplingParams(max_tokens=16, temperature=0.0)
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    context, continuation = "The capital of France is", " Paris, a city on the Seine."
    texts, logprobs = [], []
    for spec, options in ((f"hf:{merged}", {"dtype": "float32"}), (f"llamacpp:{out}", {"n_ctx": 256})):
        with load_llm(spec, **options) as llm:
            texts.append(llm.generate([GenerateRequest(messages=tuple(prompt), params=params)])[0].text)
            logprobs.append(llm.loglikelihood([LoglikelihoodRequest(context=context, continuation=continuation)])[0])
    hf_text, gguf_text = texts
    assert hf_text.strip() and hf_text == gguf_text
    # Same weights (float32), different kernels: the sums differ by float rounding only.
    # (measured: 0.005 nats over 9 tokens; a float16 export differs by 0.015)
    assert logprobs[0].logprob == pytest.approx(logprobs[1].logprob, abs=0.01)
