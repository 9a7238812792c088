"""Generated tokens/s of our transformers backend against a bare `model.generate`, on the same
multi-turn rollouts: same model, questions, protocol, budgets, retriever and sampling.

Three backends run the SAME rollout engine (so parsing, search and observations are identical;
only generation differs), alternating order over `--runs` paired runs:
- `ours`: `HFBackend` as training and evaluation use it (KV cache kept across turns, a group's
  shared prompt prefilled once, decode steps written into reserved cache room);
- `ours, no reuse`: the same backend with cross-turn cache reuse and shared prefill turned off;
- `bare generate`: `model.generate` on the left-padded contexts each turn with transformers' own
  cache, stop strings and sampling, and log-probs from `compute_transition_scores`.
Each figure is model tokens generated / seconds spent in the backend, median over runs.
Goal (issue 15): ours >= 1.0x bare generate, >= 1.5x with KV reuse across turns.

Default model: the real SmolLM2-135M-Instruct (`--model` takes any checkpoint or known name), on
the shared HotpotQA questions and a MiniLM index over their passages (built once, cached under
outputs/bench/); GRPO-shaped batches: `--questions` prompts x `--group` samples at T=0.7.

Run: .venv/bin/python bench/generation.py [--model smollm2-135m-instruct] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _world  # before torch: it sets the OpenMP wait policy
import torch

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT.parent / "shared" / "data" / "qa" / "hotpotqa"


class Timed:
    """A backend whose `generate` time and generated tokens are counted."""

    def __init__(self, inner):
        self.inner, self.seconds, self.tokens = inner, 0.0, 0

    def generate(self, prompts, params):
        started = time.perf_counter()
        out = self.inner.generate(prompts, params)
        self.seconds += time.perf_counter() - started
        self.tokens += sum(len(g.token_ids) for g in out)
        return out


class BareGenerate:
    """`model.generate` as a user would call it each turn: left-padded contexts, transformers'
    own cache and stop strings, log-probs from the returned scores."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.eos = tokenizer.eos_token_id
        self.pad = 0 if self.eos != 0 else 1  # not EOS: where a stopped row's padding starts

    @torch.no_grad()
    def generate(self, prompts, params):
        from transformers import GenerationConfig

        from agentic_rag.backends.base import Generation

        width = max(map(len, prompts))
        ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p)
            mask[row, width - len(p) :] = 1
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            temperature=params.temperature if not params.greedy else None,
            top_k=0 if not params.greedy else None,
            eos_token_id=self.eos,
            pad_token_id=self.pad,
            stop_strings=list(params.stop) or None,
            return_dict_in_generate=True,
            output_scores=True,
        )
        out = self.model.generate(
            input_ids=ids, attention_mask=mask, generation_config=config, tokenizer=self.tokenizer
        )
        scores = self.model.compute_transition_scores(
            out.sequences, out.scores, normalize_logits=True
        )
        results = []
        for row in range(len(prompts)):
            new = out.sequences[row, width:].tolist()
            finish, end = "length", len(new)
            for i, token in enumerate(new):
                if token in (self.eos, self.pad):
                    finish, end = ("eos", i + 1) if token == self.eos else ("stop", i)
                    break
            results.append(Generation(new[:end], scores[row, :end].tolist(), finish))
        return results


def world(model_spec: str):
    """The model, its tokenizer, HotpotQA questions and a retriever over their passages."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentic_rag.data.qa import load_qa
    from agentic_rag.models import resolve_model
    from retriever_index import Retriever
    from retriever_index.build import BuildConfig, build_index

    if not (QA / "corpus.jsonl").exists():
        raise SystemExit(f"needs the shared HotpotQA data at {QA}")
    index = _world.CACHE / "hotpotqa_index"
    if not (index / "manifest.json").exists():
        print(f"building {index} over the HotpotQA passages (once, minutes)")
        build_index(BuildConfig(corpus=str(QA / "corpus.jsonl"), out=str(index)))
    path = resolve_model(model_spec)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    return model, AutoTokenizer.from_pretrained(path), load_qa(str(QA)), Retriever.load(index)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--runs", type=int, default=3, help="paired runs (medians)")
    ap.add_argument("--questions", type=int, default=8, help="prompts per batch")
    ap.add_argument("--group", type=int, default=4, help="samples per prompt (GRPO's G)")
    ap.add_argument("--max-turns", type=int, default=3)
    ap.add_argument("--max-turn-tokens", type=int, default=48)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    from agentic_rag.backends.base import Sampling
    from agentic_rag.backends.hf import HFBackend
    from agentic_rag.protocols import make_protocol
    from agentic_rag.recipe.sections import ProtocolConfig, RolloutConfig
    from agentic_rag.rollout import RolloutEngine

    class NoReuse(HFBackend):
        def _continue(self, prompts, weights, device):
            return None, None, None

        def _shared_prefill(self, prompts, input_ids, attention):
            return None

    model, tokenizer, questions, search = world(args.model)
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags", max_obs_tokens=160))
    config = RolloutConfig(
        max_turns=args.max_turns,
        max_turn_tokens=args.max_turn_tokens,
        max_completion_tokens=args.max_turns * (args.max_turn_tokens + 200),
        topk=1,
    )
    sides = {
        "ours": lambda: HFBackend(model, tokenizer),
        "ours, no reuse": lambda: NoReuse(model, tokenizer),
        "bare generate": lambda: BareGenerate(model, tokenizer),
    }
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for run in range(args.runs):
        batch = questions[run * args.questions : (run + 1) * args.questions]
        prompts = [q.question for q in batch for _ in range(args.group)]
        order = list(sides) if run % 2 == 0 else list(reversed(sides))
        for name in order:
            torch.manual_seed(run)
            backend = Timed(sides[name]())
            RolloutEngine(backend, search, protocol, config).run(prompts, Sampling(0.7))
            rates[name].append(backend.tokens / backend.seconds)
    info = _world.machine()
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    print(
        f"{args.model}: {args.questions} prompts x G={args.group}, tags protocol in the chat "
        f"template, {args.max_turns} turns x {args.max_turn_tokens} tokens, T=0.7; "
        f"median of {args.runs} paired runs"
    )
    base = _world.median_range(rates["bare generate"])[0]
    figures = {"machine": info, "tokens_per_s": {}, "vs_bare_generate": {}}
    for name, values in rates.items():
        med, lo, hi = _world.median_range(values)
        figures["tokens_per_s"][name] = [med, lo, hi]
        figures["vs_bare_generate"][name] = med / base
        print(f"{name:16} {med:8.1f} tokens/s [{lo:.1f}-{hi:.1f}]  {med / base:.2f}x bare generate")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
