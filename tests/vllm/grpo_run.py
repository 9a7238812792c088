"""One GRPO step with `use_vllm` on CPU, measured for tests/vllm/test_grpo_vllm.py (run in a
fresh process: vLLM and torch.distributed keep global state).

    python tests/vllm/grpo_run.py --model DIR --out OUT.json [--server URL] [--dtype float32]
    torchrun --standalone --nproc_per_node 2 tests/vllm/grpo_run.py --server URL ...

Each process writes OUT.json.rank<N>: the stop/eos/length probe, a fixed sequence's log-probs
under vLLM and under the trainer's policy before and after the optimizer step (weights synced by
`training/vllm_sync.py`), what the rollout returned to TRL, and TRL's importance-sampling metrics.
"""

from __future__ import annotations

import argparse
import json
import os

QUESTIONS = [
    "What is the capital of Australia?",
    "Which planet is the largest in the solar system?",
    "Who wrote the play Hamlet?",
    "What is the boiling point of water in Celsius?",
]


class FixedPassages:
    """The search tool: the same passages for every query (what is under test is vLLM)."""

    def search_batch(self, queries: list[str], k: int):
        from retriever_index.base import Hit

        text = "Canberra is the capital city of Australia."
        return [[Hit(f"p{i}", "Canberra", text, 1.0) for i in range(k)] for _ in queries]


def distinct_words(completions, **kwargs) -> list[float]:
    """A reward that differs within a group, so the step moves the policy."""
    return [float(len(set(c.split()))) for c in completions]


