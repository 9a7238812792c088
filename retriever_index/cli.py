"""`agentic-rag index build|search|shard|serve|verify`. Heavy libraries load inside the commands, not --help."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import warnings
from pathlib import Path

from retriever_index.base import API_KEY_ENV
from retriever_index.bm25 import BM25Config
from retriever_index.build import BuildConfig
from retriever_index.compressed import CompressedConfig
from retriever_index.export import BACKENDS, PRECISIONS
from retriever_index.hybrid import HybridConfig
from retriever_index.ray_config import RayConfig
from retriever_index.server.config import ServerConfig

KINDS = ("dense", "compressed", "bm25", "hybrid")
# flags declared once, in parent parsers; BuildConfig's fields of these names are not repeated
_ENCODER_FLAGS = ("device", "encoder_backend", "encoder_precision")


def _encoder_options() -> argparse.ArgumentParser:
    """--device, --encoder-backend, --encoder-precision: how the query/passage encoder runs."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("encoder")
    group.add_argument("--device", help="torch device of the encoder (default: cuda if present)")
    group.add_argument(
        "--encoder-backend",
        choices=BACKENDS,
        help="encoder runtime: torch, or the model exported once to onnx (ONNX Runtime) or "
        f"openvino (build default: {BuildConfig.encoder_backend}; search/serve default: the "
        "one the index was built with; another one is warned about)",
    )
    group.add_argument(
        "--encoder-precision",
        choices=PRECISIONS,
        help="fp32, or int8 with onnx/openvino (build default: "
        f"{BuildConfig.encoder_precision}; search/serve default: the index's)",
    )
    return parent


def _search_options() -> argparse.ArgumentParser:
    """--ef-search, --nprobe: how much of an approximate index a search visits."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("search")
    group.add_argument("--ef-search", type=int, help="HNSW efSearch (higher: better recall)")
    group.add_argument("--nprobe", type=int, help="IVF lists to visit (higher: better recall)")
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:
    index = subparsers.add_parser("index", help="build and search FAISS passage indexes")
    sub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    encoder, search_params = _encoder_options(), _search_options()

    build = sub.add_parser(
        "build", help="corpus JSONL -> embeddings -> FAISS index folder", parents=[encoder]
    )
    build.add_argument(
        "--kind",
        choices=KINDS,
        default="dense",
        help="dense (FAISS), compressed (IVF-PQ + exact float16 re-ranking), bm25 (bm25s), or "
        "hybrid (dense + bm25, fused by RRF) (default: dense)",
    )
    _add_config_flags(build, BuildConfig, skip=_ENCODER_FLAGS)
    _add_config_flags(build.add_argument_group("compressed"), CompressedConfig)
    _add_config_flags(build.add_argument_group("bm25 and hybrid"), BM25Config)
    _add_config_flags(build.add_argument_group("hybrid"), HybridConfig)
    build.set_defaults(func=run_build)

    search = sub.add_parser(
        "search",
        help="print the top-k passages for a query",
        parents=[search_params, encoder],
    )
    search.add_argument("dir", help="index folder written by `index build`")
    search.add_argument("query", help="query text")
    search.add_argument("-k", type=int, default=5, help="number of passages (default: 5)")
    search.add_argument("--json", action="store_true", help="print hits as a JSON list")
    search.set_defaults(func=run_search)

    shard = sub.add_parser(
        "shard", help="split a Flat or compressed index into N row ranges for `serve --ray`"
    )
    shard.add_argument("dir", help="index folder written by `index build`")
    shard.add_argument("--shards", type=int, required=True, help="number of shards")
    shard.set_defaults(func=run_shard)

    serve = sub.add_parser(
        "serve",
        help="serve an index over HTTP: Search-R1 /retrieve, typed /search, /health",
        parents=[search_params, encoder],
    )
    serve.add_argument("dir", help="index folder written by `index build` (any --kind)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"interface to bind (default: loopback only; set ${API_KEY_ENV} or --api-key-file "
        "before exposing it)",
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, each loading its own copy of the index (default: 1; one process "
        "with micro-batching usually beats several on few cores)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _add_config_flags(serve, ServerConfig)
    serve.add_argument(
        "--api-key-file",
        help=f"file holding the bearer token (first line); like ${API_KEY_ENV}, it keeps the "
        "key out of `ps`",
    )
    ray = serve.add_argument_group(
        "Ray Serve (needs the ray extra: pip install 'agentic-rag[ray]')"
    )
    ray.add_argument(
        "--ray",
        action="store_true",
        help="serve on Ray Serve: query-encoder, one deployment per shard, fan-out ingress",
    )
    _add_config_flags(ray, RayConfig)
    serve.set_defaults(func=run_serve)

    verify = sub.add_parser(
        "verify",
        help="check every byte of an index folder against its build checksums, its rows and "
        "vectors; --write records checksums for indexes built before they existed",
    )
    verify.add_argument("dir", help="index folder written by `index build` (any --kind)")
    verify.add_argument(
        "--write",
        action="store_true",
        help="after the checks pass, record checksums in a manifest that has none",
    )
    verify.set_defaults(func=run_verify)


def _add_config_flags(
    parser: argparse._ActionsContainer, config_cls: type, skip: tuple[str, ...] = ()
) -> None:
    """One flag per dataclass field, help text from its metadata: the dataclass is the spec.
    Fields in `skip` come from a parent parser."""
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata["help"]
        required = f.default is dataclasses.MISSING
        if f.type == "bool":
            action = argparse.BooleanOptionalAction if f.default else "store_true"
            parser.add_argument(flag, action=action, default=f.default, help=help_text)
            continue
        kwargs = (
            {"type": {"int": int, "float": float}[f.type]} if f.type in ("int", "float") else {}
        )
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        if not required and f.default is not None:
            help_text += f" (default: {f.default})"
        parser.add_argument(
            flag,
            required=required,
            default=None if required else f.default,
            help=help_text,
            **kwargs,
        )


def _config(config_cls: type, args: argparse.Namespace):
    """The dataclass from parsed flags; a flag left unset (None) keeps the field's default."""
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in given.items() if v is not None})


