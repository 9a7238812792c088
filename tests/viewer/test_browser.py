"""The pages in headless Chromium: what a person sees and clicks, that nothing is fetched or
logged as an error, that hostile text runs nothing, and that 10,000 questions stay usable."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from agentic_rag.cli import main
from agentic_rag.evaluation.predictions import read_predictions
from agentic_rag.viewer import eval_payload, write_page

from .fixtures import HOSTILE, write_eval_run, write_training_output

COUNT = 'document.getElementById("count").textContent'
ROWS = '[...document.querySelectorAll("tr.q-row")]'


def choose(page, name: str, value: str) -> str:
    """Pick `value` in the filter <select name=...> as a user would; returns the count line."""
    return page.eval(
        f"""(() => {{
            const select = document.querySelector("select[name={name}]");
            select.value = {json.dumps(value)};
            select.dispatchEvent(new Event("change"));
            return {COUNT};
        }})()"""
    )


def search(page, text: str) -> str:
    """Type into the text filter; returns the count line once the list has followed."""
    return page.eval(
        f"""new Promise(done => {{
            const box = document.querySelector("input[name=q]");
            box.value = {json.dumps(text)};
            box.dispatchEvent(new Event("input"));
            setTimeout(() => done({COUNT}), 500);
        }})"""
    )


def correctness(page) -> list[str]:
    return page.eval(f"{ROWS}.map(r => r.dataset.correct)")


def assert_clean(page, url: str) -> None:
    """Nothing but the page itself and its inline data: images was requested; no error logged."""
    others = [u[:80] for u in page.requested_urls() if u != url and not u.startswith("data:")]
    assert others == []
    assert page.errors() == []


def assert_not_blank(png) -> None:
    from matplotlib.image import imread

    pixels = imread(png)
    assert pixels.shape[0] >= 900 and float(np.std(pixels)) > 0.05


def test_real_tiny_model_run(browser, tiny_eval_run, tmp_path):
    assert main(["eval", "view", str(tiny_eval_run)]) == 0
    url = (tiny_eval_run / "report.html").as_uri()
    page = browser.open(url, 1400, 1400)
    assert page.eval("document.body.dataset.ready") == "1"
    assert_not_blank(page.screenshot(tmp_path / "tiny_run.png"))

    preds = read_predictions(tiny_eval_run)
    wrong = sum(p.em < 1 for p in preds)
    assert page.eval(COUNT).startswith(f"{len(preds)} of {len(preds)} questions")
    assert choose(page, "outcome", "incorrect").startswith(f"{wrong} of {len(preds)}")
    assert correctness(page) == ["0"] * min(wrong, 50)
    right = choose(page, "outcome", "correct")
    assert right.startswith(f"{len(preds) - wrong} of") and set(correctness(page)) <= {"1"}
    choose(page, "outcome", "")

    # a row opens on its trajectory: naive mode's retrieval, with the gold passages it found
    naive = [p for p in preds if p.mode == "naive"]
    found = sum(len(set(p.supporting_ids) & set(p.retrieved_ids)) for p in naive)
    choose(page, "mode", "naive")
    page.eval(f"{ROWS}.forEach(r => r.click())")
    assert page.eval('document.querySelectorAll("tr.detail").length') == len(naive)
    assert page.eval('document.querySelectorAll(".chip.found").length') == found > 0
    assert page.eval('document.querySelectorAll("details.retrieved li.hit").length') == sum(
        len(p.retrieved_ids) for p in naive
    )
    page.screenshot(tmp_path / "tiny_run_open.png")
    assert_clean(page, url)


def test_filters_pages_and_turns(browser, tmp_path):
    run = write_eval_run(tmp_path / "run", 60, modes=("naive", "agentic"), chart=False)
    preds = read_predictions(run)
    page_file = write_page(eval_payload(run), tmp_path / "run.html")
    url = page_file.as_uri()

    # filters come from the URL too, so a view can be bookmarked and shared
    page = browser.open(f"{url}#outcome=incorrect&dataset=nq&mode=agentic")
    expected = [p for p in preds if p.dataset == "nq" and p.mode == "agentic" and p.em < 1]
    assert page.eval(COUNT).startswith(f"{len(expected)} of 240 questions")
    assert page.eval(f"{ROWS}.map(r => r.dataset.key)") == [f"nq/agentic/{p.id}" for p in expected]

    page = browser.open(url)
    assert page.eval(COUNT) == "240 of 240 questions · page 1 of 5"
    page.eval('document.querySelector(".pager button:nth-of-type(2)").click()')
    assert page.eval(COUNT).endswith("page 2 of 5") and "page=2" in page.eval("location.hash")
    for name, value, keep in (
        ("searches", "2", lambda p: p.num_searches == 2),
        ("finish", "max_turns", lambda p: p.finish_reason == "max_turns"),
    ):
        choose(page, "outcome", "")
        choose(page, "searches", "")
        choose(page, "finish", "")
        n = sum(map(keep, preds))
        assert choose(page, name, value).startswith(f"{n} of 240")
    choose(page, "finish", "")

    def hits(p):
        return [h for t in p.turns for r in t["hits"] if isinstance(r, list) for h in r]

    # a question (both modes) whose trajectories retrieved gold and other passages
    qid = next(
        i
        for i in (f"nq-{n}" for n in range(10, 60))  # two digits: "nq-1" would match "nq-10"
        if 0
        < sum(h["id"].startswith("g") for p in preds if p.id == i for h in hits(p))
        < sum(len(hits(p)) for p in preds if p.id == i)
    )
    assert search(page, f"Question {qid} about").startswith(
        "2 of 240"
    )  # the naive and the agentic record

    # every turn, query and hit is drawn; gold hits are marked
    page.eval(f"{ROWS}.forEach(r => r.click())")
    shown = [p for p in preds if p.id == qid]
    all_hits = [h for p in shown for h in hits(p)]
    errors = [r for p in shown for t in p.turns for r in t["hits"] if isinstance(r, str)]
    assert page.eval('document.querySelectorAll(".turn").length') == sum(
        len(p.turns) for p in shown
    )
    assert page.eval('document.querySelectorAll(".turn .query").length') == sum(
        len(t["queries"]) for p in shown for t in p.turns
    )
    assert page.eval('document.querySelectorAll(".turn li.hit").length') == len(all_hits)
    assert page.eval('document.querySelectorAll(".turn li.hit.gold").length') == sum(
        h["id"].startswith("g") for h in all_hits
    )
    assert page.eval('document.querySelectorAll(".search-error").length') == len(errors)
    page.screenshot(tmp_path / "turns.png")
    assert_clean(page, url)


def test_hostile_text_runs_nothing_in_two_runs_side_by_side(browser, tmp_path):
    a = write_eval_run(tmp_path / "a", 30, seed=1, hostile=True)
    b = write_eval_run(tmp_path / "b", 30, seed=2, hostile=True, accuracy=0.6)
    out = tmp_path / "ab.html"
    assert main(["eval", "view", str(a), str(b), "-o", str(out)]) == 0
    page = browser.open(out.as_uri(), 1400, 1400)

    for page_no in (1, 2):  # draw every question's turns, both runs
        page.eval(f'location.hash = "page={page_no}"')
        page.eval("new Promise(r => setTimeout(r, 50))")
        page.eval(f"{ROWS}.forEach(r => r.click())")
        page.eval('document.querySelectorAll("details").forEach(d => d.open = true)')
        assert page.eval("document.title") == "a vs b"
        assert page.eval("typeof window.__pwned") == "undefined"
        assert page.eval('document.querySelectorAll("[onerror], [onload], svg, b, i").length') == 0
        assert page.eval("document.images.length") == 2  # the two charts
        assert page.eval("document.scripts.length") == 2
        assert page.eval('document.querySelectorAll("style").length') == 1
        body = page.eval("document.body.innerText")
        for text in HOSTILE[:4]:
            assert text in body  # shown as the text it is
    page.screenshot(tmp_path / "hostile.png")

    em_a = {p.id: p.em for p in read_predictions(a)}
    gained = [p.id for p in read_predictions(b) if p.em >= 1 > em_a[p.id]]
    heading = page.eval('document.querySelector("#flips-gained h3").firstChild.textContent')
    assert heading == f"Right in b only: {len(gained)}"
    page.eval('document.querySelector("#flips-gained h3 button").click()')
    assert page.eval(COUNT).startswith(f"{len(gained)} of 60")
    assert set(page.eval(f"{ROWS}.map(r => r.dataset.flip)")) == {"gained"}
    assert_clean(page, out.as_uri())


def test_ten_thousand_questions_open_paginated(browser, tmp_path):
    run = write_eval_run(tmp_path / "big", 5000, seed=3, chart=False)
    out = write_page(eval_payload(run), tmp_path / "big.html")
    wrong = sum(p.em < 1 for p in read_predictions(run))
    started = time.perf_counter()
    page = browser.open(out.as_uri())
    print(
        f"10,000 questions: {out.stat().st_size / 1e6:.1f} MB, ready in "
        f"{time.perf_counter() - started:.2f} s"
    )  # a figure for docs needs a quiet machine
    assert page.eval("document.body.dataset.ready") == "1"
    assert page.eval(COUNT) == "10,000 of 10,000 questions · page 1 of 200"
    assert page.eval(f"{ROWS}.length") == 50  # one page in the DOM, not 10,000 rows
    assert choose(page, "outcome", "incorrect").startswith(f"{wrong:,} of 10,000")
    assert_clean(page, out.as_uri())


def test_training_groups_beside_the_curves(browser, tmp_path):
    out = write_training_output(
        tmp_path / "train", steps=(0, 10), groups=3, hostile=True, truncated_tail=True
    )
    assert main(["train", "view", str(out)]) == 0
    url = (out / "report.html").as_uri()
    page = browser.open(url, 1400, 1400)
    page.screenshot(tmp_path / "train.png")
    assert page.eval(COUNT) == "6 of 6 groups · page 1 of 1"
    assert page.eval('document.querySelectorAll("article.group").length') == 6
    assert page.eval('document.querySelectorAll(".sample").length') == 24
    assert page.eval("document.images.length") == 1  # curves.png
    stages = 'document.querySelectorAll("table.stages tbody tr")'
    assert page.eval(f"{stages}.length") == 4
    assert page.eval(f"{stages}[3].cells[1].textContent") == "0.555"  # after GRPO, EM
    fold = page.eval('document.querySelector(".run-summary details").textContent')
    assert fold.startswith("recipe (YAML)") and "max_turns: 4" in fold
    assert "1 line skipped" in page.eval('document.querySelector("details.warning").textContent')
    assert choose(page, "rewards", "differ").startswith("4 of 6 groups")
    assert choose(page, "step", "10").startswith("2 of 6 groups")
    assert page.eval("document.title") == "train"
    assert page.eval("typeof window.__pwned") == "undefined"
    assert_clean(page, url)


@pytest.mark.parametrize("kind", ["eval", "train"])
def test_unknown_filter_values_in_the_url_are_ignored(kind, browser, tmp_path):
    """A stale or hand-edited link opens the full list, never an empty or broken page."""
    if kind == "eval":
        out = write_page(
            eval_payload(write_eval_run(tmp_path / "r", 5, chart=False)), tmp_path / "p.html"
        )
    else:
        out = tmp_path / "t" / "report.html"
        main(["train", "view", str(write_training_output(tmp_path / "t")), "-o", str(out)])
    page = browser.open(out.as_uri() + "#dataset=no-such-dataset&page=999")
    assert page.eval("document.body.dataset.ready") == "1"
    count = page.eval(COUNT)
    assert count.split(" of ")[0] != "0" and count.endswith("page 1 of 1")
    assert page.eval("location.hash") in ("", "#")
