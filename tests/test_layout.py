"""The package layout rules, checked on the source: which part of agentic_rag may import which
(retriever_index's own rules: tests/retriever_index/test_imports.py), and how long a module may
grow. Function-level (lazy) imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400


def imports(path: Path) -> set[str]:
    """Every module name `path` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in sorted(imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("agentic_rag.rewards", ("torch", "agentic_rag.training", "agentic_rag.evaluation")),
        ("agentic_rag.evaluation", ("agentic_rag.training", "agentic_rag.offline")),
        ("agentic_rag.training", ("agentic_rag.evaluation", "agentic_rag.offline")),
        ("agentic_rag.protocols", ("agentic_rag.rollout", "agentic_rag.training")),
        ("agentic_rag.backends", ("agentic_rag.training", "agentic_rag.evaluation")),
    ],
)
def test_import_direction(package, forbidden):
    assert _offenders(package, forbidden) == []


def test_the_detector_sees_lazy_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from agentic_rag.training import grpo\n    import torch.nn\n")
    assert imports(path) == {"agentic_rag.training", "torch.nn"}


@pytest.mark.parametrize("package", ["agentic_rag", "retriever_index"])
def test_modules_stay_small(package):
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules(package)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules by job (max {MAX_LINES} lines): {long}"
