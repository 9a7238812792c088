"""Retrieval as an HTTP service: one loaded index shared by many training/eval processes.

`config` (settings, no web imports), `batcher` (merges concurrent requests into one search),
`guard` (auth and body limits, before any parsing), `app` (routes, validation, metrics) and
`main` (`serve`: uvicorn workers that each load the index). Names load on first use, so
`server.config` is read without the web stack.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "retriever_index.server.app": ("ApiError", "Metrics", "create_app"),
        "retriever_index.server.batcher": ("MicroBatcher",),
        "retriever_index.server.config": ("ServerConfig",),
        "retriever_index.server.main": ("app_from_env", "serve"),
    },
)
