"""The offline default behind `make train`: everything built locally, nothing downloaded.

fictional KB -> MiniLM FAISS index -> tiny Qwen2 policy + BPE tokenizer -> SFT warm start on
demonstration trajectories -> held-out eval -> GRPO with the search tool -> held-out eval ->
summary.json and curves.png. Each stage's output is reused on a re-run, so `--resume` after a
kill continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path

from agentic_rag.data.qa import QAExample, load_qa
from agentic_rag.data.synthetic import SyntheticKBConfig
from agentic_rag.protocols import Action, Protocol, make_protocol
from agentic_rag.protocols.tags import INVALID_ACTION_MESSAGE, SEARCH_R1_TEMPLATE
from agentic_rag.training.config import OfflineConfig, Recipe
from agentic_rag.training.curves import plot_curves

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


def _say(message: str) -> None:
    print(f"[agentic-rag] {message}", flush=True)


def kb_config(cfg: OfflineConfig) -> SyntheticKBConfig:
    """The knowledge base's shape, from the recipe's `offline` section."""
    return SyntheticKBConfig(
        num_people=cfg.num_entities,
        num_companies=cfg.num_companies,
        num_cities=cfg.num_cities,
        num_countries=cfg.num_countries,
        num_train_questions=cfg.sft_examples,
    )


def build_world(recipe: Recipe, out: Path, seed: int) -> dict[str, Path]:
    """KB files, index and untrained tiny model under `out` (reused when already there)."""
    from agentic_rag.data.synthetic import generate_kb, iter_texts, write_kb
    from agentic_rag.tiny import TinyModelConfig, save_tiny
    from retriever_index.build import BuildConfig, build_index

    cfg = recipe.offline
    kb = generate_kb(seed, kb_config(cfg))
    paths = write_kb(kb, out / "kb")
    index_dir = out / "index"
    if not (index_dir / "manifest.json").exists():
        _say(f"building the retriever index over {len(kb.passages)} passages")
        build_index(BuildConfig(corpus=str(paths["corpus"]), out=str(index_dir)))
    model_dir = out / "base_model"
    if not (model_dir / "config.json").exists():
        texts = [*iter_texts(kb), *PROTOCOL_TEXTS, recipe.protocol.template or ""]
        shape = TinyModelConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            intermediate_size=cfg.intermediate_size,
            seed=seed,
        )
        save_tiny(texts, model_dir, shape)
    return {**paths, "index": index_dir, "base_model": model_dir}


def demonstrations(
    protocol: Protocol, search, examples: list[dict], shortcut_fraction: float = 0.0, seed: int = 0
) -> list[dict]:
    """SFT rows: prompt + a gold trajectory (real retrieval results), loss on model tokens only.

    A `shortcut_fraction` of the two-hop demonstrations stop after the first search and answer
    with the entity found there (the bridge, never the answer): the warm start learns this
    careless habit and under-searches, and GRPO must learn that the second search pays. Single-hop
    demonstrations are always right: answers that are not read off a passage would teach the
    policy not to copy.
    """
    rng = random.Random(seed)
    plans = []
    for e in examples:
        hops = e["hops"]
        if len(hops) > 1 and rng.random() < shortcut_fraction:
            plans.append((e, hops[:1], hops[0]["answer"]))
        else:
            plans.append((e, hops, e["answers"][0]))
    queries = [h["query"] for _, hops, _ in plans for h in hops]
    hits = iter(search.search_batch(queries, protocol.config.topk))
    rows = []
    for e, hops, answer in plans:
        steps = []
        for i, hop in enumerate(hops):
            thought = "I need to search." if i == 0 else "I need to search again."
            steps.append((Action("search", queries=(hop["query"],)), [next(hits)], thought))
        steps.append((Action("answer", answer=answer), [], "I know the answer."))
        prompt = protocol.prompt_ids(e["question"])
        completion, env_mask = protocol.demonstration(steps)
        rows.append(
            {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + env_mask}
        )
    return rows


def split_by_entity(rows: list[dict], sft_share: float) -> tuple[list[dict], list[dict]]:
    """(warm-start questions, GRPO questions), split by the entity the first search looks up.

    GRPO's questions are about entities no demonstration touched, so its reward pays for
    reading passages, not for recalling what the warm start memorized.
    """
    entities = sorted({r["supporting_ids"][0] for r in rows})
    random.Random(0).shuffle(entities)
    sft = set(entities[: round(len(entities) * sft_share)])
    return (
        [r for r in rows if r["supporting_ids"][0] in sft],
        [r for r in rows if r["supporting_ids"][0] not in sft],
    )


def _train_rows(world: dict[str, Path]) -> list[dict]:
    return [json.loads(line) for line in world["train"].read_text().splitlines()]


def warm_start(recipe: Recipe, world: dict[str, Path], out: Path, seed: int, search) -> Path:
    """Short SFT on demonstrations: teaches the protocol, leaves accuracy headroom for GRPO."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    sft_dir = out / "sft"
    if (sft_dir / "config.json").exists():
        return sft_dir
    cfg = recipe.offline
    tokenizer = AutoTokenizer.from_pretrained(world["base_model"])
    protocol = make_protocol(tokenizer, recipe.protocol)
    train, _ = split_by_entity(_train_rows(world), cfg.sft_share)
    rows = demonstrations(protocol, search, train, cfg.shortcut_fraction, seed)
    _say(f"SFT warm start on {len(rows)} demonstrations")
    args = SFTConfig(
        output_dir=str(out / "sft_run"),
        num_train_epochs=cfg.sft_epochs,
        learning_rate=cfg.sft_learning_rate,
        per_device_train_batch_size=16,
        completion_only_loss=True,
        max_length=None,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        adam_beta2=0.95,  # steadier at the high learning rate a tiny model trains fast with
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        seed=seed,
        use_cpu=recipe.grpo.use_cpu,
        bf16=recipe.grpo.bf16,  # the recipe's precision for both stages (tiny.yaml: float32)
        gradient_checkpointing=recipe.grpo.gradient_checkpointing,
    )
    trainer = SFTTrainer(
        model=str(world["base_model"]),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(sft_dir))
    tokenizer.save_pretrained(str(sft_dir))
    return sft_dir


