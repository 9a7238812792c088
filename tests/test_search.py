"""The rollouts' search tool from a recipe's `retriever:` section: queries are encoded with the
runtime the index was built with (ONNX Runtime int8 here), unless the recipe says otherwise."""

from __future__ import annotations

import json
import warnings

import pytest

from agentic_rag.recipe.sections import RetrieverConfig
from agentic_rag.search import load_search_tool

PASSAGES = [
    ("Penicillin", "Alexander Fleming discovered penicillin in 1928, the first antibiotic."),
    ("Mount Everest", "Mount Everest is Earth's highest mountain above sea level."),
    ("Mars", "Mars is the fourth planet from the Sun, called the Red Planet."),
    ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris."),
]


@pytest.fixture(scope="module")
def int8_index(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (the encoders extra)")
    from retriever_index.build import BuildConfig, build_index

    root = tmp_path_factory.mktemp("int8_index")
    corpus = root / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": str(i), "title": t, "text": x}) + "\n"
            for i, (t, x) in enumerate(PASSAGES)
        )
    )
    config = BuildConfig(
        corpus=str(corpus),
        out=str(root / "index"),
        encoder_backend="onnx",
        encoder_precision="int8",
    )
    build_index(config)
    return root / "index"


def test_the_search_tool_encodes_queries_like_the_index(int8_index):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tool = load_search_tool(RetrieverConfig(index=str(int8_index)))
    assert (tool.encoder.backend, tool.encoder.precision) == ("onnx", "int8")
    hits = tool.search_batch(["Who discovered the first antibiotic?", "highest mountain"], 1)
    assert [h[0].title for h in hits] == ["Penicillin", "Mount Everest"]


def test_the_recipe_may_choose_another_runtime_with_a_warning(int8_index):
    with pytest.warns(UserWarning, match="queries are encoded with torch fp32"):
        tool = load_search_tool(RetrieverConfig(index=str(int8_index), encoder_backend="torch"))
    assert (tool.encoder.backend, tool.encoder.precision) == ("torch", "fp32")
    assert tool.search_batch(["the red planet"], 1)[0][0].title == "Mars"


def test_the_recipe_keys_are_checked_when_parsed():
    from agentic_rag.recipe.parse import build_section

    section = build_section(
        RetrieverConfig, {"encoder_backend": "openvino", "encoder_precision": "int8"}, "retriever"
    )
    assert (section.encoder_backend, section.encoder_precision) == ("openvino", "int8")
    with pytest.raises(
        ValueError, match=r"retriever.encoder_backend='onnxruntime': expected one of 'torch'"
    ):
        build_section(RetrieverConfig, {"encoder_backend": "onnxruntime"}, "retriever")
    with pytest.raises(
        ValueError, match=r"retriever.encoder_precision='int4': expected one of 'fp32', 'int8'"
    ):
        build_section(RetrieverConfig, {"encoder_precision": "int4"}, "retriever")
