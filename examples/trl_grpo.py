"""Your own TRL GRPO script with agentic-rag's multi-turn search rollouts and rewards.

python examples/trl_grpo.py MODEL INDEX_DIR_OR_URL QUESTIONS [GRPOConfig key=value ...]
"""

import sys

import yaml
from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig

from agentic_rag import RolloutConfig, build_trainer, make_rollout_func
from agentic_rag.data.qa import load_qa
from agentic_rag.rewards import exact_match_reward, format_reward

model, search, questions, *overrides = sys.argv[1:]
rollout = RolloutConfig(max_turns=4, max_turn_tokens=256, max_completion_tokens=1024, topk=3)
tokenizer = AutoTokenizer.from_pretrained(model)
rows = [{"prompt": q.question, "answers": q.answers} for q in load_qa(questions)]
settings = {
    "output_dir": "outputs/trl_grpo",
    "num_generations": 4,
    "per_device_train_batch_size": 8,
    "beta": 0.001,
    "reward_weights": [1.0, 0.1],
    "max_completion_length": rollout.max_completion_tokens,  # TRL pads completions to this
}
settings |= {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in overrides)}
args = GRPOConfig(**settings)
trainer = build_trainer(
    model=model,
    args=args,
    train_dataset=Dataset.from_list(rows),
    processing_class=tokenizer,
    reward_funcs=[exact_match_reward, format_reward],
    rollout_func=make_rollout_func(search, tokenizer, protocol="tags", rollout=rollout),
)
trainer.train()