def evaluate_policy(model_dir: Path, recipe: Recipe, examples: list[QAExample], search) -> dict:
    """Held-out metrics of a checkpoint with the same engine and scorers as `agentic-rag eval`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentic_rag.backends.hf import HFBackend
    from agentic_rag.evaluation.metrics import aggregate
    from agentic_rag.evaluation.runner import ModeRunner

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    runner = ModeRunner(
        HFBackend(model, tokenizer),
        tokenizer,
        search,
        recipe.protocol,
        recipe.rollout,
        batch_size=64,
    )
    predictions = runner.run("agentic", examples, progress=False)
    metrics = aggregate(predictions)["synthetic"]["agentic"]
    turns = sum(p.num_turns for p in predictions) or 1
    return {
        "em": metrics.em,
        "f1": metrics.f1,
        "searches_per_question": metrics.searches,
        "turns_per_question": metrics.turns,
        "invalid_action_share": sum(p.num_invalid for p in predictions) / turns,
        "unanswered_share": sum(p.finish_reason != "answer" for p in predictions)
        / len(predictions),
        "questions": metrics.n,
    }


class StaleOutputError(ValueError):
    """The output directory holds stages built with other settings."""


def check_reusable(out: Path, settings: dict) -> None:
    """Stages are reused on a re-run, so only when they were built with the same settings."""
    stamp = out / "offline_settings.json"
    settings = json.loads(json.dumps(settings, default=str))
    if not stamp.exists():
        stamp.write_text(json.dumps(settings, indent=2))
        return
    built = json.loads(stamp.read_text())
    changed = sorted(k for k in built.keys() | settings.keys() if built.get(k) != settings.get(k))
    if changed:
        raise StaleOutputError(
            f"{out} holds stages built with other settings (changed: {', '.join(changed)});"
            f" pass a new --output-dir, or delete {out} to rebuild from scratch"
        )


def run_offline(recipe: Recipe, resume: bool = False) -> dict:
    """The whole offline default; returns (and writes) the summary."""
    from agentic_rag.retrieval import load_search_tool
    from agentic_rag.training.grpo import train_grpo

    started = time.perf_counter()
    seed = recipe.grpo.seed
    out = Path(recipe.grpo.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_reusable(
        out,
        {
            "seed": seed,
            "offline": dataclasses.asdict(recipe.offline),
            "protocol": dataclasses.asdict(recipe.protocol),
            "bf16": recipe.grpo.bf16,
        },
    )
    world = build_world(recipe, out, seed)
    recipe.retriever.index = str(world["index"])
    search = load_search_tool(recipe.retriever)
    sft_dir = warm_start(recipe, world, out, seed, search)
    held_out = load_qa(str(world["test"]), limit=recipe.offline.eval_questions)
    before = evaluate_policy(sft_dir, recipe, held_out, search)
    _say(f"after SFT: held-out EM {before['em']:.3f}, F1 {before['f1']:.3f}")

    recipe.model.model_name_or_path = str(sft_dir)
    recipe.grpo.output_dir = str(out / "grpo")
    _, rl_rows = split_by_entity(_train_rows(world), recipe.offline.sft_share)
    rl_ids = {r["id"] for r in rl_rows}
    rl_questions = [q for q in load_qa(str(world["train"])) if q.id in rl_ids]
    _say(f"GRPO on {len(rl_questions)} questions about entities the warm start never saw")
    trainer = train_grpo(recipe, rl_questions, search, resume=resume)
    after = evaluate_policy(out / "grpo" / "final", recipe, held_out, search)
    _say(f"after GRPO: held-out EM {after['em']:.3f}, F1 {after['f1']:.3f}")

    summary = {
        "seed": seed,
        "sft": before,
        "grpo": after,
        "em_gain": after["em"] - before["em"],
        "grpo_steps": trainer.state.global_step,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "recipe": recipe.source,
        "offline": dataclasses.asdict(recipe.offline),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_curves(trainer.state.log_history, out / "curves.png")
    _say(f"summary: {out / 'summary.json'}  curves: {out / 'curves.png'}")
    return summary
