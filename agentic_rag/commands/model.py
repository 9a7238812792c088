"""`agentic-rag model import-gguf FILE OUT` and `agentic-rag model list`."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "model", help="import GGUF checkpoints; list the named offline models"
    )
    sub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    imp = sub.add_parser(
        "import-gguf",
        help="GGUF file -> a plain transformers checkpoint folder",
        description="Dequantize a GGUF file whose architecture transformers reads and save a "
        "normal checkpoint (weights, tokenizer, chat template, the generation config the GGUF "
        "states) to OUT, written to a temporary folder and renamed into place.",
    )
    imp.add_argument("file", help="the .gguf file")
    imp.add_argument("out", help="checkpoint folder to create")
    imp.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16")
    imp.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    imp.set_defaults(func=run_import)
    ls = sub.add_parser("list", help="named models, whether built, and where")
    ls.set_defaults(func=run_list)


def run_import(args: argparse.Namespace) -> int:
    from agentic_rag.models.gguf_import import import_gguf

    out = import_gguf(args.file, args.out, dtype=args.dtype, overwrite=args.overwrite)
    print(f"checkpoint: {out}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from agentic_rag.models.registry import KNOWN_MODELS, cache_root, model_dir

    print(f"cache: {cache_root() / 'models'} (set AGENTIC_RAG_CACHE to move it)")
    for name, known in KNOWN_MODELS.items():
        folder = model_dir(name)
        state = "built" if folder.is_dir() else "not built (built on first use)"
        print(f"{name}  {state}  {folder}\n    {known.description}")
    return 0
