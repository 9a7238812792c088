"""Rewards must never be a visible share of a training step: scorings per second, and their cost
per step, for 10,000 (prediction, answers) pairs and 10,000 completions.

Scorers run side by side with a baseline written the plain way the official SQuAD script does
(nested helpers, a set lookup per character); the ratio is our speed-up. Reward functions run on
realistic completions (2 searches x 3 passages of ~100 words, the rollout's defaults) in both
protocols and completion shapes, G=8 per question drawing their passages from a pool of 12, as
the completions of one GRPO group search for the same thing. Synthetic, seeded data: it runs
anywhere in about a minute.

Run: .venv/bin/python bench/rewards.py
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections import Counter

from agentic_rag.rewards import (
    answer_in_retrieval_reward,
    exact_match_reward,
    exact_match_score,
    f1_reward,
    f1_score,
    make_format_reward,
    make_search_budget_reward,
    normalize_answer,
    retrieval_recall_reward,
    search_r1_format_reward,
    sub_exact_match_reward,
    sub_exact_match_score,
)

N = 10_000
G = 8  # completions per question (GRPO group)
POOL = 12  # distinct passages the G completions of one question retrieve, 6 each
# Assumed training steps (stated, since "visible share" depends on them). TRL scores each
# process's own completions, so the cost that counts is completions per process.
STEPS = {
    # Search-R1 scale: 512 prompts x 5 generations on 8 GPUs (320 completions per process); a
    # step of a 3B-7B policy with multi-turn rollouts takes a minute or more: 60 s lower bound.
    "Search-R1 GRPO step (320 completions/GPU, >= 60 s)": (320, 60.0),
    # One GPU: 32 prompts x G=8 with multi-turn rollouts, assumed >= 20 s.
    "single-GPU GRPO step (256 completions, >= 20 s)": (256, 20.0),
    # The tiny 2-layer model at 4 prompts x G=4 on a CPU, assumed ~0.5 s: a lower bound (whole
    # steps of the default recipe: docs/performance.md).
    "CPU tiny-model step (16 completions, ~0.5 s)": (16, 0.5),
}

WORDS = [
    "paris",
    "london",
    "river",
    "king",
    "queen",
    "war",
    "battle",
    "church",
    "island",
    "house",
    "city",
    "mountain",
    "valley",
    "lake",
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "first",
    "second",
    "john",
    "mary",
    "united",
    "states",
    "1990",
    "1,000",
    "3.14",
    "yes",
    "no",
    "café",
    "zürich",
    "são",
    "paulo",
    "new",
    "york",
    "north",
    "south",
    "east",
    "west",
    "tower",
    "bridge",
    "road",
    "station",
    "music",
    "band",
]


def _phrase(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def make_pairs(rng: random.Random) -> list[tuple[str, list[str]]]:
    """Gold aliases like NQ/HotpotQA (1-3 aliases of 1-4 words), G completions per question, with
    predictions that are exact, re-cased/punctuated, verbose, lists, or wrong."""
    pairs = []
    for _ in range(N // G):
        golds = [_phrase(rng, 1, 4).title() for _ in range(rng.randint(1, 3))]
        for _ in range(G):
            gold = rng.choice(golds)
            prediction = rng.choice(
                [
                    gold,
                    f"The {gold.upper()}.",
                    f"it is {gold} of course",
                    f"{_phrase(rng, 1, 3)}, {gold}, {_phrase(rng, 1, 2)}",
                    _phrase(rng, 1, 5),
                ]
            )
            pairs.append((prediction, golds))
    return pairs


def qwen_text(messages: list[dict]) -> str:
    """The decoded Qwen2.5-template text of a tools conversation (special tokens kept)."""
    parts = []
    for m in messages:
        if m.get("tool_calls"):
            call = json.dumps(m["tool_calls"][0]["function"])
            parts.append(f"<tool_call>\n{call}\n</tool_call><|im_end|>\n")
        elif m["role"] == "tool":
            parts.append(
                f"<|im_start|>user\n<tool_response>\n{m['content']}\n</tool_response><|im_end|>\n"
                "<|im_start|>assistant\n"
            )
        else:
            parts.append(m["content"])
    return "".join(parts)


def make_columns(rng: random.Random, pairs: list[tuple[str, list[str]]]) -> tuple[list, dict]:
    """Completions (tags text, tools messages, tools text in equal shares) and the rollout's
    columns for them."""
    completions, texts, titles = [], [], []
    for i, (prediction, _) in enumerate(pairs):
        if i % G == 0:  # a new question: its G completions search among the same passages
            pool = [(_phrase(rng, 1, 3), _phrase(rng, 90, 110)) for _ in range(POOL)]
        chosen = rng.sample(pool, 6)
        titles.append([title for title, _ in chosen])
        passages = [text for _, text in chosen]
        texts.append(passages)
        shown = ["\n".join(passages[:3]), "\n".join(passages[3:])]
        if i % 3 == 0:
            turns = "".join(
                f"<think>{_phrase(rng, 10, 30)}</think>\n<search>{_phrase(rng, 2, 6)}</search>\n\n"
                f"<information>{obs}</information>\n\n"
                for obs in shown
            )
            completions.append(
                f"{turns}<think>{_phrase(rng, 10, 30)}</think>\n<answer>{prediction}</answer>"
            )
        else:
            messages = []
            for obs in shown:
                call = {"name": "search", "arguments": {"query": _phrase(rng, 2, 6)}}
                messages.append(
                    {"role": "assistant", "content": "", "tool_calls": [{"function": call}]}
                )
                messages.append({"role": "tool", "name": "search", "content": obs})
            messages.append({"role": "assistant", "content": f"<answer>{prediction}</answer>"})
            completions.append(messages if i % 3 == 1 else qwen_text(messages))
    columns = {
        "answers": [golds for _, golds in pairs],
        "prompts": ["Answer the question. For example, <answer> Beijing </answer>. Question: q"]
        * N,
        "retrieved_texts": texts,
        "retrieved_titles": titles,
        "supporting_titles": [t[:2] for t in titles],
        "num_searches": [2] * N,
    }
    return completions, columns


# ---- baseline: the official script's plain style ------------------------------------------
def baseline_normalize(s: str) -> str:
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def baseline_em(prediction: str, golds: list[str]) -> float:
    return float(max(baseline_normalize(prediction) == baseline_normalize(g) for g in golds))


def baseline_sub_em(prediction: str, golds: list[str]) -> float:
    return float(any(baseline_normalize(g) in baseline_normalize(prediction) for g in golds))


def baseline_f1(prediction: str, golds: list[str]) -> float:
    def one(gold: str) -> float:
        p, g = baseline_normalize(prediction).split(), baseline_normalize(gold).split()
        same = sum((Counter(p) & Counter(g)).values())
        if same == 0:
            return 0.0
        precision, recall = same / len(p), same / len(g)
        return 2 * precision * recall / (precision + recall)

    return max(one(g) for g in golds)


def timed(fn, repeat: int = 3) -> float:
    """Best of `repeat` wall times (the machine is shared; the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = random.Random(0)
    pairs = make_pairs(rng)
    completions, columns = make_columns(rng, pairs)
    strings = [p for p, _ in pairs] + [g for _, gs in pairs for g in gs]

    print(f"scorers on {N:,} (prediction, answers) pairs: ours vs the official script's style")
    print(f"{'scorer':<24}{'ours/10k':>11}{'baseline/10k':>14}{'pairs/s':>12}{'speed-up':>10}")
    scorer_rows = [
        ("normalize_answer", lambda: [normalize_answer(s) for s in strings[:N]],
         lambda: [baseline_normalize(s) for s in strings[:N]]),
        ("exact_match_score", lambda: [exact_match_score(p, g) for p, g in pairs],
         lambda: [baseline_em(p, g) for p, g in pairs]),
        ("sub_exact_match_score", lambda: [sub_exact_match_score(p, g) for p, g in pairs],
         lambda: [baseline_sub_em(p, g) for p, g in pairs]),
        ("f1_score", lambda: [f1_score(p, g) for p, g in pairs],
         lambda: [baseline_f1(p, g) for p, g in pairs]),
    ]  # fmt: skip
    for name, ours, baseline in scorer_rows:
        t_ours, t_base = timed(ours), timed(baseline)
        print(
            f"{name:<24}{t_ours * 1e3:>9.1f}ms{t_base * 1e3:>12.1f}ms{N / t_ours:>12,.0f}{t_base / t_ours:>9.2f}x"
        )

    print(f"\nreward functions on {N:,} completions (tags text / tools messages / tools text)")
    rewards = [
        exact_match_reward,
        sub_exact_match_reward,
        f1_reward,
        make_format_reward("tags"),
        make_format_reward("tools"),
        search_r1_format_reward,
        make_search_budget_reward(max_searches=1),
        retrieval_recall_reward,
        answer_in_retrieval_reward,
    ]
    per_completion = {}
    print(f"{'reward':<28}{'per 10k':>10}{'completions/s':>16}")
    for fn in rewards:
        kwargs = dict(columns)
        if fn.__name__ == "search_budget_reward":
            kwargs.pop("num_searches")  # count from the text: the slower path
        seconds = timed(lambda fn=fn, kwargs=kwargs: fn(completions, **kwargs), repeat=2)
        per_completion[fn.__name__] = seconds / N
        print(f"{fn.__name__:<28}{seconds * 1e3:>8.0f}ms{N / seconds:>16,.0f}")

    recipes = {
        "typical recipe (exact_match + format)": ["exact_match_reward", "format_reward_tags"],
        f"all {len(rewards)} rewards above": list(per_completion),
    }
    print("\nshare of a training step (every completion of the step scored):")
    for recipe, names in recipes.items():
        seconds = sum(per_completion[name] for name in names)
        print(f"  {recipe}: {seconds * N * 1e3:.0f} ms per 10k completions")
        for step, (completions_per_step, step_seconds) in STEPS.items():
            cost = seconds * completions_per_step
            print(f"    {step:<52}{cost * 1e3:>8.1f} ms = {cost / step_seconds:.2%}")


if __name__ == "__main__":
    main()
