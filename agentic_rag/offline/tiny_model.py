"""A tiny Qwen2-architecture policy and byte-level BPE tokenizer, built locally with no hub access.

The offline default and the tests need a real causal LM with a real chat template, so the tools
protocol parses exactly as it does for Qwen2.5: the tokenizer mirrors Qwen's (split regex,
ByteLevel, `<|im_start|>`/`<|im_end|>`/`<|endoftext|>` special, `<tool_call>` added but NOT
special so decoding keeps it) and carries TRL's `qwen2_5.jinja` byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agentic_rag.recipe.sections import TinyModelConfig

# Qwen2's pre-tokenizer split pattern (contractions, letters, single digits, punctuation runs).
QWEN_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Single tokens for the protocol markers make the tiny model's job easier; real models spell them
# with several tokens, and nothing in the engine depends on this choice.
PROTOCOL_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<search>",
    "</search>",
    "<information>",
    "</information>",
    "<answer>",
    "</answer>",
)


def qwen2_5_chat_template() -> str:
    """TRL's Qwen2.5 template, byte-identical so TRL's response parsing recognises it."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text("utf-8")


def build_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Trains a Qwen-style byte-level BPE tokenizer on `texts` and wraps it for transformers."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        clean_up_tokenization_spaces=False,
    )
    fast.add_tokens(list(PROTOCOL_TOKENS), special_tokens=False)
    fast.chat_template = qwen2_5_chat_template()
    return fast


def build_model(tokenizer, config: TinyModelConfig | None = None, seed: int = 0):
    """A randomly initialised Qwen2ForCausalLM sized for `tokenizer`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = config or TinyModelConfig()
    torch.manual_seed(seed)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(model_config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_tiny(
    texts: Iterable[str],
    out_dir: str | Path,
    config: TinyModelConfig | None = None,
    seed: int = 0,
):
    """Builds tokenizer + model and saves both to `out_dir` (a normal `from_pretrained` folder)."""
    config = config or TinyModelConfig()
    tokenizer = build_tokenizer(texts, config.vocab_size)
    model = build_model(tokenizer, config, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out
