"""The package layout rules: which part of agentic_rag may import which, checked on the source
(function-level imports count too) and on what importing each package really loads, in a fresh
interpreter (so an import through a third module counts too); and how long a module may grow.
retriever_index's own rules: tests/retriever_index/test_imports.py."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
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


def _loaded_by(package: str, then: str = "") -> set[str]:
    """Every module in sys.modules after a fresh interpreter imports each module of `package`
    (and runs `then`)."""
    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in modules(package)
    ]
    code = "\n".join(
        ["import importlib, json, sys", *(f"importlib.import_module({n!r})" for n in names)]
        + [then, "print(json.dumps(sorted(sys.modules)))"]
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


RECIPES = "from agentic_rag.recipe import load_recipe\n" + "\n".join(
    f"load_recipe({str(p)!r})" for p in sorted((ROOT / "recipes").glob("*.yaml"))
)


TRANSITIVE = [
    # parsing a recipe (eval, ask, `agentic-rag recipe`) loads no ML library and no stage
    ("agentic_rag.recipe", RECIPES, ("torch", "transformers", "trl", "agentic_rag.offline",
                                     "agentic_rag.training", "agentic_rag.evaluation")),
    ("agentic_rag.rewards", "", ("torch", "transformers", "agentic_rag.training",
                                 "agentic_rag.evaluation")),
    ("agentic_rag.training", "", ("agentic_rag.offline", "agentic_rag.evaluation",
                                  "agentic_rag.pipeline")),
    ("agentic_rag.evaluation", "", ("agentic_rag.offline", "agentic_rag.training",
                                    "agentic_rag.pipeline")),
    ("agentic_rag.backends", "", ("agentic_rag.training", "agentic_rag.evaluation",
                                  "agentic_rag.offline")),
    ("agentic_rag.protocols", "", ("agentic_rag.rollout", "agentic_rag.training",
                                   "agentic_rag.offline")),
    # `agentic-rag --help` builds every command's parser
    ("agentic_rag.commands", "from agentic_rag.cli import build_parser\nbuild_parser()",
     ("torch", "transformers", "trl")),
]  # fmt: skip
"""(package, code run after importing all its modules, what must not be loaded then)."""


@pytest.mark.parametrize(
    ("package", "then", "forbidden"), TRANSITIVE, ids=[case[0] for case in TRANSITIVE]
)
def test_what_importing_a_package_loads(package, then, forbidden):
    loaded = _loaded_by(package, then)
    offenders = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert offenders == [], f"importing {package} loads {offenders}"


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
