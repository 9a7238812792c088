"""Checks a command runs on its paths before any expensive work: an output folder that is a
file, an index folder that is missing or damaged, a model that cannot load
(`models.checkpoint`) each end the command at once, not after minutes of loading and encoding."""

from __future__ import annotations

from pathlib import Path


def check_out_dir(path: str | Path, flag: str) -> None:
    """ValueError when an output folder's path is a file (or under one)."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise ValueError(
                    f"{flag} {path}: {part} is a file, not a folder; pass a folder path"
                )
            return


def check_index(source: str | None, flag: str = "--index") -> None:
    """ValueError (IndexLoadError) when an index folder cannot load: its manifest is read, the
    cheap part of loading that finds a missing, misnamed or foreign folder. URLs are not
    checked: a server may be starting."""
    if not source or source.startswith(("http://", "https://")):
        return
    from retriever_index.manifest import Manifest

    try:
        Manifest.read(source)
    except ValueError as err:
        raise type(err)(f"{flag}: {err}") from None


def check_retriever(retriever, dataset_indexes: dict[str, str] | None = None) -> None:
    """The recipe's index (unless a URL overrides it) and every per-dataset index."""
    if not retriever.url:
        check_index(retriever.index, "retriever.index (--index)")
    for name, where in (dataset_indexes or {}).items():
        check_index(where, f"--dataset-index {name}")


def check_budget(model: str, max_completion_tokens: int) -> None:
    """ValueError when rollout.max_completion_tokens leaves no room for a prompt in a local
    model's context (read from its config.json; unknown contexts are not checked)."""
    from agentic_rag.models.checkpoint import model_context

    context = model_context(model)
    if context is not None and max_completion_tokens >= context:
        raise ValueError(
            f"rollout.max_completion_tokens={max_completion_tokens} leaves no room for a prompt "
            f"in {model}'s {context}-token context: lower it"
        )
