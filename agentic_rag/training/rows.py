"""Row operations on the batches GRPOTrainer scores and trains on: keep some rows, join
batches, drop padding columns no kept row needs.

A scored batch is TRL's dict of tensors: prompt-side tensors left-padded to the longest prompt,
completion-side tensors right-padded to the longest completion, per-row vectors, and the scalar
`num_items_in_batch`. Keys this module does not know (multimodal inputs) are refused rather than
guessed at: `supports` says whether a batch can be handled.
"""

from __future__ import annotations

import torch

PROMPT_KEYS = ("prompt_ids", "prompt_mask")
"""(B, P), left-padded."""
COMPLETION_KEYS = (
    "completion_ids",
    "completion_mask",
    "tool_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
)
"""(B, T), right-padded."""
ROW_KEYS = ("advantages", "importance_sampling_ratio", "live")
"""(B,), (B, 1) or, for token-level advantages and importance ratios, (B, T)."""
SCALAR_KEYS = ("num_items_in_batch",)


def supports(batch: dict) -> bool:
    """Only text batches with the keys above (no images, no token type ids)."""
    known = {*PROMPT_KEYS, *COMPLETION_KEYS, *ROW_KEYS, *SCALAR_KEYS}
    return set(batch) <= known


def _completion_width(batch: dict) -> int:
    return batch["completion_ids"].size(1)


def _is_token_level(batch: dict, key: str) -> bool:
    value = batch[key]
    return value.dim() == 2 and value.size(1) == _completion_width(batch) and value.size(1) > 1


def take_rows(batch: dict, rows: torch.Tensor) -> dict:
    """The batch restricted to `rows` (indices), with padding columns that no kept row uses
    removed, as TRL would have padded a batch of only those rows."""
    out = {}
    for key, value in batch.items():
        per_row = isinstance(value, torch.Tensor) and value.dim() > 0 and key not in SCALAR_KEYS
        out[key] = value[rows] if per_row else value
    return trim(out)


def trim(batch: dict) -> dict:
    """Drops leading prompt columns and trailing completion columns that are padding in every
    row (attention never sees them and no loss is computed there)."""
    prompt_used = batch["prompt_mask"].bool().any(dim=0)
    first = int(prompt_used.nonzero()[0]) if prompt_used.any() else batch["prompt_mask"].size(1)
    completion_used = batch["completion_mask"].bool().any(dim=0)
    last = int(completion_used.nonzero()[-1]) + 1 if completion_used.any() else 1
    width = _completion_width(batch)
    out = dict(batch)
    for key in PROMPT_KEYS:
        out[key] = batch[key][:, first:]
    for key in (*COMPLETION_KEYS, *ROW_KEYS):
        value = batch.get(key)
        if value is None:
            continue
        if key in COMPLETION_KEYS or _is_token_level(batch, key):
            out[key] = value[:, :last] if value.size(1) == width else value
    return out


def concat_rows(parts: list[dict], pad_token_id: int) -> dict:
    """Several scored batches as one (rows in order), re-padded to the longest prompt (left) and
    completion (right); `num_items_in_batch` is summed (recompute it for the rows you keep)."""
    if len(parts) == 1:
        return dict(parts[0])
    prompt_width = max(p["prompt_ids"].size(1) for p in parts)
    width = max(_completion_width(p) for p in parts)
    token_level = {k for p in parts for k in ROW_KEYS if k in p and _is_token_level(p, k)}
    out: dict = {}
    keys = [k for k in parts[0] if parts[0][k] is not None]
    for key in keys:
        values = [p[key] for p in parts]
        if key in SCALAR_KEYS:
            out[key] = sum(values[1:], values[0])
        elif key in PROMPT_KEYS:
            fill = pad_token_id if key == "prompt_ids" else 0
            out[key] = torch.cat([_pad(v, prompt_width, fill, left=True) for v in values])
        elif key in COMPLETION_KEYS or key in token_level:
            fill = pad_token_id if key == "completion_ids" else 0
            out[key] = torch.cat(
                [
                    _pad(_token_level(v, p), width, fill, left=False)
                    for v, p in zip(values, parts, strict=True)
                ]
            )
        else:
            out[key] = torch.cat(values)
    return out


def _token_level(value: torch.Tensor, part: dict) -> torch.Tensor:
    """A per-row value spread over the row's completion columns (joining token-level rows)."""
    if value.dim() == 1:
        return value.unsqueeze(1).expand(-1, _completion_width(part))
    if value.size(1) == 1:
        return value.expand(-1, _completion_width(part))
    return value


def _pad(value: torch.Tensor, width: int, fill, left: bool) -> torch.Tensor:
    missing = width - value.size(1)
    if missing <= 0:
        return value
    pad = value.new_full((value.size(0), missing), fill)
    return torch.cat([pad, value] if left else [value, pad], dim=1)


def loss_mask(batch: dict) -> torch.Tensor:
    """Where the GRPO loss is computed: completion tokens the policy sampled (not observations,
    not padding)."""
    mask = batch["completion_mask"]
    tool = batch.get("tool_mask")
    return mask if tool is None else mask * tool


def group_spread(advantages: torch.Tensor, num_generations: int) -> torch.Tensor:
    """(groups,) bool: does any row of the group carry a nonzero advantage (at any token)?"""
    flat = advantages if advantages.dim() == 1 else advantages.abs().amax(dim=1)
    return flat.view(-1, num_generations).ne(0).any(dim=1)
