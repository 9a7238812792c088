"""SearchGRPOTrainer (training/trainer.py) against TRL's own GRPOTrainer on the same inputs:
log-probs scored only at loss positions, rows that cannot move the policy skipped, token-level
advantages, the auxiliary SFT term; and the TRL internals it overrides."""

from __future__ import annotations

import inspect

import pytest
import torch

from agentic_rag.recipe.sections import CreditConfig, UpdateConfig
from agentic_rag.training import rows as R
from agentic_rag.training.trainer import OVERRIDDEN, SearchGRPOTrainer


def test_trl_methods_this_trainer_overrides_are_where_it_expects():
    from trl import GRPOTrainer
    from trl.trainer import utils

    for name, leading in OVERRIDDEN.items():
        params = list(inspect.signature(getattr(GRPOTrainer, name)).parameters)
        assert tuple(params[: len(leading)]) == leading, f"GRPOTrainer.{name} changed: {params}"
    assert callable(utils._use_triton), "trl.trainer.utils._use_triton is gone"
    assert "compact = _use_triton(" in inspect.getsource(utils.add_fused_lm_head)
    source = inspect.getsource(GRPOTrainer._compute_loss)
    assert "if advantages.dim() == 1:" in source, "TRL no longer accepts (B, T) advantages"
    assert "self._entropy_bonus_enabled" in source


