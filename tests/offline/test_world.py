"""The offline world's build: `train --resume` continues an interrupted index build instead of
discarding it, and without --resume says how it could have."""

from __future__ import annotations

import pytest

from agentic_rag.offline.world import build_world
from agentic_rag.protocols import ProtocolConfig
from agentic_rag.recipe.sections import OfflineConfig, SyntheticKBConfig, TinyModelConfig
from retriever_index import build as build_mod
from retriever_index.manifest import Manifest
from retriever_index.retriever import Retriever

SMALL_WORLD = OfflineConfig(
    kb=SyntheticKBConfig(
        num_countries=4,
        num_cities=8,
        num_companies=8,
        num_people=24,
        num_train_questions=32,
        num_test_questions=8,
    ),
    model=TinyModelConfig(vocab_size=600, hidden_size=64, intermediate_size=128),
)


class _Killed(Exception):
    """Stands in for a kill during encoding (the build keeps its folder, as after SIGKILL)."""


def _killed(self, texts):
    raise _Killed


def test_train_resume_continues_an_interrupted_index_build(tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as m:
        m.setattr(build_mod.Encoder, "encode_passages", _killed)
        with pytest.raises(_Killed):
            build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    work = tmp_path / ".index.building"
    assert (work / build_mod.STATE_FILE).is_file()  # the corpus pass finished
    assert "re-run with --resume" in capsys.readouterr().err

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the resumed build read the corpus again")

    monkeypatch.setattr(build_mod, "ingest", no_second_pass)
    world = build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0, resume=True)
    assert f"resuming build in {work}" in capsys.readouterr().err
    assert Manifest.read(world["index"]).count > 0 and not work.exists()
    assert Retriever.load(world["index"]).search("a person", 1)


def test_without_resume_the_discarded_build_says_how_to_keep_it(tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as m:
        m.setattr(build_mod.Encoder, "encode_passages", _killed)
        with pytest.raises(_Killed):
            build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    capsys.readouterr()
    build_world(SMALL_WORLD, ProtocolConfig(), tmp_path, seed=0)
    assert "(pass --resume to continue it)" in capsys.readouterr().err
