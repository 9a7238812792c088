"""GRPO training on TRL: the dataset, reward functions, `rollout_func` and trainer (`grpo.py`),
the one adapter over TRL's private attributes, the SFT warm start, trajectory samples and curves."""
