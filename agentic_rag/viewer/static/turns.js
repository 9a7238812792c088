// One question's outcome and its trajectory, turn by turn.
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
