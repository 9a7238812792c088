"""Package exports imported on first use (PEP 562): a package's `__init__` names each export
once, beside the module that defines it, and `import package` loads none of them (so neither
torch nor FAISS). agentic_rag's packages use it too."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], list[str]]:
    """`(__getattr__, __all__)` for `package` from `{module: (name, ...)}`."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__, sorted(where)
