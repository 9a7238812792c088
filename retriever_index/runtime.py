"""Run an exported encoder (retriever_index.export) on ONNX Runtime or OpenVINO.

Tokenization is the model's own tokenizer called the way sentence-transformers calls it
(padding to the longest text of the batch, truncation to max_seq_length); texts are encoded
longest first, in batches, like `SentenceTransformer.encode`, so padding stays low.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from retriever_index.export import model_file, read_spec, require


class RuntimeEncoder:
    """Tokenizer + inference session of one export folder; `embed` returns unit float32 rows."""

    def __init__(self, folder: Path, threads: int | None = None):
        from transformers import AutoTokenizer

        self.folder = folder
        self.spec = read_spec(folder)
        self.backend: str = self.spec["backend"]
        self.dim: int = int(self.spec["dim"])
        self.max_seq_length: int = int(self.spec["max_seq_length"])
        self.inputs: list[str] = list(self.spec["inputs"])
        self.lower_case: bool = bool(self.spec.get("do_lower_case", False))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._run = self._session(threads or _omp_threads())

    def versions(self) -> dict[str, str]:
        """The runtime library's version, for the manifest."""
        module = "onnxruntime" if self.backend == "onnx" else "openvino"
        return {module: require(module, self.backend).__version__}

    def set_num_threads(self, threads: int) -> None:
        """Intra-op threads; the session is rebuilt (both runtimes fix them at creation)."""
        self._run = self._session(threads)

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._run(self._tokenize([texts[i] for i in idx]))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        batch = self.tokenizer(
            [t.lower() for t in texts] if self.lower_case else texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="np",
        )
        return {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in self.inputs}

    def _session(self, threads: int | None):
        path = model_file(self.folder, self.backend)
        if self.backend == "onnx":
            ort = require("onnxruntime", "onnx")
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            return lambda feed: session.run(None, feed)[0]
        ov = require("openvino", "openvino")
        config = {"INFERENCE_PRECISION_HINT": "f32"}  # never bf16/fp16 behind the user's back
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        request, output = compiled.create_infer_request(), compiled.outputs[0]
        lock = threading.Lock()  # an infer request serves one caller at a time

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            with lock:
                return request.infer(feed)[output].copy()

        return run


def _omp_threads() -> int | None:
    """OMP_NUM_THREADS, which torch's default follows too; None lets the runtime use every
    core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None
