"""The offline default's world: a seeded fictional KB, its MiniLM index and an untrained tiny
policy, built under OUTPUT_DIR and reused on a re-run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentic_rag.offline.config import OfflineConfig
from agentic_rag.protocols.base import ProtocolConfig
from agentic_rag.protocols.tags import INVALID_ACTION_MESSAGE, SEARCH_R1_TEMPLATE

# Fixed text every trajectory contains; in the tokenizer's training data so it gets short tokens.
PROTOCOL_TEXTS = (
    SEARCH_R1_TEMPLATE,
    INVALID_ACTION_MESSAGE,
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    'Doc 1(Title: "',
    "I need to search.",
    "I need to search again.",
    "I know the answer.",
)


def say(message: str) -> None:
    print(f"[agentic-rag] {message}", flush=True)


def build_world(
    cfg: OfflineConfig,
    protocol: ProtocolConfig,
    out: Path,
    seed: int,
    resume: bool = False,
    check: Callable[[dict[str, Path]], None] | None = None,
) -> dict[str, Path]:
    """KB files (corpus, train, test), index and untrained tiny model under `out`. `check` sees
    the KB files first (cheap checks before the expensive part); `resume` continues an index
    build that was interrupted."""
    from agentic_rag.models.checkpoint import is_complete
    from agentic_rag.offline.kb import generate_kb, iter_texts, write_kb
    from agentic_rag.offline.tiny_model import save_tiny
    from retriever_index.build import BuildConfig, build_index

    kb = generate_kb(seed, cfg.kb)
    paths = write_kb(kb, out / "kb")
    if check is not None:
        check(paths)
    index_dir = out / "index"
    if not (index_dir / "manifest.json").exists():
        say(f"building the retriever index over {len(kb.passages)} passages")
        build_index(BuildConfig(corpus=str(paths["corpus"]), out=str(index_dir), resume=resume))
    model_dir = out / "base_model"
    if not is_complete(model_dir):
        texts = [*iter_texts(kb), *PROTOCOL_TEXTS, protocol.template or ""]
        save_tiny(texts, model_dir, cfg.model, seed=seed)
    return {**paths, "index": index_dir, "base_model": model_dir}
