"""transformers `generate` backend (CPU or GPU): one batched call per turn, per-token log-probs.

Log-probs are those of softmax(logits / temperature) at the sampled token, the same quantity
TRL recomputes for the policy, gathered step by step so memory stays O(batch × vocab).

Prefill is not repeated: a turn's prompts are the previous turn's rows plus new observation
tokens, so the previous call's KV cache is kept and only the new tokens are run (rows stay where
they were; generation pads and observation left-padding become masked holes, and positions
come from the mask, so every real token sees exactly the keys and positions a fresh unpadded
forward would). Identical prompts in one call (a GRPO group's first turn) are prefilled once.

The cache is not grown by concatenation: each call reserves room for the tokens it may generate,
and a decode step writes into it (`torch.cat` copied the whole cache at every step; the cost is
in docs/performance.md).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria
from transformers.cache_utils import DynamicCache, DynamicLayer
from transformers.generation.stopping_criteria import StopStringCriteria
from transformers.generation.utils import GenerateDecoderOnlyOutput

from agentic_rag.backends.base import Generation, SamplingParams

CACHE = "cache" if "cache" in GenerateDecoderOnlyOutput.__dataclass_fields__ else "past_key_values"
"""transformers' name for the KV cache, as a model argument and an output field (older releases
call it `past_key_values`, newer ones deprecate that name)."""


class _SampledLogprobs(LogitsProcessor):
    """Sees each step's logits; at the next step the sampled token is known, so it gathers that
    token's log-prob then and drops the rest."""

    def __init__(self, temperature: float):
        self.temperature = temperature if temperature > 0 else 1.0
        self.previous: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def collect(self, sampled: torch.Tensor) -> None:
        if self.previous is not None:
            logp = torch.log_softmax(self.previous.float() / self.temperature, dim=-1)
            self.steps.append(logp.gather(-1, sampled[:, None]).squeeze(-1))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.collect(input_ids[:, -1])
        self.previous = scores
        return scores


class _FinishTracker(StoppingCriteria):
    """Records the step at which each row first finished (EOS or stop string): after that,
    `generate` pads the row, and padding must not be mistaken for sampled tokens."""

    def __init__(
        self, inner: list[StoppingCriteria], eos_ids: list[int], batch: int, prompt_len: int
    ):
        self.inner, self.eos_ids, self.prompt_len = inner, eos_ids, prompt_len
        self.finished_at = [-1] * batch

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        done = torch.isin(input_ids[:, -1], torch.tensor(self.eos_ids, device=input_ids.device))
        for criterion in self.inner:
            done |= criterion(input_ids, scores, **kwargs)
        step = input_ids.shape[1] - self.prompt_len - 1
        for row in torch.nonzero(done).flatten().tolist():
            if self.finished_at[row] < 0:
                self.finished_at[row] = step
        return done


class _ReservedLayer(DynamicLayer):
    """A full-attention cache layer whose keys/values are views into a buffer with `reserve`
    spare positions, so appending writes in place instead of copying the whole cache."""

    reserve = 0
    """Positions to leave free after the tokens of a (re)allocation: the call's max_new_tokens."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self.get_seq_length()
        end = start + key_states.shape[-2]
        buffer = getattr(self, "_buffer", None)
        # batch_select_indices and reorder_cache replace `keys` by a fresh tensor: re-home it.
        homed = buffer is not None and buffer[0].data_ptr() == self.keys.data_ptr()
        if not homed or end > buffer[0].shape[-2]:
            shape = (*key_states.shape[:2], end + self.reserve, key_states.shape[-1])
            buffer = tuple(key_states.new_empty(shape) for _ in range(2))
            if start:
                buffer[0][:, :, :start] = self.keys
                buffer[1][:, :, :start] = self.values
            self._buffer = buffer
        buffer[0][:, :, start:end] = key_states
        buffer[1][:, :, start:end] = value_states
        self.keys, self.values = buffer[0][:, :, :end], buffer[1][:, :, :end]
        return self.keys, self.values


@dataclass
class _Turn:
    """What the previous `generate` call left: its KV cache and the token layout behind it."""

    cache: DynamicCache
    """Keys/values of every column of `ids` but the last (generate never runs its last token)."""
    ids: torch.Tensor
    """(rows, width): left-padded prompts, then generated tokens (pads after a row finished)."""
    mask: torch.Tensor
    """1 on real tokens, 0 on padding."""
    rows: list[list[int]]
    """Each row's real tokens: its prompt and its whole generation."""
    weights: int
    """Parameter version sum when the cache was computed; an update invalidates it."""


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip padding, as `generate` derives them from the attention mask."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


