// The trajectory browser: renders the JSON in #viewer-data. Every piece of data enters the
// page as a text node or a plain attribute value, never as markup, so a passage or a model
// output holding HTML shows as that text and runs nothing.
"use strict";
(() => {
  const DATA = JSON.parse(document.getElementById("viewer-data").textContent);
  const app = document.getElementById("app");

  // ---- DOM helpers ------------------------------------------------------------------------
  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
    return node;
  }

  // h("div", {class: "x", on: {click: f}}, "text", child, [more]): attributes are set with
  // setAttribute (names come from this file only), children are nodes or text.
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "on") {
        for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    return append(node, children);
  }

  const missing = (x) => x === null || x === undefined;
  const pct = (x) => (missing(x) ? "–" : (100 * x).toFixed(1));
  const fixed = (x, digits = 2) => (missing(x) ? "–" : Number(x).toFixed(digits));
  const signed = (x) => (missing(x) ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(1));
  const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
  const interval = (low, high) => `[${pct(low)}, ${pct(high)}]`;

  function table(head, rows, cls) {
    return h(
      "table",
      { class: cls || null },
      h("thead", null, h("tr", null, head.map((c) => h("th", null, c)))),
      h(
        "tbody",
        null,
        rows.map((row) => h("tr", null, row.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", null, c))))),
      ),
    );
  }

  function image(uri, alt) {
    if (typeof uri !== "string" || !uri.startsWith("data:image/")) return null;
    return h("img", { src: uri, alt, class: "chart" });
  }

  function settings(meta, label) {
    const entries = Object.entries(meta || {});
    if (!entries.length) return null;
    return h(
      "details",
      { class: "settings" },
      h("summary", null, label),
      table(
        ["setting", "value"],
        entries.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
        "kv",
      ),
    );
  }

  // ---- trajectories -----------------------------------------------------------------------
  const TAG = /(<\/?(?:think|search|answer|information|tool_call|tool_response)>)/g;

  function pre(text, cls) {
    if (!text.trim()) return h("div", { class: "muted" }, `(only whitespace: ${plural(text.length, "character")})`);
    const node = h("pre", { class: cls });
    text.split(TAG).forEach((part, i) => {
      if (part) node.appendChild(i % 2 ? h("span", { class: "tag" }, part) : document.createTextNode(part));
    });
    return node;
  }

  function hitList(hits) {
    if (typeof hits === "string") return h("div", { class: "search-error" }, "search failed: ", hits);
    if (!hits.length) return h("div", { class: "muted" }, "no passages returned");
    return h(
      "ol",
      { class: "hits" },
      hits.map((hit) =>
        h(
          "li",
          { class: hit.gold ? "hit gold" : "hit" },
          hit.gold ? h("span", { class: "badge gold-badge", title: "a gold supporting passage" }, "gold") : null,
          h("span", { class: "hit-title" }, hit.title || "(untitled)"),
          hit.id ? h("span", { class: "muted" }, ` #${hit.id}`) : null,
          missing(hit.score) ? null : h("span", { class: "score" }, fixed(hit.score, 3)),
        ),
      ),
    );
  }

  function turnsView(turns) {
    return turns.map((turn, i) =>
      h(
        "section",
        { class: "turn" },
        h("div", { class: "turn-head" }, `turn ${i + 1}`),
        turn.model ? pre(turn.model, "model") : h("div", { class: "muted" }, "(no text)"),
        turn.queries.map((query, j) =>
          h(
            "div",
            { class: "query" },
            h("div", { class: "query-text" }, h("span", { class: "label" }, "search"), query),
            j < turn.hits.length ? hitList(turn.hits[j]) : null,
          ),
        ),
        turn.hits.slice(turn.queries.length).map(hitList),
        turn.observation
          ? h(
              "details",
              { class: "observation" },
              h("summary", null, `what the environment appended (${plural(turn.observation.length, "char")})`),
              pre(turn.observation, "obs"),
            )
          : null,
      ),
    );
  }

  function chips(items, cls) {
    return items.map((item) => h("span", { class: `chip ${cls(item)}` }, item.text));
  }

  function passages(run) {
    const parts = [];
    if (run.gold.length) {
      const found = run.gold.filter((g) => g.found).length;
      parts.push(
        h(
          "div",
          { class: "facts" },
          h("span", { class: "label" }, `gold passages retrieved ${found}/${run.gold.length}`),
          chips(
            run.gold.map((g) => ({ text: (g.found ? "✓ " : "✗ ") + (g.title || g.id), found: g.found })),
            (g) => (g.found ? "found" : "not-found"),
          ),
        ),
      );
    }
    if (run.retrieved.length) {
      parts.push(
        h(
          "details",
          { class: "retrieved" },
          h("summary", null, `all ${plural(run.retrieved.length, "passage")} shown to the model`),
          h(
            "ol",
            { class: "hits" },
            run.retrieved.map((p) =>
              h(
                "li",
                { class: p.gold ? "hit gold" : "hit" },
                p.gold ? h("span", { class: "badge gold-badge" }, "gold") : null,
                h("span", { class: "hit-title" }, p.title || "(untitled)"),
                p.id ? h("span", { class: "muted" }, ` #${p.id}`) : null,
              ),
            ),
          ),
        ),
      );
    }
    return parts;
  }

  function legacyView(run) {
    return [
      run.queries.length
        ? h("div", { class: "facts" }, h("span", { class: "label" }, "queries"), chips(run.queries.map((q) => ({ text: q })), () => "query-chip"))
        : null,
      h("div", { class: "muted" }, "This run has no per-turn records: the whole generated text follows."),
      run.trajectory ? pre(run.trajectory, "model") : h("div", { class: "muted" }, "(no text generated)"),
    ];
  }

  function runDetail(question, run, name) {
    if (!run) return h("div", { class: "run missing" }, name ? h("h4", null, name) : null, "not answered in this run");
    return h(
      "div",
      { class: "run" },
      name ? h("h4", null, name) : null,
      h(
        "div",
        { class: `outcome ${run.correct ? "ok" : "bad"}` },
        h("div", null, h("span", { class: "label" }, "answer"), missing(run.prediction) ? h("em", null, "(no answer)") : run.prediction),
        h("div", null, h("span", { class: "label" }, "gold"), question.answers.join("  |  ")),
        h("div", { class: "scores" }, `EM ${pct(run.em)} · sub-EM ${pct(run.sub_em)} · F1 ${pct(run.f1)}`),
      ),
      h(
        "div",
        { class: "facts muted" },
        `finish: ${run.finish} · ${plural(run.searches, "search")} · ${plural(run.turns_n, "turn")} · ` +
          `${plural(run.tokens, "generated token")} · ${plural(run.invalid, "invalid action")}`,
      ),
      passages(run),
      run.turns.length ? turnsView(run.turns) : legacyView(run),
    );
  }

  // ---- a filtered, paginated list whose state lives in the URL hash ------------------------
  // filters: [{key, label, options: [[value, text]], test(item, value)}]; the text box is
  // "q" (every word must occur in haystack(item)), the page number "page".
  function filteredList({ noun, items, filters, haystack, pageSize, container, render, after }) {
    const state = {};
    const controls = {};
    const bar = h("div", { class: "filters" });
    const count = h("div", { class: "count", id: "count" });
    const pager = h("div", { class: "pager" });
    const hay = new Map();
    let written = "";

    function readHash() {
      for (const key of Object.keys(state)) delete state[key];
      for (const [k, v] of new URLSearchParams(location.hash.slice(1))) state[k] = v;
    }
    function writeHash() {
      const clean = Object.entries(state).filter(([, v]) => v !== "" && !missing(v));
      written = new URLSearchParams(clean).toString();
      if (location.hash.slice(1) !== written) location.hash = written;
    }
    function set(patch) {
      Object.assign(state, patch);
      writeHash();
      refresh();
    }
    for (const f of filters) {
      const select = h(
        "select",
        { name: f.key, on: { change: () => set({ [f.key]: select.value, page: "" }) } },
        h("option", { value: "" }, "all"),
        f.options.map(([value, text]) => h("option", { value }, text)),
      );
      controls[f.key] = select;
      bar.appendChild(h("label", null, f.label, select));
    }
    let timer = null;
    const search = h("input", {
      type: "search",
      name: "q",
      placeholder: "search text…",
      on: {
        input: () => {
          clearTimeout(timer);
          timer = setTimeout(() => set({ q: search.value, page: "" }), 200);
        },
      },
    });
    bar.appendChild(h("label", { class: "grow" }, "text", search));

    function matches(item, words) {
      for (const f of filters) {
        const value = state[f.key];
        if (value && !f.test(item, value)) return false;
      }
      if (!words.length) return true;
      let text = hay.get(item);
      if (text === undefined) hay.set(item, (text = haystack(item).toLowerCase()));
      return words.every((w) => text.includes(w));
    }

    const known = new Set(["q", "page", ...filters.map((f) => f.key)]);
    function refresh() {
      for (const key of Object.keys(state)) if (!known.has(key)) delete state[key];
      for (const f of filters) {
        const valid = f.options.some(([value]) => value === state[f.key]);
        if (!valid) delete state[f.key];
        controls[f.key].value = state[f.key] || "";
      }
      if (document.activeElement !== search) search.value = state.q || "";
      const words = (state.q || "").toLowerCase().split(/\s+/).filter(Boolean);
      const shown = items.filter((item) => matches(item, words));
      const pages = Math.max(1, Math.ceil(shown.length / pageSize));
      const page = Math.min(Math.max(parseInt(state.page, 10) || 1, 1), pages);
      state.page = page > 1 ? String(page) : "";
      writeHash(); // the address shows what is shown, unknown values dropped
      const slice = shown.slice((page - 1) * pageSize, page * pageSize);
      container.replaceChildren(...render(slice));
      count.replaceChildren(
        `${shown.length.toLocaleString("en")} of ${plural(items.length, noun)}` +
          (shown.length ? ` · page ${page} of ${pages}` : ""),
      );
      pager.replaceChildren(
        h("button", { type: "button", disabled: page <= 1, on: { click: () => set({ page: String(page - 1) }) } }, "← previous"),
        h("span", null, `page ${page} / ${pages}`),
        h("button", { type: "button", disabled: page >= pages, on: { click: () => set({ page: String(page + 1) }) } }, "next →"),
        after ? after() : null,
      );
      if (!shown.length) container.appendChild(emptyNote(noun));
    }
    function emptyNote() {
      const note = h("div", { class: "empty" }, `no ${noun} matches these filters`);
      return container.tagName === "TBODY" ? h("tr", null, h("td", { colspan: 99 }, note)) : note;
    }
    window.addEventListener("hashchange", () => {
      if (location.hash.slice(1) === written) return;
      readHash();
      refresh();
    });
    readHash();
    return { bar, count, pager, refresh, set };
  }

  function distinct(values) {
    return [...new Set(values)].sort((a, b) => (typeof a === "number" ? a - b : String(a).localeCompare(String(b))));
  }

  // ---- eval view ----------------------------------------------------------------------------
  function summaryTable(run) {
    const head = ["dataset", "mode", "n", "EM", "EM 95% CI", "sub-EM", "F1", "F1 95% CI"];
    head.push("recall (n)", "searches", "turns", "tokens", "q/s");
    const rows = run.summary.map((r) => [
      r.dataset,
      r.mode,
      r.n.toLocaleString("en"),
      pct(r.em),
      interval(r.em_low, r.em_high),
      pct(r.sub_em),
      pct(r.f1),
      interval(r.f1_low, r.f1_high),
      missing(r.recall) ? "–" : `${pct(r.recall)} (${r.recall_n})`,
      fixed(r.searches),
      fixed(r.turns),
      fixed(r.generated_tokens, 1),
      fixed(r.questions_per_s),
    ]);
    return table(head, rows, "summary");
  }

  function comparisonSection(runs, list) {
    const [a, b] = runs.map((r) => r.name);
    const parts = [h("h2", null, `${b} against ${a}`)];
    if (DATA.comparison_note) parts.push(h("p", { class: "warning" }, DATA.comparison_note));
    if (DATA.comparison) {
      const head = ["dataset", "mode", "paired n", `EM ${a}`, `EM ${b}`, "ΔEM [95% CI]", `F1 ${a}`, `F1 ${b}`, "ΔF1 [95% CI]"];
      head.push("gained", "lost", "unpaired");
      const cell = (d) => h("td", { class: d.low > 0 ? "up" : d.high < 0 ? "down" : null }, `${signed(d.diff)} [${signed(d.low)}, ${signed(d.high)}]`);
      const rows = DATA.comparison.map((r) => [
        r.dataset, r.mode, r.n.toLocaleString("en"),
        pct(r.em.a), pct(r.em.b), cell(r.em),
        pct(r.f1.a), pct(r.f1.b), cell(r.f1),
        String(r.gained), String(r.lost), `${r.only_a} / ${r.only_b}`,
      ]);
      parts.push(
        h("div", { class: "table-wrap" }, table(head, rows, "summary")),
        h(
          "p",
          { class: "muted" },
          `Scores in % over questions answered in both runs, paired by (dataset, mode, id); Δ = ${b} − ${a}; ` +
            `highlighted: the 95% CI excludes 0 (paired bootstrap). gained: wrong in ${a}, right in ${b} (exact match); ` +
            `lost: the reverse; unpaired: questions only in ${a} / only in ${b}.`,
        ),
      );
    }
    const flipBox = (kind, label) => {
      const flipped = DATA.questions.filter((q) => q.flip === kind);
      return h(
        "div",
        { class: `flips ${kind}`, id: `flips-${kind}` },
        h(
          "h3",
          null,
          `${label}: ${flipped.length}`,
          flipped.length ? h("button", { type: "button", on: { click: () => showQuestions(list, { outcome: kind }) } }, "show them below") : null,
        ),
        h(
          "ol",
          null,
          flipped.slice(0, 200).map((q) =>
            h(
              "li",
              null,
              h(
                "button",
                { type: "button", class: "link", on: { click: () => showQuestions(list, { outcome: kind, dataset: q.dataset, mode: q.mode, q: q.id }, true) } },
                `${q.dataset}/${q.mode} ${q.id}`,
              ),
              " ",
              q.question,
            ),
          ),
        ),
        flipped.length > 200 ? h("div", { class: "muted" }, `and ${flipped.length - 200} more: "show them below" lists all`) : null,
      );
    };
    parts.push(h("div", { class: "columns" }, flipBox("gained", `Right in ${b} only`), flipBox("lost", `Right in ${a} only`)));
    return h("section", null, parts);
  }

  function showQuestions(list, filters, expandFirst) {
    list.set({ dataset: "", mode: "", outcome: "", searches: "", finish: "", q: "", page: "", ...filters });
    const section = document.getElementById("questions");
    section.scrollIntoView();
    if (expandFirst) {
      const row = section.querySelector("tr.q-row");
      if (row) row.click();
    }
  }

  function evalView() {
    const runs = DATA.runs;
    const pair = runs.length === 2;
    const questions = DATA.questions;
    const present = (q) => q.runs.filter(Boolean);
    app.appendChild(
      h(
        "header",
        null,
        h("h1", null, pair ? `${runs[0].name} vs ${runs[1].name}` : runs[0].name),
        h("div", { class: "muted" }, pair ? "two evaluation runs side by side" : "evaluation run", " · ", runs.map((r) => r.path).join("  ·  ")),
      ),
    );
    app.appendChild(
      h(
        "section",
        null,
        h("h2", null, "Summary"),
        runs.map((run) => [pair ? h("h3", null, run.name) : null, h("div", { class: "table-wrap" }, summaryTable(run))]),
        h("p", { class: "muted" }, "Scores in %. CIs: ", DATA.ci_method, ". recall: share of gold passages retrieved (n: questions with gold passages)."),
        h(
          "div",
          { class: pair ? "columns" : null },
          runs.map((run) =>
            h("div", null, pair ? h("h3", null, run.name) : null, image(run.chart, `exact match by dataset and mode: ${run.name}`), settings(run.meta, "run settings")),
          ),
        ),
      ),
    );

    const outcomeOptions = pair
      ? [
          ["gained", `right in ${runs[1].name} only`],
          ["lost", `right in ${runs[0].name} only`],
          ["flipped", "either flip"],
          ["a-correct", `right in ${runs[0].name}`],
          ["a-incorrect", `wrong in ${runs[0].name}`],
          ["b-correct", `right in ${runs[1].name}`],
          ["b-incorrect", `wrong in ${runs[1].name}`],
        ]
      : [
          ["correct", "correct (EM)"],
          ["incorrect", "incorrect"],
        ];
    const outcome = (q, value) => {
      if (value === "correct" || value === "incorrect") return q.runs[0].correct === (value === "correct");
      if (value === "flipped") return q.flip !== null;
      if (value === "gained" || value === "lost") return q.flip === value;
      const run = q.runs[value[0] === "a" ? 0 : 1];
      return !!run && run.correct === value.endsWith("-correct");
    };
    const filters = [
      { key: "dataset", label: "dataset", options: distinct(questions.map((q) => q.dataset)).map((d) => [d, d]), test: (q, v) => q.dataset === v },
      { key: "mode", label: "mode", options: distinct(questions.map((q) => q.mode)).map((m) => [m, m]), test: (q, v) => q.mode === v },
      { key: "outcome", label: "outcome", options: outcomeOptions, test: outcome },
      {
        key: "searches",
        label: "searches",
        options: distinct(questions.flatMap((q) => present(q).map((r) => r.searches))).map((n) => [String(n), String(n)]),
        test: (q, v) => present(q).some((r) => String(r.searches) === v),
      },
      {
        key: "finish",
        label: "finish",
        options: distinct(questions.flatMap((q) => present(q).map((r) => r.finish))).map((f) => [f, f]),
        test: (q, v) => present(q).some((r) => r.finish === v),
      },
    ];
    const haystack = (q) =>
      [
        q.id,
        q.question,
        ...q.answers,
        ...present(q).flatMap((r) => [r.prediction || "", ...r.queries, r.trajectory, ...r.turns.map((t) => t.model)]),
      ].join("\n");

    const head = pair
      ? ["dataset", "mode", "question", "gold", `${runs[0].name}`, "EM", `${runs[1].name}`, "EM", "flip"]
      : ["dataset", "mode", "question", "gold", "answer", "EM", "F1", "searches", "finish"];
    const answerCell = (r) => (r ? (missing(r.prediction) ? h("em", { class: "muted" }, "(none)") : r.prediction) : h("em", { class: "muted" }, "(not run)"));
    const emCell = (r) => h("td", { class: r ? (r.correct ? "ok" : "bad") : null }, r ? pct(r.em) : "–");
    function rows(slice) {
      return slice.map((q) => {
        const [a, b] = q.runs;
        const cells = pair
          ? [q.dataset, q.mode, q.question, q.answers.join(" | "), answerCell(a), emCell(a), answerCell(b), emCell(b),
             q.flip === "gained" ? "✗→✓" : q.flip === "lost" ? "✓→✗" : ""]
          : [q.dataset, q.mode, q.question, q.answers.join(" | "), answerCell(a), emCell(a), pct(a.f1), String(a.searches), a.finish];
        const row = h(
          "tr",
          { class: "q-row", tabindex: 0, "data-key": `${q.dataset}/${q.mode}/${q.id}`, "data-correct": pair ? null : a.correct ? "1" : "0", "data-flip": q.flip },
          cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", null, c))),
        );
        let detail = null;
        const toggle = () => {
          if (detail) {
            detail.remove();
            detail = null;
            row.classList.remove("open");
            return;
          }
          const body = h(
            "div",
            { class: "detail-body" },
            h("div", { class: "question-line" }, h("span", { class: "label" }, q.id), q.question),
            h("div", { class: pair ? "columns" : null }, q.runs.map((r, i) => runDetail(q, r, pair ? runs[i].name : null))),
          );
          detail = h("tr", { class: "detail" }, h("td", { colspan: head.length }, body));
          row.after(detail);
          row.classList.add("open");
        };
        row.addEventListener("click", toggle);
        row.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            toggle();
          }
        });
        return row;
      });
    }
    const tbody = h("tbody");
    const list = filteredList({
      noun: "question",
      items: questions,
      filters,
      haystack,
      pageSize: 50,
      container: tbody,
      render: rows,
      after: () =>
        h("button", { type: "button", on: { click: () => tbody.querySelectorAll("tr.q-row:not(.open)").forEach((r) => r.click()) } }, "expand all on this page"),
    });
    if (pair) app.appendChild(comparisonSection(runs, list));
    app.appendChild(
      h(
        "section",
        { id: "questions" },
        h("h2", null, "Questions"),
        h("p", { class: "muted" }, "Click a row for its trajectory turn by turn. Correct means exact match with a gold answer."),
        list.bar,
        list.count,
        h("table", { class: "questions" }, h("thead", null, h("tr", null, head.map((c) => h("th", null, c)))), tbody),
        list.pager,
      ),
    );
    list.refresh();
  }

  // ---- train view ---------------------------------------------------------------------------
  function sampleCard(s) {
    const rewards = Object.entries(s.rewards);
    return h(
      "div",
      { class: "sample", "data-reward": missing(s.reward) ? null : s.reward },
      h("div", { class: "sample-head" }, h("span", null, `sample ${missing(s.sample) ? "?" : s.sample}`), h("span", { class: "reward" }, `reward ${fixed(s.reward, 3)}`)),
      h("div", { class: `advantage ${s.advantage > 0 ? "up" : s.advantage < 0 ? "down" : ""}` }, `advantage ${missing(s.advantage) ? "–" : (s.advantage >= 0 ? "+" : "") + s.advantage.toFixed(3)}`),
      rewards.length ? table(["reward", "value"], rewards.map(([k, v]) => [k, fixed(v, 3)]), "kv") : null,
      h("div", null, h("span", { class: "label" }, "answer"), missing(s.final_answer) ? h("em", { class: "muted" }, "(none)") : s.final_answer),
      h("div", { class: "facts muted" }, `finish: ${s.finish || "?"} · ${missing(s.searches) ? "?" : plural(s.searches, "search")}`),
      h("div", { class: "sample-turns" }, s.turns.length ? turnsView(s.turns) : h("div", { class: "muted" }, "(no turns recorded)")),
    );
  }

  function groupCard(g) {
    return h(
      "article",
      { class: "group" },
      h(
        "div",
        { class: "group-head" },
        h("span", { class: "label" }, `step ${g.step} · prompt ${g.group}`),
        h("span", { class: "question" }, g.question),
        h("span", null, h("span", { class: "label" }, "gold"), g.answers.join(" | ")),
        h("span", { class: "muted" }, `mean reward ${fixed(g.mean_reward, 3)}${g.mixed ? "" : " · all rewards equal: no learning signal"}`),
      ),
      h("div", { class: "samples" }, g.samples.map(sampleCard)),
    );
  }

  function trainView() {
    app.appendChild(h("header", null, h("h1", null, DATA.title), h("div", { class: "muted" }, "training output · ", DATA.path)));
    const side = [];
    if (DATA.summary) side.push(h("h3", null, "summary.json"), table(["key", "value"], Object.entries(DATA.summary).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]), "kv"));
    if (DATA.log) {
      side.push(
        h(
          "details",
          { class: "log" },
          h("summary", null, `training log: ${plural(DATA.log.rows.length, "logged step")} (${DATA.log.source})`),
          h("div", { class: "scroll" }, table(DATA.log.columns, DATA.log.rows.map((row) => row.map((v, i) => (i === 0 ? fixed(v, 0) : fixed(v, 4)))), "log-table")),
        ),
      );
    }
    app.appendChild(
      h(
        "section",
        { class: "curves-panel" },
        DATA.curves ? image(DATA.curves, "training curves") : h("p", { class: "muted" }, "no curves.png in this folder yet"),
        h("div", { class: "side" }, side),
      ),
    );
    if (DATA.problems_total) {
      app.appendChild(
        h(
          "details",
          { class: "warning" },
          h("summary", null, `${plural(DATA.problems_total, "line")} skipped in the trajectory files`),
          h("ul", null, DATA.problems.map((p) => h("li", null, p))),
        ),
      );
    }
    const groups = DATA.groups;
    const container = h("div", { class: "groups" });
    const list = filteredList({
      noun: "group",
      items: groups,
      filters: [
        { key: "step", label: "step", options: distinct(groups.map((g) => g.step)).map((s) => [String(s), String(s)]), test: (g, v) => String(g.step) === v },
        {
          key: "rewards",
          label: "rewards",
          options: [["differ", "differ within the group"], ["equal", "all equal"]],
          test: (g, v) => g.mixed === (v === "differ"),
        },
        {
          key: "finish",
          label: "finish",
          options: distinct(groups.flatMap((g) => g.samples.map((s) => s.finish))).map((f) => [f, f]),
          test: (g, v) => g.samples.some((s) => s.finish === v),
        },
      ],
      haystack: (g) => [g.question, ...g.answers, ...g.samples.flatMap((s) => [s.final_answer || "", ...s.turns.map((t) => t.model)])].join("\n"),
      pageSize: 10,
      container,
      render: (slice) => slice.map(groupCard),
    });
    app.appendChild(
      h(
        "section",
        { id: "groups" },
        h("h2", null, "Trajectory groups"),
        DATA.samples_dir
          ? h("p", { class: "muted" }, `The G trajectories of one prompt side by side, with each one's reward and advantage (from ${DATA.samples_dir}).`)
          : h("p", { class: "muted" }, "No trajectories/ folder here: training writes sampled groups there when the recipe asks for them."),
        list.bar,
        list.count,
        container,
        list.pager,
      ),
    );
    list.refresh();
  }

  if (DATA.kind === "train") trainView();
  else evalView();
  document.body.setAttribute("data-ready", "1");
})();
