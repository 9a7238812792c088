"""Token-level advantages (training/credit.py): where process credit lands, how it is
normalised, and that the outcome always dominates."""

from __future__ import annotations

import random

import pytest
import torch

from agentic_rag.training.credit import process_advantages, token_advantages


def test_process_advantage_lands_on_exactly_its_turns_tokens():
    outcome = torch.tensor([0.5, -0.5])
    adv = token_advantages(
        outcome, [[0.2, -0.1, 0.0], [0.3]], [[(0, 3), (7, 9), (12, 14)], [(1, 4)]], 16
    )
    expected = outcome.unsqueeze(1).repeat(1, 16)
    expected[0, 0:3] += 0.2
    expected[0, 7:9] -= 0.1
    expected[1, 1:4] += 0.3
    assert torch.equal(adv, expected)


def test_process_rewards_are_normalised_over_the_groups_search_turns():
    # one group of 2, outcomes tie (no outcome advantage): process is the only signal, full scale
    scores = [[1.0, 0.0, None], [0.0]]
    out = process_advantages(torch.zeros(2), scores, num_generations=2, scale=0.5)
    values = [1.0, 0.0, 0.0]
    mean, std = sum(values) / 3, torch.tensor(values).std().item()
    assert out[0][0] == pytest.approx(0.5 * (1 - mean) / (std + 1e-4))
    assert out[0][2] == 0.0  # not a search turn
    assert out[1][0] == pytest.approx(0.5 * (0 - mean) / (std + 1e-4))
    # no spread among the turns, or fewer than two: nothing
    assert process_advantages(torch.zeros(2), [[1.0], [1.0]], 2, 0.5) == [[0.0], [0.0]]
    assert process_advantages(torch.zeros(2), [[1.0], []], 2, 0.5) == [[0.0], []]
    with pytest.raises(ValueError, match="groups of 2"):
        process_advantages(torch.zeros(3), [[], [], []], 2, 0.5)


def test_a_wrong_answer_never_outscores_a_right_one_whatever_its_searches():
    rng = random.Random(0)
    for _ in range(300):
        g = rng.choice([2, 4, 8])
        rewards = torch.tensor([rng.choice([0.0, 0.0, 0.5, 1.0, 1.1]) for _ in range(g)])
        std = rewards.std()
        outcome = (rewards - rewards.mean()) / (std + 1e-4) if g > 1 else rewards * 0
        scores = [[rng.uniform(-1, 3) for _ in range(rng.randint(0, 4))] for _ in range(g)]
        spans = [[(3 * k, 3 * k + 2) for k in range(len(s))] for s in scores]
        process = process_advantages(outcome, scores, g, scale=rng.choice([0.1, 1.0, 10.0]))
        adv = token_advantages(outcome, process, spans, 16)
        for i in range(g):
            for j in range(g):
                if rewards[i] > rewards[j]:
                    assert adv[i].min() >= adv[j].max() - 1e-6, (rewards, process)
