"""Generation through an OpenAI-compatible `/completions` endpoint (vLLM, SGLang, llama.cpp...).

FOR EVALUATION ONLY. The rollout engine works on token ids, but an HTTP server speaks text: the
prompt ids are decoded to text, and the returned text is re-encoded with our tokenizer. The ids
this backend returns are therefore a re-tokenization, not the tokens the server sampled, and the
log-probs are the server's per-token values only when its token count matches ours (else 0.0).
That is fine for scoring answers and useless for policy-gradient training.

One batch = one HTTP request with a list prompt. Transport errors, timeouts, 408/429 and 5xx are
retried with exponential backoff; any other HTTP error fails at once with the server's message.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from agentic_rag.backends.base import FinishReason, Generation, SamplingParams

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class OpenAICompatError(RuntimeError):
    """The endpoint could not be reached or answered something unusable."""


@dataclass(frozen=True)
class OpenAICompatConfig:
    """Where the served model lives and how patiently to talk to it."""

    base_url: str
    """API root up to and including the version, e.g. http://localhost:8000/v1 (`vllm serve`)."""
    model: str
    """Model name as the server knows it (`vllm serve NAME`, or --served-model-name)."""
    api_key: str | None = None
    """Sent as `Authorization: Bearer ...` when set (vLLM --api-key)."""
    timeout_s: float = 600.0
    """Per request; one request carries a whole batch of long generations."""
    max_retries: int = 3
    """Retries after the first attempt on connection errors, timeouts, 408, 429 and 5xx."""
    backoff_s: float = 1.0
    """Wait before retry i is backoff_s * 2**i."""


class OpenAICompatBackend:
    """`GenerationBackend` over HTTP; see the module docstring for what it cannot do."""

    def __init__(self, config: OpenAICompatConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.url = config.base_url.rstrip("/") + "/completions"
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(timeout=config.timeout_s, headers=headers)

    @functools.cached_property
    def context_tokens(self) -> int | None:
        """The served model's `max_model_len`, as vLLM and SGLang list it at /models; None when
        the server does not say (over-long prompts then fail at the server)."""
        try:
            url = self.config.base_url.rstrip("/") + "/models"
            listed = self._client.get(url, timeout=10.0).json()
            for model in listed.get("data", []):
                limit = model.get("max_model_len")
                if model.get("id") == self.config.model and isinstance(limit, int):
                    return limit
        except (httpx.HTTPError, ValueError, AttributeError, TypeError):
            pass
        return None

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        payload: dict[str, Any] = {
            "model": self.config.model,
            "prompt": [self.tokenizer.decode(p, skip_special_tokens=False) for p in prompts],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": 1,
            # Our interface keeps the stop string in the output; the OpenAI API drops it.
            # vLLM honours this flag; other servers ignore it and we restore it from stop_reason.
            "include_stop_str_in_output": True,
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.top_k > 0:
            payload["top_k"] = params.top_k  # vLLM/SGLang extension; plain OpenAI has no top-k
        choices = self._choices(self._post(payload), len(prompts))
        return [self._generation(choice, params) for choice in choices]

    def _generation(self, choice: dict[str, Any], params: SamplingParams) -> Generation:
        text = choice.get("text")
        if not isinstance(text, str):
            raise OpenAICompatError(f"{self.url}: a choice has no text: {str(choice)[:300]}")
        stop_reason = choice.get("stop_reason")
        stopped_by_string = next(
            (s for s in params.stop if stop_reason == s or text.endswith(s)), None
        )
        finish: FinishReason = (
            "length"
            if choice.get("finish_reason") == "length"
            else "stop"
            if stopped_by_string
            else "eos"
        )
        if finish == "stop" and not text.endswith(stopped_by_string):
            text += stopped_by_string
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        eos = self.tokenizer.eos_token_id
        if finish == "eos" and eos is not None and ids[-1:] != [eos]:
            # The server drops the end-of-turn token from the text; the chat structure the
            # tools protocol continues from needs it back.
            ids.append(eos)
        if len(ids) > params.max_new_tokens:  # the server's tokenizer differs from ours
            ids, finish = ids[: params.max_new_tokens], "length"
        return Generation(token_ids=ids, logprobs=_logprobs(choice, len(ids)), finish_reason=finish)

    def _choices(self, response: Any, expected: int) -> list[dict[str, Any]]:
        choices = response.get("choices") if isinstance(response, dict) else None
        if not isinstance(choices, list) or len(choices) != expected:
            raise OpenAICompatError(
                f"{self.url}: expected {expected} choices for {expected} prompts, got "
                f"{str(response)[:300]}; is this an OpenAI-compatible /completions endpoint?"
            )
        return sorted(choices, key=lambda c: c.get("index", 0))

    def _post(self, payload: dict[str, Any]) -> Any:
        cfg = self.config
        error = ""
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                time.sleep(cfg.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TransportError as e:  # connect errors and timeouts
                error = f"{type(e).__name__}: {e}"
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise OpenAICompatError(
                        f"{self.url} answered non-JSON: {response.text[:300]!r}"
                    ) from None
            error = f"HTTP {response.status_code}: {response.text[:300]}"
            if response.status_code not in RETRY_STATUS:
                raise OpenAICompatError(
                    f"POST {self.url} failed with {error}. Check the model name "
                    f"({cfg.model!r}) and that the server accepts these sampling parameters"
                )
        raise OpenAICompatError(
            f"POST {self.url} failed after {cfg.max_retries + 1} attempts; last error: {error}. "
            f"Is the server running and serving {cfg.model!r}? e.g. `vllm serve {cfg.model} "
            "--port 8000` with base_url http://localhost:8000/v1"
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _logprobs(choice: dict[str, Any], count: int) -> list[float]:
    """The server's sampled-token log-probs when they line up with our re-encoded ids."""
    logprobs = choice.get("logprobs")
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or len(values) != count:
        return [0.0] * count
    return [float(v) if isinstance(v, (int, float)) else 0.0 for v in values]