def _counted(generate, calls: list[int]):
    def counted(self, prompts, params):
        calls.append(len(prompts))
        return generate(self, prompts, params)

    return counted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--server", help="base URL of a running vLLM server (vllm_mode: server)")
    ap.add_argument("--dtype", default="float32", help="the policy's dtype (model_init_kwargs)")
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer

    from agentic_rag.backends.base import SamplingParams
    from agentic_rag.protocols import make_protocol
    from agentic_rag.recipe import parse_recipe
    from agentic_rag.recipe.sections import ProtocolConfig
    from agentic_rag.training import trl_adapter
    from agentic_rag.training.grpo import make_rollout_func

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    protocol = make_protocol(tokenizer, ProtocolConfig(name="tags"))
    vllm = {"vllm_mode": "colocate", "vllm_max_model_length": 1024}
    if args.server:
        vllm = {"vllm_mode": "server", "vllm_server_base_url": args.server}
    recipe = parse_recipe(
        {
            "output_dir": os.path.dirname(os.path.abspath(args.out)) + "/grpo",
            "use_cpu": True,
            "bf16": False,
            "report_to": "none",
            "save_strategy": "no",
            "logging_steps": 1,
            "max_steps": 1,
            "learning_rate": args.lr,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "temperature": 0.8,  # vLLM's processed log-probs and TRL's loss both divide by it
            "use_vllm": True,
            **vllm,
            # TRL's default: one ratio per sequence; an environment token counted in it, or a
            # misaligned log-prob, would move it far from 1 (and mask the whole trajectory).
            "vllm_importance_sampling_mode": "sequence_mask",
            "dtype": args.dtype,  # the policy's (ModelConfig; TRL loads it so)
            # Short turns: answers are cut at 16 tokens, so the invalid-action message
            # (environment tokens) follows and the model takes another turn.
            "rollout": {"max_turns": 3, "max_turn_tokens": 16, "max_completion_tokens": 96},
        }
    )
    captured: list[dict] = []
    calls: list[int] = []  # rows per generation call of this process
    from agentic_rag.backends import vllm as vllm_backends

    for cls in (vllm_backends.VLLMBackend, vllm_backends.VLLMServerBackend):
        cls.generate = _counted(cls.generate, calls)
    rollout_func = make_rollout_func(FixedPassages(), tokenizer, protocol, recipe.rollout)

    def spy(prompts, trainer):
        out = rollout_func(prompts, trainer)
        captured.append(out)
        return out

    trainer = trl_adapter.build_trainer(
        model=args.model,
        reward_funcs=[distinct_words],
        args=recipe.grpo,
        train_dataset=Dataset.from_list([{"prompt": q} for q in QUESTIONS * 2]),
        processing_class=tokenizer,
        rollout_func=spy,
    )
    generation = trainer.vllm_generation
    policy = trainer.accelerator.unwrap_model(trainer.model)
    rank = trainer.accelerator.process_index
    fixed = protocol.prompt_ids(QUESTIONS[0]) + tokenizer.encode(
        "<search> capital of Australia </search>", add_special_tokens=False
    )

    def policy_logprobs() -> list[float]:
        with torch.no_grad():
            logits = policy(torch.tensor([fixed])).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, -1)
        return logprobs.gather(1, torch.tensor(fixed[1:])[:, None])[:, 0].tolist()

    def vllm_logprobs() -> list[float] | None:
        """The fixed sequence's prompt log-probs under vLLM (main process only in server mode)."""
        if generation.mode == "colocate":
            from vllm import SamplingParams as VLLMSamplingParams

            out = generation.llm.generate(
                [{"prompt_token_ids": fixed}],
                VLLMSamplingParams(max_tokens=1, prompt_logprobs=0),
                use_tqdm=False,
            )[0]
            return [out.prompt_logprobs[i][t].logprob for i, t in enumerate(fixed) if i]
        client = getattr(generation, "vllm_client", None)
        if client is None:
            return None
        body = {"model": client.model, "prompt": fixed, "max_tokens": 1, "prompt_logprobs": 0}
        choice = client.session.post(f"{client.base_url}/v1/completions", json=body).json()
        steps = choice["choices"][0]["prompt_logprobs"]
        return [steps[i][str(t)]["logprob"] for i, t in enumerate(fixed) if i]

    with trl_adapter.trainer_backend(trainer, tokenizer) as backend:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": QUESTIONS[0]}], tokenize=False, add_generation_prompt=True
        )
        chat = tokenizer.encode(text, add_special_tokens=False)
        probes = {}
        for name, params in {
            "stop": SamplingParams(24, temperature=0.0, stop=("Canberra",)),
            "eos": SamplingParams(48, temperature=0.0),
            "length": SamplingParams(3, temperature=0.0),
        }.items():
            (g,) = backend.generate([chat], params)
            probes[name] = {
                "text": tokenizer.decode(g.token_ids),
                "ids": g.token_ids,
                "logprobs": g.logprobs,
                "finish": g.finish_reason,
            }
    generation.sync_weights()  # what TRL calls before a rollout; here: the starting weights
    before = {"vllm": vllm_logprobs(), "policy": policy_logprobs()}
    trainer.train()
    generation.sync_weights()  # what TRL calls before the next rollout
    after = {"vllm": vllm_logprobs(), "policy": policy_logprobs()}

    trajectories = []
    for out in captured:
        for ids, lps, mask in zip(
            out["completion_ids"], out["logprobs"], out["env_mask"], strict=True
        ):
            trajectories.append({"ids": ids, "logprobs": lps, "env_mask": mask})
    logged = {k: v for row in trainer.state.log_history for k, v in row.items()}
    record = {
        "rank": rank,
        "processes": trainer.accelerator.num_processes,
        "sync": type(generation.sync_weights).__name__,
        "vllm_dtype": (
            str(generation.llm.llm_engine.model_config.dtype)
            if generation.mode == "colocate"
            else None
        ),
        "policy_dtype": str(policy.dtype),
        "eos_token_id": tokenizer.eos_token_id,
        "probes": probes,
        "calls": calls,
        "before": before,
        "after": after,
        "trajectories": trajectories,
        "metrics": {k: v for k, v in logged.items() if isinstance(v, (int, float))},
    }
    with open(f"{args.out}.rank{rank}", "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
