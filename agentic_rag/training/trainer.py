"""GRPOTrainer with what multi-turn search training needs and TRL 1.16 lacks, in one subclass.

- Log-probs only where the loss is. TRL's fused LM head scores every position (prompt,
  observations, padding) through the full vocabulary head except on Triton devices; here only
  the policy's own completion tokens are scored, on every device. Values are the same.
- Rows that cannot move the policy cost nothing. With `beta: 0` (and no entropy bonus) a row
  whose advantage is zero at every token has an exactly zero gradient; it is left out of the
  forward and backward passes, and the dapo normaliser counts only the tokens of the rows kept,
  so the loss equals TRL's on a batch of the kept rows.
- Dynamic sampling (DAPO): groups without reward spread are replaced by groups of newly drawn
  questions (`update.dynamic_sampling`).
- Credit for each search (`credit:`): token-level advantages, training/credit.py.
- An auxiliary SFT term on demonstrations (`update.sft_coef`).

Everything here overrides GRPOTrainer's private methods listed in `OVERRIDDEN`;
tests/training/test_trainer.py checks their signatures and fails loudly when TRL moves them.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from trl import GRPOTrainer
from trl.trainer import utils as trl_utils

from agentic_rag.recipe.sections import CreditConfig, UpdateConfig
from agentic_rag.rewards.process import turn_rewards
from agentic_rag.training import rows as R
from agentic_rag.training.credit import process_advantages, token_advantages

OVERRIDDEN = {
    "_generate": ("self", "prompts"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    "_generate_and_score_completions": ("self", "inputs"),
    "_compute_loss": ("self", "model", "inputs"),
    "_get_per_token_logps_and_entropies": (
        "self",
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
        "compute_entropy",
        "compute_aux_loss",
    ),
}
"""GRPOTrainer methods overridden here, with their leading parameters in TRL 1.16."""


@contextmanager
def compact_scoring():
    """TRL's fused head scores only the labelled positions where `_use_triton(device)` says so
    (trl/trainer/utils.py); elsewhere every position. Say so everywhere for the call."""
    original = trl_utils._use_triton
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


class SearchGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` plus the update settings of `update:` and `credit:` and, for the auxiliary
    SFT term, the warm start's demonstration rows (`input_ids`, `completion_mask`)."""

    def __init__(
        self,
        *args,
        update: UpdateConfig | None = None,
        credit: CreditConfig | None = None,
        sft_rows: list[dict] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.update = update or UpdateConfig()
        self.credit = credit or CreditConfig()
        if self.update.sft_coef and not sft_rows:
            raise ValueError(
                "update.sft_coef > 0 needs demonstrations: set warm_start.examples (or use the "
                "offline world, which always warm-starts)"
            )
        if self.update.dynamic_sampling and self.accelerator.num_processes > 1:
            raise ValueError(
                "update.dynamic_sampling runs in one training process only (groups would have "
                "to be refilled across processes); set it to false or train on one process"
            )
        self.sft_rows = list(sft_rows or [])
        self._scored: torch.Tensor | None = None
        self._rewards: torch.Tensor | None = None
        self._draws = torch.Generator().manual_seed(self.args.seed)
        self._sft_order: list[int] = []
        self.batch_records: list[dict] = []
        """This process's rows of the last generation batch, in batch order: question, rollout
        fields, each reward, the advantage and any per-turn process advantages."""

    # -- scoring only where the loss is -------------------------------------------------------

    def _generate(self, prompts):
        out = super()._generate(prompts)
        completion_ids, tool_mask = out[1], out[2]
        width = max(len(ids) for ids in completion_ids)
        self._scored = torch.tensor(
            [
                (list(mask) if tool_mask is not None else [1] * len(ids)) + [0] * (width - len(ids))
                for ids, mask in zip(completion_ids, tool_mask or completion_ids, strict=True)
            ]
        )
        return out

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **extra,
    ):
        if compute_aux_loss or any(v is not None for v in extra.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                compute_aux_loss, **extra,
            )  # fmt: skip
        scored = attention_mask[:, -logits_to_keep:].bool()
        if self._scored is not None and self._scored.size(0) == input_ids.size(0):
            mask = self._scored.to(scored.device).bool()
            mask = R._pad(mask, logits_to_keep, False, left=False)[:, :logits_to_keep]
            scored = scored & mask
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids = input_ids[start : start + batch_size]
            labels = torch.full_like(ids, -100)
            keep = scored[start : start + batch_size]
            labels[:, -logits_to_keep:] = ids[:, -logits_to_keep:].masked_fill(~keep, -100)
            with self.accelerator.autocast(), compact_scoring():
                out = model(
                    input_ids=ids,
                    attention_mask=attention_mask[start : start + batch_size],
                    labels=labels,
                    fused_lm_head=True,
                )
            logps.append(out.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(out.entropy[:, -logits_to_keep:])
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None

    # -- the generation batch -----------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        batch = self._score(inputs)
        if self.update.dynamic_sampling and self.model.training:
            batch = self._refill(batch)
        self.batch_records = batch.pop("_records")
        if self._can_skip_rows(batch):
            adv = batch["advantages"]
            live = adv.ne(0) if adv.dim() == 1 else adv.ne(0).any(dim=1)
            batch["live"] = live
            kept = (R.loss_mask(batch) * live.unsqueeze(1)).sum()
            batch["num_items_in_batch"] = self.accelerator.gather(kept).sum()
            self._metrics["train"]["update/live_row_share"].append(live.float().mean().item())
        return batch

    def _score(self, inputs: list[dict]) -> dict:
        """TRL's scoring of one batch of inputs, with token-level advantages when `credit:` is
        on; remembers each row for `batch_records`."""
        try:
            batch = super()._generate_and_score_completions(inputs)
        finally:
            self._scored = None
        records = self._records(inputs)
        for record, adv in zip(records, batch["advantages"].tolist(), strict=True):
            record["advantage"] = adv  # the outcome advantage (TRL's)
        if self.credit.enabled:
            batch["advantages"], process = self._credit(inputs, batch)
            for record, values in zip(records, process, strict=True):
                record["turn_advantages"] = values
        batch["_records"] = records
        return batch

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards = rewards  # every process's rows, in process order
        return rewards

    def _records(self, inputs: list[dict]) -> list[dict]:
        n = len(inputs)
        table = self._rewards.detach().cpu().tolist()
        rewards = {name: [row[k] for row in table] for k, name in enumerate(self.reward_func_names)}
        offset = self.accelerator.process_index * n
        keep = ("turns", "final_answer", "finish_reason", "num_searches", "answers",
                "supporting_ids", "supporting_titles")  # fmt: skip
        return [
            {
                "question": str(x.get("prompt")),
                **{k: x.get(k) for k in keep},
                "rewards": {name: _number(v[offset + i]) for name, v in rewards.items()},
            }
            for i, x in enumerate(inputs)
        ]

    def _credit(self, inputs: list[dict], batch: dict) -> tuple[torch.Tensor, list[list[float]]]:
        """Token-level advantages (outcome + per-turn process) for this process's rows."""
        from accelerate.utils import gather_object

        specs = [(s.name, s.weight, dict(s.args)) for s in self.credit.turn_rewards]
        columns = {
            key: [x.get(key) for x in inputs]
            for key in ("answers", "supporting_ids", "supporting_titles")
        }
        scores = turn_rewards(specs, [x.get("turn_hits") for x in inputs], **columns)
        local = batch["advantages"]
        everyone = self.accelerator.gather(local)
        all_scores = gather_object(scores)
        process = process_advantages(everyone, all_scores, self.num_generations, self.credit.scale)
        start = self.accelerator.process_index * len(inputs)
        process = process[start : start + len(inputs)]
        spans = [[tuple(s) for s in x.get("turn_spans") or ()] for x in inputs]
        width = batch["completion_ids"].size(1)
        mode = "train" if self.model.training else "eval"
        flat = [v for row in process for v in row if v]
        self._metrics[mode]["credit/process_advantage_abs"].append(
            sum(map(abs, flat)) / len(flat) if flat else 0.0
        )
        return token_advantages(local, process, spans, width), process

    def _refill(self, batch: dict) -> dict:
        """Dynamic sampling: keep the groups with spread, replace the others with groups of new
        questions (up to `max_sampling_rounds` extra rollouts), fill any rest with no-spread
        groups; the batch keeps its size."""
        g = self.num_generations
        groups = batch["advantages"].size(0) // g
        spread = R.group_spread(batch["advantages"], g)
        kept = _groups(batch, spread.nonzero().flatten(), g)
        flat = _groups(batch, (~spread).nonzero().flatten(), g)
        sampled, rounds = groups, 0
        while len(kept) < groups and rounds < self.update.max_sampling_rounds:
            want = math.ceil((groups - len(kept)) * self.update.oversample)
            more = self._score(self._draw(want))
            spread = R.group_spread(more["advantages"], g)
            kept += _groups(more, spread.nonzero().flatten(), g)
            flat += _groups(more, (~spread).nonzero().flatten(), g)
            sampled, rounds = sampled + want, rounds + 1
        chosen = (kept + flat)[:groups]
        merged = R.concat_rows([part for part, _ in chosen], self._tokenizer.pad_token_id)
        merged["_records"] = [r for _, records in chosen for r in records]
        merged["num_items_in_batch"] = R.loss_mask(merged).sum()
        self._metrics["train"]["update/spread_group_share"].append(len(kept) / sampled)
        self._metrics["train"]["update/questions_drawn"].append(float(sampled))
        return merged

    def _draw(self, questions: int) -> list[dict]:
        """`questions` random training rows, each repeated num_generations times (as TRL's
        sampler gives them)."""
        data = self.train_dataset
        picks = torch.randint(len(data), (questions,), generator=self._draws).tolist()
        return [dict(data[i]) for i in picks for _ in range(self.num_generations)]

    def _can_skip_rows(self, batch: dict) -> bool:
        return (
            self.model.training
            and self.beta == 0.0
            and not self._entropy_bonus_enabled
            and R.supports({k: v for k, v in batch.items() if not k.startswith("_")})
        )

    # -- the loss -----------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        inputs = dict(inputs)  # TRL reuses the buffered batch with num_iterations > 1
        live = inputs.pop("live", None)
        if live is not None and not bool(live.all()):
            rows = live.nonzero().flatten()
            if rows.numel() == 0:  # keep one row, advantage zeroed: loss 0, graph intact
                rows = R.loss_mask(inputs).sum(dim=1).argmin().view(1)
                inputs = {**inputs, "advantages": torch.zeros_like(inputs["advantages"])}
            inputs = R.take_rows(inputs, rows)
        self._scored = R.loss_mask(inputs)
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self._scored = None
        if self.update.sft_coef and self.model.training:
            loss = loss + self.update.sft_coef * self._sft_loss(model)
        return loss

    def _sft_loss(self, model) -> torch.Tensor:
        """Mean token NLL (temperature 1) of the next `sft_batch_size` demonstrations, scaled for
        gradient accumulation like the GRPO term."""
        rows = [self.sft_rows[self._next_demo()] for _ in range(self.update.sft_batch_size)]
        width = max(len(r["input_ids"]) for r in rows)
        pad = self._tokenizer.pad_token_id
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in rows])
        attention = torch.tensor(
            [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        )
        target = torch.tensor(
            [list(r["completion_mask"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        )
        device = self.accelerator.device
        labels = ids.masked_fill(target == 0, -100).to(device)
        with self.accelerator.autocast():
            out = model(
                input_ids=ids.to(device), attention_mask=attention.to(device), labels=labels
            )
        self._metrics["train"]["update/sft_nll"].append(out.loss.item())
        return out.loss / self.current_gradient_accumulation_steps

    def _next_demo(self) -> int:
        if not self._sft_order:
            self._sft_order = torch.randperm(len(self.sft_rows), generator=self._draws).tolist()
        return self._sft_order.pop()


def _groups(batch: dict, indices: torch.Tensor, g: int) -> list[tuple[dict, list[dict]]]:
    """Whole groups of a scored batch, each as (its rows, their records)."""
    out = []
    records = batch["_records"]
    tensors = {k: v for k, v in batch.items() if not k.startswith("_")}
    for group in indices.tolist():
        rows = torch.arange(group * g, (group + 1) * g)
        out.append((R.take_rows(tensors, rows), records[group * g : (group + 1) * g]))
    return out


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
