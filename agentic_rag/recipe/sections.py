"""Every section of a recipe, as a frozen dataclass whose fields document themselves (the
docstring under each field is what `agentic-rag recipe` and docs/recipes.md show).

Dataclasses and their documentation only: nothing here imports torch, transformers, TRL or any
other part of agentic_rag, so parsing a recipe is instant and any layer can take its section
from here without loading the layers above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RetrieverConfig:
    """Where searches go (a recipe's `retriever:` section): an index folder loaded in every
    process, or a retrieval server shared by all of them."""

    index: str | None = None
    """A `retriever_index` folder (dense, bm25 or hybrid). For the offline default it is built
    under `output_dir`."""
    url: str | None = None
    """Base URL of `agentic-rag index serve` (shared by all processes/nodes); overrides `index`."""
    encoder_device: str | None = None
    """Device of the query encoder for an in-process index (default: CPU; the GPU belongs to the
    policy)."""
    encoder_backend: Literal["torch", "onnx", "openvino"] | None = None
    """Query encoder runtime for an in-process index: torch, onnx (ONNX Runtime) or openvino
    (default: the one the index was built with, from its manifest; another one is warned about,
    since an int8 encoder's vectors are a slightly different space)."""
    encoder_precision: Literal["fp32", "int8"] | None = None
    """fp32, or int8 with onnx/openvino, for the query encoder (default: the index's)."""
    ef_search: int | None = None
    """HNSW efSearch at load time."""
    nprobe: int | None = None
    """IVF nprobe at load time."""
    timeout: float = 30.0
    """Seconds per HTTP request to the retrieval server."""
    retry_budget: float = 30.0
    """Seconds a request keeps being retried (backoff with jitter) when the server is down or
    busy before the search becomes an error observation: long enough to ride out a restart."""


@dataclass(frozen=True)
class ProtocolConfig:
    """How trajectories look (a recipe's `protocol:` section); search budgets are `rollout:`."""

    name: Literal["tags", "tools"] = "tags"
    """`tags`: Search-R1's <search>/<information>/<answer> text protocol (base models).
    `tools`: chat-template function calling (instruct models: Qwen2.5, Qwen3, Llama 3)."""
    template: str | None = None
    """Prompt template with a `{question}` field; None uses the protocol's default
    (Search-R1's wording for `tags`)."""
    system_prompt: str | None = None
    """Optional system message (tools protocol; tags when `use_chat_template`)."""
    use_chat_template: bool = True
    """tags: wrap the prompt as a user turn with the tokenizer's chat template (as Search-R1 does
    for instruct models); off for base models without a template."""
    max_obs_tokens: int = 500
    """Observation text is truncated to this many tokens (Search-R1 uses 500)."""


@dataclass(frozen=True)
class RolloutConfig:
    """Budgets of one rollout (a recipe's `rollout:` section). Sampling is not here: it is TRL's
    top-level `temperature`/`top_p`/`top_k` in training (the loss uses them too) and greedy in
    evaluation, passed to `RolloutEngine.run`."""

    max_turns: int = 4
    """Generation turns per trajectory (Search-R1: 4). A search on the last turn is not run."""
    max_turn_tokens: int = 256
    """New tokens per generation turn."""
    max_completion_tokens: int = 1024
    """Whole completion (model and observation tokens) per trajectory; TRL pads to this."""
    topk: int = 3
    """Passages returned per search."""
    max_query_chars: int = 300
    """Longer search queries are rejected with an error observation."""


@dataclass(frozen=True)
class RewardSpec:
    """One reward function and its weight in the total (becomes TRL's `reward_weights`)."""

    name: str
    """A name in `agentic_rag.rewards.REWARDS` (exact_match, f1, format, search_r1_format, ...)."""
    weight: float = 1.0
    """Weight in the summed reward; 0 logs the reward without training on it."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments of reward factories (e.g. `max_searches` for search_budget)."""


@dataclass(frozen=True)
class DataConfig:
    """Questions (a recipe's `data:` section): normalized JSONL/Parquet, Search-R1 parquet,
    FlashRAG JSONL, or a short name of a shared dev set (see docs/evaluation.md)."""

    train: str | None = None
    """Training questions (comma-separated specs are concatenated); the offline default
    generates its own."""
    eval: str | None = None
    """Held-out questions: `train` evaluates the final policy on them (agentic mode, greedy) into
    OUTPUT_DIR/eval, and `eval --config` uses them when `--data` is not given."""
    train_limit: int | None = None
    """Use only the first N training questions."""
    eval_limit: int | None = None
    """Use only the first N held-out questions."""
    holdout: int = 0
    """Hold out this many `eval` questions (a seeded sample, the same for every training seed)
    from the training questions and score them before and after (OUTPUT_DIR/heldout.jsonl); 0
    scores all of `eval`, which should then not overlap `train`."""


@dataclass(frozen=True)
class WarmStartConfig:
    """SFT on demonstrations before GRPO (a recipe's `warm_start:` section)."""

    examples: int = 0
    """Demonstrations built from `data.train` questions with gold supporting passages (0: no
    warm start). The offline world always warm-starts on its own demonstrations; there this caps
    how many (0: every question of its `sft_share`)."""
    epochs: float = 3.0
    """Passes over the demonstrations."""
    learning_rate: float = 6e-3
    """Peak learning rate (cosine schedule, 5% warmup)."""
    batch_size: int = 16
    """Demonstrations per optimizer step."""
    trainable_layers: int | None = None
    """Train only the top N transformer blocks (and the final norm); None trains every weight.
    Backward through fewer layers makes a CPU warm start of a pretrained model affordable."""
    copy_probe: int = 100
    """Held-out demonstrations (questions no demonstration used, with a passage stating the
    answer in their observation) on which the trained warm start is checked for copying: the
    share of answer spans it predicts token for token, teacher-forced and greedy
    (`warm_start_copy` in summary.json). 0 skips the check."""
    min_copy: float | None = None
    """Share of held-out answer spans the warm start must copy before GRPO starts; below it the
    warm start is trained again (`copy_retries` times at most), then the run stops with an
    error instead of spending GRPO steps on a policy that cannot read. None reports the share
    without enforcing it. tiny.yaml sets 0.3 (why: docs/training.md)."""
    copy_retries: int = 2
    """Further warm starts tried when one copies less than `min_copy`: the offline default
    retrains from a fresh initialisation, a real model in another data order."""


@dataclass(frozen=True)
class SamplesConfig:
    """Trajectory groups kept during training (a recipe's `samples:` section)."""

    every_steps: int = 25
    """Write groups every N optimizer steps (and at step 1); 0 writes none."""
    groups: int = 2
    """Groups written each time: the G trajectories of one prompt each, with their rewards and
    advantages."""


@dataclass(frozen=True)
class UpdateConfig:
    """How the GRPO update runs beyond TRL's GRPOConfig (a recipe's `update:` section)."""

    trainable_layers: int | None = None
    """Train only the top N transformer blocks (and the final norm) during GRPO; None trains
    every weight. Backward stops at the lowest trained block, and the frozen blocks keep no
    activations for it: the cheapest way to make a CPU step of a pretrained model affordable.
    With `use_peft` the adapter decides what trains, so leave this unset."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: after each generation batch, groups whose rewards do not differ
    (no advantage, no learning signal) are replaced by groups of freshly drawn questions, up to
    `max_sampling_rounds` extra rollouts, so the batch trains on groups that teach something.
    One training process only."""
    max_sampling_rounds: int = 2
    """Extra rollouts per step that dynamic sampling may spend refilling the batch; a batch still
    short after them is filled with no-spread groups (which cost nothing to train with beta 0)."""
    oversample: float = 1.5
    """Each extra round draws this many questions per missing group (the share of groups with
    spread is below 1, so drawing only as many as are missing rarely fills the batch)."""
    sft_coef: float = 0.0
    """Weight of an auxiliary SFT term on the warm start's demonstrations inside the GRPO loss
    (loss = GRPO + sft_coef x mean token NLL of a batch of demonstrations): keeps the protocol
    and the copying the warm start taught while RL explores. 0 turns it off; needs a warm start
    (`warm_start.examples`, or the offline world's)."""
    sft_batch_size: int = 4
    """Demonstrations per micro-batch for the auxiliary SFT term."""


@dataclass(frozen=True)
class TurnRewardSpec:
    """One turn-level process reward and its weight (agentic_rag.rewards.TURN_REWARDS)."""

    name: str
    """information_gain, redundancy or search_cost (docs/rewards.md)."""
    weight: float = 1.0
    """Weight in the summed turn reward."""
    args: dict[str, Any] = field(default_factory=dict)
    """Arguments of the reward (e.g. `cost` for search_cost)."""


@dataclass(frozen=True)
class CreditConfig:
    """Credit for each search, not only the final answer (a recipe's `credit:` section): each
    search turn's process reward, normalised across the group's search turns, is added to the
    outcome advantage on that turn's model tokens (training/credit.py). Off while `scale` is 0."""

    turn_rewards: tuple[TurnRewardSpec, ...] = ()
    """Process rewards summed per search turn, e.g. `[{name: information_gain, weight: 1.0},
    {name: redundancy, weight: 0.5}]`."""
    scale: float = 0.0
    """Size of the process advantage relative to the (unit-variance) outcome advantage; 0 turns
    process credit off. Within a group whose outcomes differ it is further shrunk so that no
    token of a lower-reward trajectory gets a larger advantage than any token of a
    higher-reward one (the outcome always dominates)."""

    def __post_init__(self) -> None:
        specs = tuple(
            s if isinstance(s, TurnRewardSpec) else TurnRewardSpec(**s) for s in self.turn_rewards
        )
        object.__setattr__(self, "turn_rewards", specs)

    @property
    def enabled(self) -> bool:
        return self.scale > 0 and bool(self.turn_rewards)


@dataclass(frozen=True)
class SyntheticKBConfig:
    """Shape of the generated world; the seed is passed to `generate_kb` separately."""

    num_countries: int = 100
    """Countries (one passage each)."""
    num_cities: int = 150
    """Cities (one passage each); each split needs at least one per country."""
    num_companies: int = 150
    """Companies (one passage each). Two-hop questions go through them: the fewer there are,
    the more GRPO can earn by recalling their facts instead of reading (docs/training.md)."""
    num_people: int = 3500
    """People (one passage each); most questions start from a person."""
    test_fraction: float = 0.15
    """Share of every entity kind put in the held-out (test) world."""
    name_words: int = 150
    """Invented words that every two-word entity name is drawn from."""
    num_train_questions: int = 6000
    """Training questions: split between the warm start and GRPO by `offline.sft_share`."""
    num_test_questions: int = 200
    """Held-out questions, scored before and after GRPO."""
    two_hop_fraction: float = 0.5
    """Share of two-hop questions in each split."""

    def __post_init__(self) -> None:
        for name in ("num_countries", "num_cities", "num_companies", "num_people"):
            if getattr(self, name) < 2:
                raise ValueError(f"SyntheticKBConfig.{name} must be >= 2 (one per split)")
        if self.name_words < 4:
            raise ValueError("SyntheticKBConfig.name_words must be >= 4, e.g. 150")
        for name in ("num_train_questions", "num_test_questions"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyntheticKBConfig.{name} must be >= 1")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError("SyntheticKBConfig.test_fraction must be in (0, 1), e.g. 0.15")
        if not 0.0 <= self.two_hop_fraction <= 1.0:
            raise ValueError("SyntheticKBConfig.two_hop_fraction must be in [0, 1]")


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape of the offline policy: small enough to train on 2 CPU cores in minutes."""

    vocab_size: int = 2048
    """Target BPE vocabulary size (special and protocol tokens included): every KB word becomes
    one token, so copying a name is copying two tokens."""
    hidden_size: int = 128
    """Width of the residual stream."""
    num_layers: int = 2
    """Transformer blocks (a third gave no gain here: docs/training.md)."""
    num_heads: int = 4
    """Attention heads."""
    num_kv_heads: int = 4
    """Full multi-head attention: grouped KV heads save memory this model does not need."""
    intermediate_size: int = 384
    """Width of the MLP."""
    max_position_embeddings: int = 2048
    """Longest sequence (prompt and completion) the model accepts."""


@dataclass(frozen=True)
class OfflineConfig:
    """The built-in offline default: fictional KB -> index -> tiny model -> SFT -> GRPO -> eval
    (a recipe's `offline:` section; only `recipes/tiny.yaml` has one). Its warm start takes its
    epochs and learning rate from the `warm_start:` section."""

    kb: SyntheticKBConfig = field(default_factory=SyntheticKBConfig)
    """The generated world (entities, questions, held-out split); seeded by the recipe's `seed`."""
    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    """Shape of the tiny policy built from scratch; initialised with the recipe's `seed`."""
    sft_share: float = 0.8
    """Share of training entities whose questions are warm-start demonstrations; GRPO trains on
    the questions about the others, so its reward pays for reading, not for recall."""
    shortcut_fraction: float = 0.7
    """Share of two-hop demonstrations that answer after one search, with the bridge entity
    (wrong): the warm start then under-searches and GRPO must learn that a second search pays."""


SECTIONS: dict[str, type] = {
    "retriever": RetrieverConfig,
    "protocol": ProtocolConfig,
    "rollout": RolloutConfig,
    "data": DataConfig,
    "warm_start": WarmStartConfig,
    "samples": SamplesConfig,
    "update": UpdateConfig,
    "credit": CreditConfig,
    "offline": OfflineConfig,
}
"""A recipe's sections by key; `rewards:` is a list of `RewardSpec`."""
