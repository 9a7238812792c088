"""`agentic-rag eval`: datasets × modes through one runner, appended to predictions.jsonl as
questions finish, resumed by question id, then metrics.json and report.md from that file alone."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentic_rag.backends.factory import load_backend
from agentic_rag.data.qa import QAExample, load_qa
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
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = load_datasets(s, search)  # fail fast on bad data or a missing retriever
    runner = make_runner(s)
    started = time.time()
    search_for = SearchTools(s, search)
    path = out / PREDICTIONS_FILE
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
    meta = run_metadata(s, started)
    write_metrics(out / METRICS_FILE, results, meta)
    write_report(results, out, meta)
    return results


def load_datasets(s: EvalSettings, search: SearchTool | None) -> list[list[QAExample]]:
    """Every dataset's questions, after checking the modes and that every dataset a mode
    searches for has somewhere to search."""
    unknown = [m for m in s.modes if m not in MODES]
    if unknown or not s.modes:
        raise ValueError(f"--mode {','.join(s.modes)}: choose from {', '.join(MODES)}")
    datasets = [load_qa(spec, limit=s.limit, sample=s.sample, seed=s.seed) for spec in s.data]
    names = [examples[0].dataset for examples in datasets]
    stray = sorted(set(s.dataset_indexes) - set(names))
    if stray:
        raise ValueError(
            f"an index is given for {', '.join(stray)}, which is not among the datasets "
            f"({', '.join(names)}): use the dataset names exactly"
        )
    unsearched = [name for name in names if name not in s.dataset_indexes]
    needs_search = any(m != "direct" for m in s.modes)
    if needs_search and unsearched and not (search or s.retriever.index or s.retriever.url):
        raise ValueError(
            f"modes naive/agentic need --index DIR or --retriever-url URL (for "
            f"{', '.join(unsearched)}), or an index per dataset (--dataset-index NAME=DIR)"
        )
    return datasets


def make_runner(s: EvalSettings) -> ModeRunner:
    """The policy's backend and tokenizer behind the mode runner (its search is set per
    dataset)."""
    from transformers import AutoTokenizer

    # A served model is a name on the server; a local one may be a named offline model.
    model = s.model if s.backend == "openai" else resolve_model(s.model)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(s.tokenizer) if s.tokenizer else model)
    backend = load_backend(
        s.backend,
        model,
        tokenizer,
        device=s.device,
        base_url=s.base_url,
        batch_size=s.batch_size,
        max_completion_tokens=s.rollout.max_completion_tokens,
    )
    return ModeRunner(
        backend=backend,
        tokenizer=tokenizer,
        search=None,
        protocol=s.protocol,
        rollout=s.rollout,
        batch_size=s.batch_size,
    )


class SearchTools:
    """The search tool for each dataset's questions (its own index, else the recipe's), each
    loaded once, when first needed; None when no mode searches."""

    def __init__(self, s: EvalSettings, search: SearchTool | None):
        self.settings = s
        self.search = search
        self.needed = any(m != "direct" for m in s.modes)
        self.tools: dict[str | None, SearchTool] = {}

    def __call__(self, dataset: str) -> SearchTool | None:
        if not self.needed:
            return None
        retriever = self.settings.retriever
        source = self.settings.dataset_indexes.get(dataset)
        if source not in self.tools:
            if source is None:
                self.tools[source] = self.search or load_search_tool(retriever)
            else:  # the recipe's retriever settings (device, timeouts) with this index or URL
                url = source.startswith(("http://", "https://"))
                where = {"url": source} if url else {"index": source, "url": None}
                self.tools[source] = load_search_tool(dataclasses.replace(retriever, **where))
        return self.tools[source]


def run_metadata(s: EvalSettings, started: float) -> dict:
    """What metrics.json and report.md say about the run."""
    return {
        "model": s.model,
        "data": s.data,
        "modes": s.modes,
        "backend": s.backend,
        "protocol": dataclasses.asdict(s.protocol),
        "rollout": dataclasses.asdict(s.rollout),
        "retriever": s.retriever.url or s.retriever.index,
        "dataset_indexes": s.dataset_indexes,
        "k": s.rollout.topk,
        "sample": s.sample,
        "seed": s.seed if s.sample else None,
        "limit": s.limit,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "this_invocation_s": round(time.time() - started, 1),
        **s.extra_meta,
    }
