"""`import_gguf` / `agentic-rag model import-gguf` on tiny GGUF files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentic_rag.cli import main
from agentic_rag.models import ModelImportError, import_gguf

from .conftest import write_tiny_gguf


def test_cli_import_keeps_the_gguf_models_outputs_and_states_its_sampling(tmp_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra = {
        "general.sampling.temp": 0.6,
        "general.sampling.top_k": 20,
        "general.sampling.penalty_repeat": 1.1,
        "tokenizer.ggml.eot_token_id": 0,
    }
    source = write_tiny_gguf(tmp_path / "tiny.gguf", extra=extra)
    out = tmp_path / "ckpt"
    assert main(["model", "import-gguf", str(source), str(out)]) == 0

    generation = json.loads((out / "generation_config.json").read_text())
    generation.pop("transformers_version")
    assert generation == {
        "bos_token_id": 1,
        "eos_token_id": [2, 0],  # eos, then the end-of-turn id: llama.cpp stops on both
        "pad_token_id": 0,
        "temperature": 0.6,
        "top_k": 20,
        "do_sample": True,
    }
    record = json.loads((out / "gguf_import.json").read_text())
    assert record["gguf_sampling_not_applied"] == {"general.sampling.penalty_repeat": 1.1}

    tokenizer = AutoTokenizer.from_pretrained(out)
    special = {a: getattr(tokenizer, f"{a}_token_id") for a in ("bos", "eos", "pad", "unk")}
    assert special == {"bos": 1, "eos": 2, "pad": 0, "unk": None}  # as the GGUF states them
    ids = tokenizer("the cat , ok", return_tensors="pt")["input_ids"]
    assert ids[0, 0] != 1  # the GGUF says add_bos_token false
    assert tokenizer.decode(ids[0]) == "the cat , ok"  # no clean-up of " ,"
    assert "<|im_start|>user\nhi<|im_end|>" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    plain = AutoModelForCausalLM.from_pretrained(out)
    from_gguf = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, from_gguf(ids).logits)


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, capsys):
    source = write_tiny_gguf(tmp_path / "tiny.gguf")
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["model", "import-gguf", str(source), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    import_gguf(source, out, dtype="bfloat16", overwrite=True)
    assert not (out / "keep.txt").exists()
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "tiny.gguf"]


def test_missing_file_is_a_clear_cli_error(tmp_path: Path, capsys):
    assert main(["model", "import-gguf", str(tmp_path / "nope.gguf"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: GGUF file not found")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf at all")
    with pytest.raises(ModelImportError, match="not a GGUF file"):
        import_gguf(bad, tmp_path / "out")


def test_truncated_gguf_is_refused(tmp_path: Path):
    source = write_tiny_gguf(tmp_path / "tiny.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(source.read_bytes()[:200])
    with pytest.raises(ModelImportError, match="not a readable GGUF"):
        import_gguf(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unsupported_architecture_is_named(tmp_path: Path):
    source = write_tiny_gguf(tmp_path / "odd.gguf", arch="agentic-test-arch")
    with pytest.raises(ModelImportError, match="cannot read GGUF architecture 'agentic-test-arch'"):
        import_gguf(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.gguf"]


def test_unknown_dtype_is_refused(tmp_path: Path):
    source = write_tiny_gguf(tmp_path / "tiny.gguf")
    with pytest.raises(ModelImportError, match="dtype 'int8'"):
        import_gguf(source, tmp_path / "out", dtype="int8")