def _load_options(args: argparse.Namespace) -> dict:
    """Retriever.load keywords from the shared search and encoder flags."""
    return {
        "device": args.device,
        "ef_search": args.ef_search,
        "nprobe": args.nprobe,
        "encoder_backend": args.encoder_backend,
        "encoder_precision": args.encoder_precision,
    }


def run_build(args: argparse.Namespace) -> int:
    from retriever_index.bm25 import build_bm25
    from retriever_index.build import BuildError, build_index
    from retriever_index.compressed import build_compressed
    from retriever_index.hybrid import build_hybrid

    config = _config(BuildConfig, args)
    try:
        if args.kind == "bm25":
            manifest = build_bm25(config.corpus, config.out, _config(BM25Config, args))
        elif args.kind == "hybrid":
            bm25, hybrid = _config(BM25Config, args), _config(HybridConfig, args)
            manifest = build_hybrid(config, bm25, hybrid)
        elif args.kind == "compressed":
            manifest = build_compressed(config, _config(CompressedConfig, args))
        else:
            manifest = build_index(config)
    except (BuildError, ValueError) as e:  # CorpusError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"built {manifest.factory} index of {manifest.count} passages "
        f"({manifest.dim}-dim, {manifest.encoder}, {manifest.encoder_backend} "
        f"{manifest.encoder_precision}) in {manifest.build_seconds:.1f} s -> {config.out}"
    )
    return 0


def _warnings_as_lines() -> None:
    """Library warnings (e.g. an index without checksums) as one `warning:` line each."""
    warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)


def run_search(args: argparse.Namespace) -> int:
    from retriever_index.retriever import Retriever

    _warnings_as_lines()
    try:
        retriever = Retriever.load(args.dir, **_load_options(args))
        hits = retriever.search(args.query, args.k)
    except ValueError as e:  # IndexLoadError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([dataclasses.asdict(h) for h in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, h in enumerate(hits, start=1):
        print(f"{rank}. [{h.score:.4f}] {h.title} (id {h.id})")
        print(f"   {h.text}")
    return 0


def run_shard(args: argparse.Namespace) -> int:
    from retriever_index.shard import shard_index

    try:
        dirs = shard_index(args.dir, args.shards)
    except ValueError as e:  # ShardError and IndexLoadError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"split {args.dir} into {len(dirs)} shards -> {dirs[0].parent}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from retriever_index.checksums import check_files
    from retriever_index.manifest import Manifest
    from retriever_index.server import serve

    _warnings_as_lines()
    try:
        config = _config(ServerConfig, args)
        config.api_key = _api_key(args)
        manifest = Manifest.read(args.dir)  # a missing or damaged folder fails here, not in a
        check_files(Path(args.dir), manifest)  # worker; the worker's full load fails alike
    except ValueError as e:  # IndexLoadError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    load = _load_options(args)
    if args.ray:
        return _serve_ray(args, config, load)
    serve(
        args.dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        config=config,
        load_kwargs=load,
        log_level=args.log_level,
    )
    return 0


def _serve_ray(args: argparse.Namespace, config: ServerConfig, load: dict) -> int:
    try:
        from retriever_index.ray_serve import RayStartError, serve_ray
    except ImportError as e:
        print(
            f"error: --ray needs Ray Serve ({e}); install it with pip install 'agentic-rag[ray]'",
            file=sys.stderr,
        )
        return 2
    if args.workers != 1:
        print("error: --workers does not apply to --ray; use --replicas", file=sys.stderr)
        return 2
    try:
        serve_ray(
            args.dir,
            host=args.host,
            port=args.port,
            config=config,
            ray_config=_config(RayConfig, args),
            load=load,
            log_level=args.log_level,
        )
    except (ValueError, RayStartError) as e:  # bad flags, ShardError, IndexLoadError
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _api_key(args: argparse.Namespace) -> str | None:
    """--api-key (warned: `ps` shows it), --api-key-file, or None (serve reads the env var)."""
    if args.api_key and args.api_key_file:
        raise ValueError("give the API key once: --api-key-file or --api-key, not both")
    if args.api_key:
        print(
            f"warning: --api-key shows the key to every user of this machine in `ps`; set "
            f"${API_KEY_ENV} or pass --api-key-file PATH instead",
            file=sys.stderr,
        )
        return args.api_key
    if not args.api_key_file:
        return None
    try:
        with open(args.api_key_file, encoding="utf-8") as f:
            key = f.read(4096).strip().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read --api-key-file {args.api_key_file}: {e}") from None
    if not key or not key[0].strip():
        raise ValueError(f"--api-key-file {args.api_key_file} is empty; put the key on line 1")
    return key[0].strip()


def run_verify(args: argparse.Namespace) -> int:
    from retriever_index.verify import verify_index

    _warnings_as_lines()
    try:
        print(verify_index(args.dir, write=args.write))
    except ValueError as e:  # IndexLoadError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
