"""Where one GRPO step of the default recipe spends its time.

Runs the production path, `train_grpo` with recipes/tiny.yaml (its tags protocol, budgets,
rewards, beta > 0 so a reference model runs), from the benchmark's warm-started policy
(bench/_world.py; an untrained policy rarely searches, which would make retrieval look free).
Wall-clock timers wrap our engine's stages (generation, prompt/observation tokenization, action
parsing, retrieval) and TRL's (reward computation, reference and policy forward, loss, backward,
optimizer); nested stages are reported exclusive of their children. The first step pays one-time
setup and is not measured; each part's figure is its median over the measured steps.
Target (issue 7): retrieval + reward computation <= 5% of a step.

GPU: `--device cuda --model-shape qwen2.5-0.5b` times a randomly initialised Qwen2.5-0.5B-shaped
policy (bf16) with Search-R1's budgets (4 turns x 500 tokens, 2048 per trajectory, top-3 x 500
observation tokens) and reports generated tokens/s and the model-FLOPs utilization of the update.
Random weights never form an action, so every turn runs to its token cap (realistic lengths) and
no search runs: the GPU figures are about the model, the CPU ones about the loop.

Real checkpoint: `--model smollm2-135m-instruct` (or its warm start's folder) with
`protocol.use_chat_template=true protocol.template=null` runs the same step on SmolLM2.

Run: .venv/bin/python bench/train_step.py [--steps 4] [--torch-profile]
     .venv/bin/python bench/train_step.py --device cuda --model-shape qwen2.5-0.5b
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import redirect_stdout
from pathlib import Path

import _world  # before torch: it sets the OpenMP wait policy
import torch
from transformers import TrainerCallback

# Qwen2.5-0.5B's shape (config.json of Qwen/Qwen2.5-0.5B); weights are random.
QWEN2_5_0_5B = dict(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
# Search-R1's budgets (recipes/search_r1_qwen2.5_3b.yaml) on one GPU: 16 prompts x G=5.
GPU_OVERRIDES = [
    "use_cpu=false",
    "bf16=true",
    "dtype=bfloat16",
    "gradient_checkpointing=true",
    "per_device_train_batch_size=80",
    "num_generations=5",
    "rollout.topk=3",
    "protocol.max_obs_tokens=500",
    "rollout.max_turns=4",
    "rollout.max_turn_tokens=500",
    "rollout.max_completion_tokens=2048",
]
# Dense bf16 peak FLOP/s by device name (vendor datasheets), for MFU; --peak-tflops overrides.
PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10", 125e12),
    ("L4", 121e12),
)
# (part, what it covers); rows of the report in step order.
PARTS = (
    ("generation", "backend.generate (HF: generate + per-token log-probs; or vLLM)"),
    ("prompt tokenization", "protocol.prompt_ids"),
    ("action parsing", "protocol.parse"),
    ("retrieval", "search_batch (query encoding + FAISS)"),
    ("observation tokenization", "protocol.observation_ids"),
    ("rollout glue", "rest of the engine + TRL's decode of completions"),
    ("reward computation", "GRPOTrainer._calculate_rewards"),
    ("reference forward", "log-probs of the frozen reference model"),
    ("old-policy forward", "no-grad policy log-probs (off-policy steps only)"),
    ("scoring glue", "padding, advantages, metrics"),
    ("policy forward", "log-probs with grad, in compute_loss"),
    ("loss computation", "rest of compute_loss"),
    ("backward", "accelerator.backward"),
    ("optimizer", "grad clipping + optimizer.step"),
    ("other", "data loading, zero_grad, callbacks, logging"),
)


class Clock:
    """Inclusive seconds per named stage within the current step (CUDA-synchronized)."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.now: dict[str, float] = defaultdict(float)
        self.steps: list[dict[str, float]] = []

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def __call__(self, part: str):
        self._sync()
        started = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.now[part] += time.perf_counter() - started


@contextlib.contextmanager
def patched(owner, name: str, wrap):
    """`owner.name` replaced by `wrap(original)` for the duration (instrumentation only); an
    inherited method is shadowed on `owner`, then the shadow removed."""
    own = name in owner.__dict__
    original = owner.__dict__[name] if own else getattr(owner, name)
    setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def timing(clock: Clock, part: str):
    def wrap(fn):
        def wrapper(*args, **kwargs):
            with clock(part):
                return fn(*args, **kwargs)

        return wrapper

    return wrap


