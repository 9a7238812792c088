"""trl_keys.json: TRL's top-level recipe keys, so parsing a recipe never imports TRL."""

from __future__ import annotations

import json

from agentic_rag.recipe.trl_keys import KEYS_FILE, installed_versions, read_file, read_from_trl


def test_the_listed_keys_are_the_installed_trls():
    listed = read_file()
    assert listed.versions == installed_versions(), (
        f"{KEYS_FILE.name} was written for {listed.versions}, installed: {installed_versions()}; "
        "run `python -m agentic_rag.recipe.trl_keys`"
    )
    assert listed.to_json() == read_from_trl().to_json()


def test_the_file_is_what_the_writer_writes():
    assert KEYS_FILE.read_text() == json.dumps(read_file().to_json(), indent=1) + "\n"


def test_other_versions_read_trl_itself(monkeypatch):
    """Keys listed for other versions are never trusted: TRL is asked instead."""
    from agentic_rag.recipe import trl_keys as module

    monkeypatch.setattr(module, "installed_versions", lambda: {"trl": "0", "transformers": "0"})
    module.trl_keys.cache_clear()
    try:
        keys = module.trl_keys()
        assert keys.versions == {"trl": "0", "transformers": "0"}
        assert "beta" in keys.grpo and "model_name_or_path" in keys.model
    finally:
        module.trl_keys.cache_clear()
