"""The trajectory browser: one self-contained HTML page per evaluation run, pair of runs
(`agentic-rag eval view`) or training output folder (`agentic-rag train view`).

Data loading is Python (`eval_data`, `train_data`); the page (`page`) embeds it as inert JSON
and renders it in the browser with the DOM's text APIs only, so no text from a model, passage or
dataset can run as code; a Content-Security-Policy that admits only the page's own script and
style, and images from data: URIs, backs that up and forbids every network request.
"""

from agentic_rag.viewer.eval_data import eval_payload
from agentic_rag.viewer.page import render_page, write_page
from agentic_rag.viewer.train_data import train_payload

__all__ = ["eval_payload", "render_page", "train_payload", "write_page"]