def instrument(clock: Clock, protocol_cls) -> contextlib.ExitStack:
    """Timers around every stage of a step, installed on the classes the production path uses."""
    from accelerate import Accelerator
    from transformers import Trainer
    from trl import GRPOTrainer

    from agentic_rag.backends.hf import HFBackend
    from agentic_rag.backends.vllm import VLLMBackend
    from agentic_rag.training.trainer import SearchGRPOTrainer

    def logps(fn):
        def wrapper(self, model, *args, **kwargs):
            if model is getattr(self, "ref_model", None):
                part = "reference forward"
            else:
                part = "policy forward" if torch.is_grad_enabled() else "old-policy forward"
            with clock(part):
                return fn(self, model, *args, **kwargs)

        return wrapper

    def rollout(fn):
        def wrapper(self, prompts):
            with clock("rollout (total)"):
                out = fn(self, prompts)
            prompt_ids, completion_ids, mask = out[0], out[1], out[2]
            clock.now["model tokens"] += sum(map(sum, mask)) if mask else 0
            clock.now["tokens"] += sum(map(len, prompt_ids)) + sum(map(len, completion_ids))
            clock.now["trajectories"] += len(completion_ids)
            return out

        return wrapper

    stack = contextlib.ExitStack()
    for owner, name, wrap in (
        (HFBackend, "generate", timing(clock, "generation")),
        (VLLMBackend, "generate", timing(clock, "generation")),
        (protocol_cls, "prompt_ids", timing(clock, "prompt tokenization")),
        (protocol_cls, "parse", timing(clock, "action parsing")),
        (protocol_cls, "observation_ids", timing(clock, "observation tokenization")),
        (GRPOTrainer, "_generate", rollout),
        (GRPOTrainer, "_generate_and_score_completions", timing(clock, "score (total)")),
        (GRPOTrainer, "_calculate_rewards", timing(clock, "reward computation")),
        (GRPOTrainer, "_get_per_token_logps_and_entropies", logps),
        (SearchGRPOTrainer, "_get_per_token_logps_and_entropies", logps),
        (GRPOTrainer, "compute_loss", timing(clock, "loss (total)")),
        (Accelerator, "backward", timing(clock, "backward")),
        (Trainer, "_clip_grad_norm", timing(clock, "optimizer")),
    ):
        stack.enter_context(patched(owner, name, wrap))
    return stack


class StepClock(TrainerCallback):
    """Closes each step's books: total wall time, optimizer step, optional torch profile."""

    def __init__(self, clock: Clock, profile_step: int | None):
        self.clock = clock
        self.profile_step = profile_step
        self.profiler = None
        self.table = ""
        self._start = self._opt = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self.clock.now.clear()
        if state.global_step == self.profile_step:
            self.profiler = torch.profiler.profile(activities=_activities(self.clock.cuda))
            self.profiler.__enter__()
        self.clock._sync()
        self._start = time.perf_counter()

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.clock._sync()
        self._opt = time.perf_counter()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.clock._sync()
        self.clock.now["optimizer"] += time.perf_counter() - self._opt

    def on_step_end(self, args, state, control, **kwargs):
        self.clock._sync()
        self.clock.now["step"] = time.perf_counter() - self._start
        self.clock.steps.append(dict(self.clock.now))
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)
            key = "self_cuda_time_total" if self.clock.cuda else "self_cpu_time_total"
            self.table = self.profiler.key_averages().table(sort_by=key, row_limit=20)
            self.profiler = None


@contextlib.contextmanager
def plain_trl():
    """`train_grpo` building TRL's GRPOTrainer (every position through the LM head, no row
    skipped): the step as it was before training/trainer.py, for paired comparisons."""
    from trl import GRPOTrainer

    from agentic_rag.training import trainer as ours

    def build(*args, update=None, credit=None, sft_rows=None, **kwargs):
        return GRPOTrainer(*args, **kwargs)

    with patched(ours, "SearchGRPOTrainer", lambda original: build):
        yield


def _activities(cuda: bool):
    acts = [torch.profiler.ProfilerActivity.CPU]
    return acts + [torch.profiler.ProfilerActivity.CUDA] if cuda else acts


def exclusive(step: dict[str, float]) -> dict[str, float]:
    """Per-part seconds with nested stages subtracted from their parents."""
    g = defaultdict(float, step)
    rollout_parts = ("generation", "prompt tokenization", "action parsing", "retrieval",
                     "observation tokenization")  # fmt: skip
    scoring_parts = ("reward computation", "reference forward", "old-policy forward")
    parts = {k: g[k] for k in (*rollout_parts, *scoring_parts, "policy forward", "backward")}
    parts["rollout glue"] = g["rollout (total)"] - sum(g[k] for k in rollout_parts)
    parts["scoring glue"] = (
        g["score (total)"] - g["rollout (total)"] - sum(g[k] for k in scoring_parts)
    )
    parts["loss computation"] = g["loss (total)"] - g["policy forward"]
    parts["optimizer"] = g["optimizer"]
    parts["other"] = g["step"] - g["score (total)"] - g["loss (total)"] - g["backward"]
    parts["other"] -= g["optimizer"]
    return parts


