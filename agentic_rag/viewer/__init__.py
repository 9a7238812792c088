"""The trajectory browser: one self-contained HTML page per evaluation run, pair of runs
(`agentic-rag eval view`) or training output folder (`agentic-rag train view`).

Data loading is Python (`eval_data`, `train_data`); the page (`page`) embeds it as inert JSON
and renders it in the browser with the DOM's text APIs only, so no text from a model, passage or
dataset can run as code; a Content-Security-Policy that admits only the page's own script and
style, and images from data: URIs, backs that up and forbids every network request.
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "agentic_rag.viewer.eval_data": ("eval_payload",),
        "agentic_rag.viewer.page": ("render_page", "write_page"),
        "agentic_rag.viewer.train_data": ("train_payload",),
    },
)
