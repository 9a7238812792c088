"""The HTML file itself, without a browser: data embedded inertly, only the page's own markup
outside it, a CSP that admits exactly the page's script and style, and a script that never
turns text into markup."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from agentic_rag.viewer import eval_payload, render_page
from agentic_rag.viewer.page import SCRIPTS, STATIC, embed_json

from .fixtures import HOSTILE, PAYLOAD, write_eval_run

DATA_BLOCK = re.compile(
    r'<script type="application/json" id="viewer-data">(.*?)</script>', re.DOTALL
)


def test_embedded_json_cannot_close_its_element_and_round_trips():
    payload = {"text": PAYLOAD, "list": [1.5, float("nan"), float("inf"), None], "n": {"x": "&"}}
    embedded = embed_json(payload)
    for char in "<>&\u2028\u2029":
        assert char not in embedded
    assert json.loads(embedded) == {
        "text": PAYLOAD,
        "list": [1.5, None, None, None],  # JSON.parse rejects NaN: the page would not open
        "n": {"x": "&"},
    }


def test_hostile_text_appears_only_inside_the_data_block(tmp_path):
    a = write_eval_run(tmp_path / "a<img src=x onerror=alert(1)>", 6, seed=1, hostile=True)
    b = write_eval_run(tmp_path / "b", 6, seed=2, hostile=True, chart=False)
    payload = eval_payload(a, b)
    page = render_page(payload)

    blocks = DATA_BLOCK.findall(page)
    assert len(blocks) == 1
    assert json.loads(blocks[0]) == json.loads(embed_json(payload))
    outside = DATA_BLOCK.sub("", page)
    assert "<title>a&lt;img src=x onerror=alert(1)&gt; vs b</title>" in outside
    outside = re.sub(r"<title>.*?</title>", "", outside)
    for text in (*HOSTILE, "onerror", "window.__pwned"):
        assert text not in outside
    assert len(re.findall(r"<script\b", page)) == 2  # the data block and the page's own script


def test_csp_admits_exactly_the_inline_script_and_style(tmp_path):
    page = render_page(eval_payload(write_eval_run(tmp_path / "run", 3, chart=False)))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert "default-src &#x27;none&#x27;" in csp  # html-escaped quotes inside the attribute
    assert f"script-src &#x27;{digest(script)}&#x27;" in csp
    assert f"style-src &#x27;{digest(style)}&#x27;" in csp
    assert "img-src data:" in csp


def test_page_script_never_parses_markup():
    assert sorted(SCRIPTS) == sorted(p.name for p in STATIC.glob("*.js"))
    script = "\n".join((STATIC / name).read_text() for name in SCRIPTS)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "new Function" not in script and "DOMParser" not in script
