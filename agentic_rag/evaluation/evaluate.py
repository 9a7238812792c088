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
from agentic_rag.recipe.sections import ProtocolConfig, RetrieverConfig, RolloutConfig
from agentic_rag.search import SearchTool, load_search_tool


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
    sample: int | None = None
    """A seeded random sample of N questions of each dataset (all of a smaller one)."""
    seed: int = 0
    """Seed of `sample`: the same data, N and seed always give the same questions."""
    dataset_indexes: dict[str, str] = field(default_factory=dict)
    """Dataset name -> index folder or server URL searched for that dataset's questions
    (e.g. each multi-hop set over its own corpus); other datasets use `retriever`."""
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
    # fail fast on bad data
    datasets = [load_qa(spec, limit=s.limit, sample=s.sample, seed=s.seed) for spec in s.data]
    names = [examples[0].dataset for examples in datasets]
    stray = sorted(set(s.dataset_indexes) - set(names))
    if stray:
        raise ValueError(
            f"an index is given for {', '.join(stray)}, which is not among the datasets "
            f"({', '.join(names)}): use the dataset names exactly"
        )
    unsearched = [name for name in names if name not in s.dataset_indexes]
    if needs_search and unsearched and not (search or retriever.index or retriever.url):
        raise ValueError(
            f"modes naive/agentic need --index DIR or --retriever-url URL (for "
            f"{', '.join(unsearched)}), or an index per dataset (--dataset-index NAME=DIR)"
        )
    # A served model is a name on the server; a local one may be a named offline model.
    model = s.model if s.backend == "openai" else resolve_model(s.model)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(s.tokenizer) if s.tokenizer else model)
    runner = ModeRunner(
        backend=load_backend(s.backend, model, tokenizer, device=s.device, base_url=s.base_url),
        tokenizer=tokenizer,
        search=None,
        protocol=protocol,
        rollout=rollout,
        batch_size=s.batch_size,
    )
    path = out / PREDICTIONS_FILE
    started = time.time()
    tools: dict[str | None, SearchTool] = {}  # each index loaded once, when first needed

    def search_for(dataset: str) -> SearchTool | None:
        if not needs_search:
            return None
        source = s.dataset_indexes.get(dataset)
        if source not in tools:
            if source is None:
                tools[source] = search or load_search_tool(retriever)
            else:  # the recipe's retriever settings (device, timeouts) with this index or URL
                url = source.startswith(("http://", "https://"))
                where = {"url": source} if url else {"index": source, "url": None}
                tools[source] = load_search_tool(dataclasses.replace(retriever, **where))
        return tools[source]

    with PredictionWriter(path) as writer:
        for examples in datasets:
            dataset = examples[0].dataset
            todo_by_mode = {}
            for mode in s.modes:
                done = finished_ids(path, dataset, mode)
                todo_by_mode[mode] = [e for e in examples if e.id not in done]
            if not any(todo_by_mode.values()):
                continue
            runner.search = search_for(dataset)
            for mode, todo in todo_by_mode.items():
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
        "dataset_indexes": s.dataset_indexes,
        "k": rollout.topk,
        "sample": s.sample,
        "seed": s.seed if s.sample else None,
        "limit": s.limit,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "this_invocation_s": round(time.time() - started, 1),
        **s.extra_meta,
    }
    write_metrics(out / METRICS_FILE, results, meta)
    write_report(results, out, meta)
    return results