@contextmanager
def _neutral_defaults(model):
    """The model in eval mode with an empty `generation_config` for one backend call.

    transformers fills every field a call leaves unset from `model.generation_config`, and
    checkpoints ship sampling defaults there (Qwen2.5-Instruct: repetition_penalty 1.05, top_k
    20, top_p 0.8; others no_repeat_ngram_size, min_p, ...). Any of them would make rollouts
    differ from the distribution the recipe names and the GRPO loss scores, and make greedy
    evaluation pick non-argmax tokens. An empty config leaves transformers' neutral defaults."""
    saved, was_training = model.generation_config, model.training
    model.generation_config = GenerationConfig(
        bos_token_id=saved.bos_token_id,
        eos_token_id=saved.eos_token_id,
        pad_token_id=saved.pad_token_id,
    )
    model.eval()
    try:
        yield
    finally:
        model.generation_config = saved
        model.train(was_training)


class HFBackend:
    """Generates with a transformers causal LM held in memory (the training policy itself).

    `synced_gpus=False` is right for one process and for ZeRO-3 with gathered parameters (no
    collective in a forward pass); other sharded set-ups are refused before training starts
    (`training.trl_adapter.check_generation_setup`)."""

    def __init__(self, model, tokenizer, synced_gpus: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.synced_gpus = synced_gpus
        # The checkpoint's end-of-sequence ids and the tokenizer's (the chat template's end of
        # turn, which the tools protocol relies on): a turn ends at either.
        eos = model.generation_config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos_ids = eos_ids + [
            i for i in (tokenizer.eos_token_id,) if i is not None and i not in eos_ids
        ]
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )
        self._last: _Turn | None = None

    @property
    def context_tokens(self) -> int | None:
        """The model's position limit (`max_position_embeddings` of its text config)."""
        config = self.model.config
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        limit = getattr(config, "max_position_embeddings", None)
        return limit if isinstance(limit, int) and limit > 0 else None

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        limit, longest = self.context_tokens, max(len(p) for p in prompts)
        if limit is not None and longest > limit:
            # the rollout engine refuses such prompts; a direct caller gets this, not an
            # attention matrix sized for a prompt the model was never trained to read
            raise ValueError(f"a prompt of {longest:,} tokens exceeds the model's {limit:,}")
        with _neutral_defaults(self.model):
            return self._generate(prompts, params)

    def _generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        device = next(self.model.parameters()).device
        weights = self._weights_version()
        input_ids, attention, cache = self._continue(prompts, weights, device)
        if cache is None:
            self._last = None  # free the old cache before a fresh prefill
            input_ids, attention = self._left_pad(prompts, device)
            cache = self._shared_prefill(prompts, input_ids, attention)
            cache = self._new_cache() if cache is None else cache
        for layer in cache.layers if cache is not None else ():
            layer.reserve = params.max_new_tokens
        width = input_ids.shape[1]
        logprobs = _SampledLogprobs(params.temperature)
        stops = [StopStringCriteria(self.tokenizer, list(params.stop))] if params.stop else []
        tracker = _FinishTracker(stops, self.eos_ids, len(prompts), width)
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            temperature=params.temperature if not params.greedy else None,
            top_p=params.top_p if not params.greedy else None,
            top_k=params.top_k if not params.greedy else None,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
        )
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            generation_config=config,
            logits_processor=LogitsProcessorList([logprobs]),
            stopping_criteria=[tracker],
            synced_gpus=self.synced_gpus,
            **{CACHE: cache},
        )
        new = out.sequences[:, width:]
        logprobs.collect(new[:, -1].to(logprobs.previous.device))
        step_logps = torch.stack(logprobs.steps, dim=1).cpu()
        new_cpu = new.cpu()
        results = []
        for row in range(len(prompts)):
            end = tracker.finished_at[row]
            length = end + 1 if end >= 0 else new.shape[1]
            ids = new_cpu[row, :length].tolist()
            finish = "length" if end < 0 else "eos" if ids[-1] in self.eos_ids else "stop"
            results.append(Generation(ids, step_logps[row, :length].tolist(), finish))
        self._remember(out, attention, prompts, results, weights)
        return results

    def _weights_version(self) -> int:
        return sum(p._version for p in self.model.parameters())

    def _left_pad(self, prompts: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompts):  # left padding: every row ends where generation starts
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        return input_ids.to(device), attention.to(device)

    def _shared_prefill(
        self, prompts: list[list[int]], input_ids: torch.Tensor, attention: torch.Tensor
    ) -> DynamicCache | None:
        """KV of all but the last column, computed once per distinct prompt and copied to its
        duplicates (the G generations of a GRPO group share their first-turn prompt)."""
        first_row: dict[tuple[int, ...], int] = {}
        for row, prompt in enumerate(prompts):
            first_row.setdefault(tuple(prompt), row)
        if len(first_row) == len(prompts) or input_ids.shape[1] < 2:
            return None  # nothing shared: generate's own prefill is the same work
        slot = {row: i for i, row in enumerate(first_row.values())}
        owner = [slot[first_row[tuple(prompt)]] for prompt in prompts]
        unique = torch.tensor(list(first_row.values()), device=input_ids.device)
        cache = self._new_cache()
        if cache is None:
            return None
        ids, mask = input_ids[unique, :-1], attention[unique, :-1]
        self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=_positions(mask),
            use_cache=True,
            logits_to_keep=1,  # only the cache is wanted; full logits are rows x width x vocab
            **{CACHE: cache},
        )
        cache.batch_select_indices(torch.tensor(owner, device=input_ids.device))
        return cache

    def _continue(self, prompts: list[list[int]], weights: int, device):
        """(ids, mask, cache) extending the previous call's rows by each prompt's new tokens, or
        (None, None, None) when the prompts are not continuations of those rows (in order), a
        row has no new token, or the weights changed since."""
        last = self._last
        if last is None or last.weights != weights:
            return None, None, None
        picked, suffixes, j = [], [], 0
        for prompt in prompts:
            while j < len(last.rows) and prompt[: len(last.rows[j])] != last.rows[j]:
                j += 1
            if j == len(last.rows) or len(prompt) == len(last.rows[j]):
                return None, None, None
            picked.append(j)
            suffixes.append(prompt[len(last.rows[j]) :])
            j += 1
        rows = torch.tensor(picked, device=device)
        tail_ids, tail_mask = self._left_pad(suffixes, device)
        last.cache.batch_select_indices(rows)
        ids = torch.cat([last.ids[rows], tail_ids], dim=1)
        mask = torch.cat([last.mask[rows], tail_mask], dim=1)
        self._last = None  # the cache now belongs to this call
        return ids, mask, last.cache

    def _remember(self, out, attention, prompts, results, weights) -> None:
        if not self._reusable(getattr(out, CACHE)):
            return
        width = attention.shape[1]
        steps = out.sequences.shape[1] - width
        generated = torch.zeros((len(prompts), steps), dtype=attention.dtype)
        for row, g in enumerate(results):
            generated[row, : len(g.token_ids)] = 1
        self._last = _Turn(
            cache=getattr(out, CACHE),
            ids=out.sequences,
            mask=torch.cat([attention, generated.to(attention.device)], dim=1),
            rows=[p + g.token_ids for p, g in zip(prompts, results, strict=True)],
            weights=weights,
        )

    def _new_cache(self) -> DynamicCache | None:
        """An empty cache of reserved layers, or None when the model has layers other than full
        attention (sliding-window and linear attention layers drop or fold positions, so neither
        reservation nor reuse applies; `generate` then builds its own cache)."""
        cache = DynamicCache(config=self.model.config)
        if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
            return None
        cache.layers = [_ReservedLayer() for _ in cache.layers]
        return cache

    @staticmethod
    def _reusable(cache) -> bool:
        """A cache `_new_cache` made (one `generate` built itself is not extended next turn)."""
        return isinstance(cache, DynamicCache) and all(
            type(layer) is _ReservedLayer for layer in cache.layers
        )