class NoRetriever:
    """The search tool of the random-weights run: such a policy never writes an action, and the
    GPU machine it targets may have no encoder; a search would be a counted search error."""

    def search_batch(self, queries: list[str], k: int):
        raise RuntimeError("--model-shape qwen2.5-0.5b runs without a retriever")


def qwen_shaped_model(tokenizer_dir: Path, out: Path) -> Path:
    """A random Qwen2.5-0.5B-shaped policy saved with a tokenizer padded to its vocabulary (the
    tiny tokenizer plus placeholder tokens), so every sampled id decodes."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    missing = QWEN2_5_0_5B["vocab_size"] - len(tokenizer)
    tokenizer.add_tokens([f"<|extra_{i}|>" for i in range(missing)])
    torch.manual_seed(0)
    config = Qwen2Config(
        **QWEN2_5_0_5B,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def update_mfu(steps: list[dict[str, float]], params: int, shape: dict, peak: float) -> float:
    """Model FLOPs of the policy update (forward + backward: 6 N per token plus attention,
    PaLM appendix B) over the time of policy forward + loss + backward, as a share of peak."""
    mean = {k: sum(s.get(k, 0.0) for s in steps) / len(steps) for k in ("tokens", "trajectories")}
    seq = mean["tokens"] / max(mean["trajectories"], 1.0)
    per_token = 6 * params + 12 * shape["num_hidden_layers"] * shape["hidden_size"] * seq
    seconds = sum(s["loss (total)"] + s["backward"] for s in steps) / len(steps)
    return per_token * mean["tokens"] / seconds / peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--steps", type=int, default=4, help="GRPO steps; all but the first are measured"
    )
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument(
        "--model-shape",
        choices=("tiny", "qwen2.5-0.5b"),
        default="tiny",
        help="tiny: the recipe's warm-started policy; qwen2.5-0.5b: random weights",
    )
    ap.add_argument(
        "--model",
        help="any checkpoint or known name as the policy (e.g. smollm2-135m-instruct or its "
        "warm start), with the recipe's fictional world as the index; overrides --model-shape",
    )
    ap.add_argument("--peak-tflops", type=float, help="device bf16 peak for MFU (default: by name)")
    ap.add_argument(
        "--torch-profile",
        action="store_true",
        help="print torch.profiler's top ops for the second step",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--plain-trl",
        action="store_true",
        help="TRL's own GRPOTrainer instead of agentic_rag's (the baseline of bench/levers.py)",
    )
    ap.add_argument(
        "overrides", nargs="*", help="recipe overrides, key=value (as agentic-rag train)"
    )
    args = ap.parse_args()  # fmt: skip
    if args.steps < 2:
        ap.error("--steps must be >= 2: the first step is not measured")
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("--device cuda: no CUDA device visible to torch", file=sys.stderr)
        return 2
    from agentic_rag.protocols import PROTOCOLS
    from agentic_rag.training.grpo import train_grpo
    from agentic_rag.training.trl_adapter import logged_values

    _world.quiet_trainer_logs()
    world = _world.build(_world.load_recipe(tools=False))
    gpu_shape = args.model_shape == "qwen2.5-0.5b"
    with tempfile.TemporaryDirectory(prefix="bench_train_step_") as tmp:
        model_dir = qwen_shaped_model(world.model_dir, Path(tmp) / "model") if gpu_shape else None
        model_dir = args.model or model_dir
        recipe = _world.load_recipe(
            [
                *(GPU_OVERRIDES if gpu_shape else []),
                *(["use_cpu=false"] if cuda else []),
                f"model_name_or_path={model_dir or world.model_dir}",
                f"max_steps={args.steps}",
                f"output_dir={tmp}/run",
                'save_strategy="no"',
                'logging_strategy="no"',
                "disable_tqdm=true",
                *args.overrides,
            ],
            tools=False,
        )
        clock = Clock(cuda)
        search = _world.CountingSearch(NoRetriever() if gpu_shape else world.search)
        search.search_batch = timing(clock, "retrieval")(search.search_batch)
        callback = StepClock(clock, profile_step=1 if args.torch_profile else None)
        # The trainer prints its end-of-training metrics dict; the table below says more. A real
        # file, not a StringIO: vLLM's engine asks sys.stdout for its fileno().
        with (
            instrument(clock, PROTOCOLS[recipe.protocol.name]),
            plain_trl() if args.plain_trl else contextlib.nullcontext(),
            open(os.devnull, "w") as sink,
            redirect_stdout(sink),
        ):
            trainer = train_grpo(recipe, world.train, search, callbacks=[callback])
        params = trainer.model.num_parameters()
        # Logging is off, so the trainer's metric lists hold one value per pass of every step.
        live = logged_values(trainer, "update/live_row_share")
        passes = (args.steps - 1) * recipe.grpo.gradient_accumulation_steps
        live_share = sum(live[-passes:]) / passes if live else 1.0
    if callback.table:
        print(callback.table)
    measured = clock.steps[1:]
    return report(args, recipe, measured, params, search, cuda, live_share)


def report(
    args, recipe, measured: list[dict], params: int, search, cuda: bool, live_share: float
) -> int:
    """Prints the table; `live_share` is the share of rows the update trained (beta 0 skips
    rows without advantage; TRL's own trainer trains all)."""
    info = _world.machine()
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    r, g = recipe.rollout, recipe.grpo
    gpu_shape = args.model_shape == "qwen2.5-0.5b"
    prompts = g.per_device_train_batch_size * g.gradient_accumulation_steps // g.num_generations
    print(
        f"GRPO step of recipes/tiny.yaml{' + Search-R1 budgets' if gpu_shape else ''} "
        f"({args.model or args.model_shape}, {params / 1e6:.1f}M params, "
        f"{args.device}): {prompts} prompts x "
        f"G={g.num_generations}, protocol {recipe.protocol.name}, max_turns {r.max_turns}, "
        f"{r.max_turn_tokens} tokens/turn, {r.max_completion_tokens} per trajectory; "
        f"median of {len(measured)} steps"
    )
    parts = [exclusive(s) for s in measured]
    step_med, step_lo, step_hi = _world.median_range([s["step"] for s in measured])
    total = sum(s["step"] for s in measured)
    print(f"{'part':26} {'seconds':>9} {'share':>7}  covers")
    rows = {}
    for name, covers in PARTS:
        med = _world.median_range([p[name] for p in parts])[0]
        share = sum(p[name] for p in parts) / total
        rows[name] = {"seconds": med, "share": share}
        print(f"{name:26} {med:9.3f} {share:7.1%}  {covers}")
    print(f"{'step (wall)':26} {step_med:9.3f} {1:7.0%}  min {step_lo:.3f}, max {step_hi:.3f}")
    key = sum(p["retrieval"] + p["reward computation"] for p in parts) / total
    gen = sum(p["generation"] for p in parts)
    tokens = sum(s.get("model tokens", 0.0) for s in measured)
    searches = search.queries / (len(measured) + 1)  # counted over every step
    print(f"retrieval + reward computation share of a step: {key:.1%} (target <= 5%)")
    if gen:
        print(f"generated tokens/s (model tokens / generation time): {tokens / gen:,.0f}")
    print(f"searches per step: {searches:.1f}; model tokens per step: {tokens / len(measured):.0f}")
    trained = g.per_device_train_batch_size * g.gradient_accumulation_steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"trajectories trained per second: {trained / step_med:.3f}; peak RSS {peak:.1f} GiB; "
          f"rows with advantage (updated): {live_share:.0%}")  # fmt: skip
    figures = {"machine": info, "parts": rows, "step_s": [step_med, step_lo, step_hi],
               "retrieval_reward_share": key, "generated_tokens_per_s": tokens / gen if gen else None,
               "searches_per_step": searches, "trajectories_per_s": trained / step_med,
               "peak_rss_gib": peak, "live_row_share": live_share}  # fmt: skip
    if cuda:
        name = torch.cuda.get_device_name(0)
        peak = (args.peak_tflops or 0) * 1e12 or next((p for k, p in PEAK_BF16 if k in name), 0)
        if peak:
            shape = QWEN2_5_0_5B if gpu_shape else _tiny_shape(recipe)
            figures["update_mfu"] = update_mfu(measured, params, shape, peak)
            print(f"MFU of the update (bf16 peak {peak / 1e12:.0f} TFLOP/s): "
                  f"{figures['update_mfu']:.1%}")  # fmt: skip
        else:
            print(f"MFU: unknown bf16 peak for {name!r}; pass --peak-tflops")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _tiny_shape(recipe) -> dict:
    return {
        "num_hidden_layers": recipe.offline.model.num_layers,
        "hidden_size": recipe.offline.model.hidden_size,
    }


if __name__ == "__main__":
    sys.exit(main())
