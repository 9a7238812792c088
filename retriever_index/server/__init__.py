"""Retrieval as an HTTP service: one loaded index shared by many training/eval processes.

`config` (settings, no web imports), `batcher` (merges concurrent requests into one search),
`guard` (auth and body limits, before any parsing), `app` (routes, validation, metrics) and
`main` (`serve`: uvicorn workers that each load the index).
"""

from retriever_index.server.app import ApiError, Metrics, create_app
from retriever_index.server.batcher import MicroBatcher
from retriever_index.server.config import ServerConfig
from retriever_index.server.main import app_from_env, serve

__all__ = [
    "ApiError",
    "Metrics",
    "MicroBatcher",
    "ServerConfig",
    "app_from_env",
    "create_app",
    "serve",
]
