"""OpenAI-compatible backend against a real HTTP server on loopback.

The server computes each completion from its prompt (so a mixed-up batch order shows), applies
`stop`, `max_tokens` and `include_stop_str_in_output` the way vLLM does, and returns per-token
log-probs, so every request and response really goes over a socket.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tokenizers import ByteLevelBPETokenizer
from transformers import PreTrainedTokenizerFast

from agentic_rag.backends.base import SamplingParams
from agentic_rag.backends.openai_compat import (
    OpenAICompatBackend,
    OpenAICompatConfig,
    OpenAICompatError,
)

CORPUS = [
    "Question: who wrote Hamlet? <think> I should search. </think> <search> Hamlet author "
    "</search> <information> Hamlet is a tragedy by William Shakespeare. </information> "
    "<answer> William Shakespeare </answer> The answer is 42 words long.",
    "<|im_start|>user Capital of France?<|im_end|> <|im_start|>assistant <answer> Paris </answer>",
]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on a few lines: exact text round trips, like Qwen's."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 20, vocab_size=400, min_frequency=1, show_progress=False)
    bpe.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, clean_up_tokenization_spaces=False)


def continuation(prompt: str) -> str:
    """What the fake model 'generates': depends on the prompt, ends in an answer, then rambles."""
    return f" <think> {len(prompt)} chars </think> <answer> {prompt.split()[-1]} </answer> more"


@dataclass
class FakeServer:
    tokenizer: PreTrainedTokenizerFast
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    """Answer this many requests with `fail_status` before serving normally."""
    fail_status: int = 503
    honour_include_stop: bool = True
    """False: behave like a plain OpenAI server (drop the stop string, report stop_reason)."""
    choices_override: list[dict] | None = None

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = []
        for index, prompt in enumerate(body["prompt"]):
            text, finish, stop_reason = continuation(prompt), "length", None
            for stop in body.get("stop") or []:
                if stop in text:
                    cut = text.index(stop)
                    keep = body.get("include_stop_str_in_output") and self.honour_include_stop
                    text, finish, stop_reason = text[: cut + len(stop) * keep], "stop", stop
                    break
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            if len(ids) > body["max_tokens"]:
                ids, finish, stop_reason = ids[: body["max_tokens"]], "length", None
            elif finish != "stop":
                finish = "stop"  # the fake model's EOS
            choices.append(
                {
                    "index": index,
                    "text": self.tokenizer.decode(ids),
                    "finish_reason": finish,
                    "stop_reason": stop_reason,
                    "logprobs": {
                        "tokens": [self.tokenizer.decode([i]) for i in ids],
                        "token_logprobs": [-0.25 * (n + 1) for n in range(len(ids))],
                    },
                }
            )
        choices.reverse()  # servers may answer out of order; `index` says which is which
        return {"object": "text_completion", "model": body["model"], "choices": choices}


@pytest.fixture
def server(tokenizer):
    fake = FakeServer(tokenizer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, "auth": self.headers["Authorization"], **body})
            if len(fake.requests) <= fake.fail_first:
                status, payload = fake.fail_status, {"error": {"message": "model is loading"}}
            elif fake.choices_override is not None:
                status, payload = 200, {"choices": fake.choices_override}
            else:
                status, payload = 200, fake.complete(body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield fake
    httpd.shutdown()
    httpd.server_close()


def make_backend(url: str, tokenizer, **overrides: Any) -> OpenAICompatBackend:
    config = OpenAICompatConfig(base_url=url, model="tiny", backoff_s=0.01, **overrides)
    return OpenAICompatBackend(config, tokenizer)


PROMPTS = ["Question: who wrote Hamlet?", "<|im_start|>user Capital of France?<|im_end|>", "x y"]


def test_one_request_per_batch_and_exact_round_trip(server, tokenizer):
    prompt_ids = [tokenizer.encode(p, add_special_tokens=False) for p in PROMPTS]
    params = SamplingParams(max_new_tokens=64, temperature=0.0, stop=("</answer>", "</search>"))
    with make_backend(server.url, tokenizer, api_key="secret") as backend:
        outputs = backend.generate(prompt_ids, params)

    (request,) = server.requests
    assert request["path"] == "/v1/completions"
    assert request["auth"] == "Bearer secret"
    assert request["prompt"] == PROMPTS  # ids decoded back to the exact prompt text
    assert request["model"] == "tiny"
    assert (request["max_tokens"], request["temperature"], request["top_p"]) == (64, 0.0, 1.0)
    assert request["stop"] == ["</answer>", "</search>"] and request["logprobs"] == 1
    assert "top_k" not in request  # only sent when set

    for prompt, out in zip(PROMPTS, outputs, strict=True):
        expected = continuation(prompt)
        expected = expected[: expected.index("</answer>") + len("</answer>")]
        assert tokenizer.decode(out.token_ids) == expected  # stop string kept, as our API says
        assert out.token_ids == tokenizer.encode(expected, add_special_tokens=False)
        assert out.logprobs == [-0.25 * (n + 1) for n in range(len(out.token_ids))]
        assert out.finish_reason == "stop"


def test_length_limit_and_top_k(server, tokenizer):
    params = SamplingParams(max_new_tokens=5, temperature=0.7, top_p=0.9, top_k=20)
    (out,) = make_backend(server.url, tokenizer).generate([tokenizer.encode("a b c")], params)
    assert out.finish_reason == "length"
    assert len(out.token_ids) == len(out.logprobs) == 5
    assert server.requests[0]["top_k"] == 20 and server.requests[0]["temperature"] == 0.7


def test_stop_string_restored_from_stop_reason(server, tokenizer):
    """A server that drops the stop string (OpenAI's rule) but reports which one matched."""
    server.honour_include_stop = False
    params = SamplingParams(max_new_tokens=64, stop=("</answer>",))
    (out,) = make_backend(server.url, tokenizer).generate([tokenizer.encode("q r")], params)
    assert tokenizer.decode(out.token_ids).endswith("<answer> r </answer>")
    # our re-encoding now has more tokens than the server sampled: log-probs fall back to 0.0
    assert out.logprobs == [0.0] * len(out.token_ids)


def test_retries_transient_errors(server, tokenizer):
    server.fail_first = 2
    params = SamplingParams(max_new_tokens=8)
    outputs = make_backend(server.url, tokenizer).generate([tokenizer.encode("hi")] * 2, params)
    assert len(outputs) == 2 and len(server.requests) == 3


def test_gives_up_with_a_clear_error(server, tokenizer):
    server.fail_first, server.fail_status = 100, 500
    backend = make_backend(server.url, tokenizer, max_retries=2)
    with pytest.raises(OpenAICompatError, match=r"failed after 3 attempts; last error: HTTP 500"):
        backend.generate([[1, 2]], SamplingParams(max_new_tokens=4))
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(server, tokenizer):
    server.fail_first, server.fail_status = 100, 400
    with pytest.raises(OpenAICompatError, match=r"HTTP 400: .*model is loading.*'tiny'"):
        make_backend(server.url, tokenizer).generate([[1, 2]], SamplingParams(max_new_tokens=4))
    assert len(server.requests) == 1


def test_wrong_number_of_choices(server, tokenizer):
    server.choices_override = [{"index": 0, "text": "only one", "finish_reason": "stop"}]
    with pytest.raises(OpenAICompatError, match="expected 2 choices for 2 prompts"):
        make_backend(server.url, tokenizer).generate([[1], [2]], SamplingParams(max_new_tokens=4))


def test_nothing_listening(tokenizer):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = make_backend(f"http://127.0.0.1:{port}/v1", tokenizer, max_retries=1)
    with pytest.raises(OpenAICompatError, match=r"after 2 attempts; last error: ConnectError.*"):
        backend.generate([[1]], SamplingParams(max_new_tokens=4))
    assert backend.generate([], SamplingParams(max_new_tokens=4)) == []


def test_a_turn_the_model_ended_keeps_its_end_of_turn_token(server, tokenizer):
    """Servers drop the end-of-turn token from the text; the tools protocol's next frame follows
    it, so the backend puts it back (and only then: not after a stop string or the cap)."""
    chat = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer, eos_token="<|im_end|>")
    eos = chat.eos_token_id
    prompt = [chat.encode("x y", add_special_tokens=False)]
    with make_backend(server.url, chat) as backend:
        (ended,) = backend.generate(prompt, SamplingParams(max_new_tokens=64, temperature=0.0))
        (stopped,) = backend.generate(
            prompt, SamplingParams(max_new_tokens=64, temperature=0.0, stop=("</answer>",))
        )
        (cut,) = backend.generate(prompt, SamplingParams(max_new_tokens=3, temperature=0.0))
    assert ended.finish_reason == "eos" and ended.token_ids[-1] == eos
    assert chat.decode(ended.token_ids[:-1]) == continuation("x y")
    assert stopped.finish_reason == "stop" and stopped.token_ids[-1] != eos
    assert cut.finish_reason == "length" and eos not in cut.token_ids
