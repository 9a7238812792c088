"""One self-contained HTML file: the page's script and style inline, images as data: URIs, the
data as inert JSON. Nothing is fetched when it opens, from disk or from anywhere.

Safety does not rest on escaping alone: the data sits in a `<script type="application/json">`
with every `<`, `>` and `&` written as a JSON escape (so no text can close that element), the
script renders it with text nodes only, and a Content-Security-Policy admits exactly this page's
own script and style (by hash) and data: images, so injected markup could neither run nor load.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import mimetypes
import re
from pathlib import Path
from typing import Any

STATIC = Path(__file__).with_name("static")
SCRIPTS = ("dom.js", "turns.js", "list.js", "eval.js", "train.js", "main.js")
"""The page's script, in order: one job per file, joined into one strict-mode function."""
_SLOT = re.compile(r"\{\{(TITLE|CSP|STYLE|SCRIPT|DATA)\}\}")
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


def data_uri(path: str | Path) -> str | None:
    """The file as a data: URI (images stay inside the HTML file); None when it is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON.parse rejects them and the page would not open."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def embed_json(payload: Any) -> str:
    """JSON that is safe inside a <script> element: no `<`, `>` or `&` appears in it at all
    (they can only occur inside strings, where their \\u escapes parse to the same text)."""
    text = json.dumps(_finite(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render_page(payload: dict[str, Any]) -> str:
    """The whole HTML document for an `eval_payload` or `train_payload`."""
    template = (STATIC / "viewer.html").read_text(encoding="utf-8")
    style = (STATIC / "viewer.css").read_text(encoding="utf-8")
    sources = {name: (STATIC / name).read_text(encoding="utf-8") for name in SCRIPTS}
    for name, source in [("viewer.css", style), *sources.items()]:
        end = "</style" if name.endswith(".css") else "</script"
        if end in source.lower():
            raise RuntimeError(f"{name} contains {end!r}, which would end its element early")
    script = '"use strict";\n(() => {\n' + "\n".join(sources.values()) + "})();\n"
    csp = (
        f"default-src 'none'; img-src data:; style-src {_hash(style)}; "
        f"script-src {_hash(script)}; base-uri 'none'; form-action 'none'"
    )
    values = {
        "TITLE": html.escape(str(payload.get("title", "agentic-rag"))),
        "CSP": html.escape(csp),
        "STYLE": style,
        "SCRIPT": script,
        "DATA": embed_json(payload),
    }
    # One pass over the template: inserted text is never scanned for slots again.
    return _SLOT.sub(lambda m: values[m.group(1)], template)


def write_page(payload: dict[str, Any], path: str | Path) -> Path:
    """Render and write the page (bytes as rendered: the CSP hashes cover the exact text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(render_page(payload).encode("utf-8"))
    tmp.replace(path)
    return path