def make_trainer(tiny_world, tmp_path, beta=0.0, update=None, credit=None, sft_rows=None, **args):
    from datasets import Dataset

    from agentic_rag.recipe import parse_recipe

    recipe = parse_recipe(
        {
            "output_dir": str(tmp_path),
            "use_cpu": True,
            "bf16": False,
            "report_to": "none",
            "max_steps": 1,
            "per_device_train_batch_size": 4,
            "num_generations": 2,
            "beta": beta,
            "loss_type": "dapo",
            "seed": 0,
            **args,
        }
    )
    trainer = SearchGRPOTrainer(
        model=str(tiny_world.model),
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=recipe.grpo,
        train_dataset=Dataset.from_list([{"prompt": f"q{i}"} for i in range(8)]),
        rollout_func=lambda prompts, trainer: None,
        update=update,
        credit=credit,
        sft_rows=sft_rows,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop otherwise
    trainer.model.train()
    return trainer


def scored_batch(vocab: int, pad: int, seed: int = 0) -> dict:
    """Four rows as TRL scores them: left-padded prompts, right-padded completions with
    observation tokens (tool_mask 0) between model turns."""
    g = torch.Generator().manual_seed(seed)
    prompts = [5, 7, 3, 6]
    completions = [9, 14, 4, 11]
    P, T = max(prompts), max(completions)
    batch = {
        "prompt_ids": torch.full((4, P), pad),
        "prompt_mask": torch.zeros(4, P, dtype=torch.long),
        "completion_ids": torch.full((4, T), pad),
        "completion_mask": torch.zeros(4, T, dtype=torch.long),
        "tool_mask": torch.ones(4, T, dtype=torch.long),
    }
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        batch["prompt_ids"][i, P - p :] = torch.randint(3, vocab, (p,), generator=g)
        batch["prompt_mask"][i, P - p :] = 1
        batch["completion_ids"][i, :c] = torch.randint(3, vocab, (c,), generator=g)
        batch["completion_mask"][i, :c] = 1
        batch["tool_mask"][i, 2 : min(c, 6)] = 0  # an observation after two model tokens
    batch["advantages"] = torch.tensor([0.8, 0.0, -0.6, 0.0])
    batch["num_items_in_batch"] = R.loss_mask(batch).sum()
    return batch


def grads(model) -> dict[str, torch.Tensor]:
    out = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


def assert_same_grads(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=name)


def test_logps_at_loss_positions_equal_trls(tiny_world, tmp_path):
    from trl import GRPOTrainer

    trainer = make_trainer(tiny_world, tmp_path)
    model = trainer.model
    batch = scored_batch(model.config.vocab_size, trainer._tokenizer.pad_token_id)
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].size(1)
    mask = R.loss_mask(batch).bool()

    theirs, their_entropy, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        trainer, model, ids, attention, width, compute_entropy=True
    )
    theirs[mask].sum().backward()
    their_grads = grads(model)
    trainer._scored = R.loss_mask(batch)
    ours, our_entropy, _ = trainer._get_per_token_logps_and_entropies(
        model, ids, attention, width, compute_entropy=True
    )
    ours[mask].sum().backward()
    trainer._scored = None
    torch.testing.assert_close(ours[mask], theirs[mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(our_entropy[mask], their_entropy[mask], atol=1e-5, rtol=0)
    assert ours[~mask].abs().max() == 0  # prompt, observation and pad positions: not scored
    assert_same_grads(grads(model), their_grads, atol=1e-5)


def test_rows_without_gradient_are_skipped_and_the_loss_is_trls_on_the_kept_rows(
    tiny_world, tmp_path
):
    from trl import GRPOTrainer

    trainer = make_trainer(tiny_world, tmp_path, beta=0.0)
    model = trainer.model
    batch = scored_batch(model.config.vocab_size, trainer._tokenizer.pad_token_id)
    live = batch["advantages"].ne(0)
    ours = {**batch, "live": live}
    ours["num_items_in_batch"] = (R.loss_mask(batch) * live.unsqueeze(1)).sum()
    kept = R.take_rows(batch, live.nonzero().flatten())
    kept["num_items_in_batch"] = R.loss_mask(kept).sum()

    theirs = GRPOTrainer._compute_loss(trainer, model, kept)
    theirs.backward()
    their_grads = grads(model)
    loss = trainer._compute_loss(model, ours)
    loss.backward()
    torch.testing.assert_close(loss, theirs, atol=1e-6, rtol=0)
    assert_same_grads(grads(model), their_grads, atol=1e-6)
    assert kept["completion_ids"].size(1) == 9  # padding no kept row uses was dropped

    # the rows skipped carry exactly no gradient: TRL on the whole batch moves the same way
    whole = GRPOTrainer._compute_loss(
        trainer, model, {**batch, "num_items_in_batch": ours["num_items_in_batch"]}
    )
    whole.backward()
    assert_same_grads(grads(model), their_grads, atol=1e-6)


def test_a_batch_with_no_live_row_trains_nothing(tiny_world, tmp_path):
    trainer = make_trainer(tiny_world, tmp_path, beta=0.0)
    batch = scored_batch(trainer.model.config.vocab_size, trainer._tokenizer.pad_token_id)
    batch["advantages"] = torch.zeros(4)
    batch["live"] = torch.zeros(4, dtype=torch.bool)
    loss = trainer._compute_loss(trainer.model, batch)
    loss.backward()
    assert loss.item() == 0.0
    assert all(g.abs().max() == 0 for g in grads(trainer.model).values())


def test_with_credit_off_loss_and_gradients_equal_trls(tiny_world, tmp_path):
    from trl import GRPOTrainer

    trainer = make_trainer(tiny_world, tmp_path, beta=0.05)
    model = trainer.model
    batch = scored_batch(model.config.vocab_size, trainer._tokenizer.pad_token_id)
    batch["ref_per_token_logps"] = -torch.rand(batch["completion_ids"].shape) * 3
    theirs = GRPOTrainer._compute_loss(trainer, model, dict(batch))
    theirs.backward()
    their_grads = grads(model)
    ours = trainer._compute_loss(model, dict(batch))
    ours.backward()
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert_same_grads(grads(model), their_grads, atol=1e-6)


def test_token_level_advantages_train_each_turn_with_its_own_credit(tiny_world, tmp_path):
    """A (B, T) advantage that differs only on one turn's tokens moves the loss exactly as
    the per-token sum says: TRL's loss takes it token by token."""
    from trl import GRPOTrainer

    trainer = make_trainer(tiny_world, tmp_path, beta=0.0)
    model = trainer.model
    batch = scored_batch(model.config.vocab_size, trainer._tokenizer.pad_token_id)
    width = batch["completion_ids"].size(1)
    token = batch["advantages"].unsqueeze(1).repeat(1, width)
    token[0, 6:9] += 0.3  # row 0's second turn
    loss = trainer._compute_loss(model, {**batch, "advantages": token})
    flat = GRPOTrainer._compute_loss(trainer, model, dict(batch))
    # with ratio 1 the dapo loss is -sum(A * mask) / N
    mask = R.loss_mask(batch)
    extra = -(0.3 * mask[0, 6:9]).sum() / batch["num_items_in_batch"]
    torch.testing.assert_close(loss - flat, extra, atol=1e-6, rtol=0)


def test_auxiliary_sft_gradient_with_zero_advantages_is_a_plain_sft_step(tiny_world, tmp_path):
    trainer0 = make_trainer(tiny_world, tmp_path / "a", beta=0.0)
    tok = trainer0._tokenizer
    rows = []
    for text, answer in (
        ("Question: a b\n", "<answer> c </answer>"),
        ("Question: d\n", "<answer> e f </answer>"),
    ):
        prompt = tok(text, add_special_tokens=False)["input_ids"]
        completion = tok(answer, add_special_tokens=False)["input_ids"]
        rows.append(
            {
                "input_ids": prompt + completion,
                "completion_mask": [0] * len(prompt) + [1] * len(completion),
            }
        )
    trainer = make_trainer(
        tiny_world,
        tmp_path / "b",
        beta=0.0,
        update=UpdateConfig(sft_coef=0.7, sft_batch_size=2),
        sft_rows=rows,
    )
    model = trainer.model
    batch = scored_batch(model.config.vocab_size, tok.pad_token_id)
    batch["advantages"] = torch.zeros(4)
    trainer._compute_loss(model, batch).backward()
    ours = grads(model)

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.tensor(
        [r["input_ids"] + [tok.pad_token_id] * (width - len(r["input_ids"])) for r in rows]
    )
    attention = torch.tensor(
        [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
    )
    target = torch.tensor(
        [r["completion_mask"] + [0] * (width - len(r["input_ids"])) for r in rows]
    )
    (
        0.7
        * model(
            input_ids=ids, attention_mask=attention, labels=ids.masked_fill(target == 0, -100)
        ).loss
    ).backward()
    assert_same_grads(ours, grads(model), atol=1e-6)


def test_credit_config_reads_turn_rewards_from_a_recipe():
    from agentic_rag.recipe import parse_recipe

    recipe = parse_recipe(
        {
            "credit": {
                "scale": 0.5,
                "turn_rewards": [
                    {"name": "information_gain"},
                    {"name": "search_cost", "weight": 1.0, "args": {"cost": 0.2}},
                ],
            }
        }
    )
    assert recipe.credit.enabled
    assert [s.name for s in recipe.credit.turn_rewards] == ["information_gain", "search_cost"]
    with pytest.raises(ValueError, match="credit"):
        parse_recipe({"credit": {"turn_rewards": [{"nam": "x"}]}})
    assert not parse_recipe({}).credit.enabled
    assert CreditConfig().turn_rewards == ()
