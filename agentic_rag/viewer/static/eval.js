// `agentic-rag eval view`: summary, comparison of two runs, the question list.
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
