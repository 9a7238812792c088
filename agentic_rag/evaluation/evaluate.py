"""`agentic-rag eval`: datasets × modes through one runner, appended to predictions.jsonl as
questions finish, resumed by question id, then metrics.json and report.md from that file alone."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentic_rag.backends.factory import load_backend
from agentic_rag.data.qa import load_qa
from agentic_rag.evaluation.metrics import METRICS_FILE, Results, aggregate, write_metrics
from agentic_rag.evaluation.modes import MODES, ModeRunner
from agentic_rag.evaluation.predictions import (
    PREDICTIONS_FILE,
    PredictionWriter,
    finished_ids,
    read_predictions,
)
from agentic_rag.evaluation.report import write_report
from agentic_rag.models import resolve_model
from agentic_rag.protocols import ProtocolConfig
from agentic_rag.rollout import RolloutConfig
from agentic_rag.search import RetrieverConfig, SearchTool, load_search_tool


@dataclass(frozen=True)
class EvalSettings:
    """One evaluation run: what to answer and where to write it (the `agentic-rag eval` flags),
    and how (the recipe's protocol, rollout and retriever sections)."""

    model: str
    """Policy folder or hub id; with backend `openai`, the served model's name."""
    data: list[str]
    """Dataset specs (see `agentic_rag.data.qa.load_qa`)."""
    modes: list[str]
    """Any of direct, naive, agentic."""
    out: str
    """Run folder: predictions.jsonl (appended, resumed), metrics.json, report.md."""
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    retriever: RetrieverConfig = field(default_factory=RetrieverConfig)
    backend: str = "hf"
    """hf, vllm or openai (see agentic_rag.backends.factory)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint (backend openai)."""
    tokenizer: str | None = None
    """Tokenizer folder or hub id when it differs from `model`."""
    limit: int | None = None
    """First N questions of each dataset."""
    batch_size: int = 32
    device: str | None = None
    """Torch device of the policy (backend hf); default cuda when available."""
    progress: bool = True
    extra_meta: dict = field(default_factory=dict)


def evaluate(s: EvalSettings, search: SearchTool | None = None) -> Results:
    """Runs every (dataset, mode) not yet finished in `s.out`, then rewrites metrics.json and
    report.md from predictions.jsonl. `search`: a loaded search tool to reuse (else the
    settings' retriever is loaded)."""
    from transformers import AutoTokenizer

    unknown = [m for m in s.modes if m not in MODES]
    if unknown or not s.modes:
        raise ValueError(f"--mode {','.join(s.modes)}: choose from {', '.join(MODES)}")
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    protocol, rollout, retriever = s.protocol, s.rollout, s.retriever
    needs_search = any(m != "direct" for m in s.modes)
    if needs_search and not (retriever.index or retriever.url):
        raise ValueError("modes naive/agentic need --index DIR or --retriever-url URL")
    datasets = [(spec, load_qa(spec, limit=s.limit)) for spec in s.data]  # fail fast on bad data
    # A served model is a name on the server; a local one may be a named offline model.
    model = s.model if s.backend == "openai" else resolve_model(s.model)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(s.tokenizer) if s.tokenizer else model)
    runner = ModeRunner(
        backend=load_backend(s.backend, model, tokenizer, device=s.device, base_url=s.base_url),
        tokenizer=tokenizer,
        search=(search or load_search_tool(retriever)) if needs_search else None,
        protocol=protocol,
        rollout=rollout,
        batch_size=s.batch_size,
    )
    path = out / PREDICTIONS_FILE
    started = time.time()
    with PredictionWriter(path) as writer:
        for _, examples in datasets:
            for mode in s.modes:
                if not examples:
                    continue
                done = finished_ids(path, examples[0].dataset, mode)
                todo = [e for e in examples if e.id not in done]
                if todo:
                    runner.run(mode, todo, writer=writer, progress=s.progress)
    results = aggregate(read_predictions(path))
    meta = {
        "model": s.model,
        "data": s.data,
        "modes": s.modes,
        "backend": s.backend,
        "protocol": dataclasses.asdict(protocol),
        "rollout": dataclasses.asdict(rollout),
        "retriever": retriever.url or retriever.index,
        "k": rollout.topk,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "this_invocation_s": round(time.time() - started, 1),
        **s.extra_meta,
    }
    write_metrics(out / METRICS_FILE, results, meta)
    write_report(results, out, meta)
    return results
