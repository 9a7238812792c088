// `agentic-rag train view`: curves, training log, trajectory groups side by side.
function sampleCard(s) {
  const rewards = Object.entries(s.rewards);
  return h(
    "div",
    { class: "sample", "data-reward": missing(s.reward) ? null : s.reward },
    h("div", { class: "sample-head" }, h("span", null, `sample ${missing(s.sample) ? "?" : s.sample}`), h("span", { class: "reward" }, `reward ${fixed(s.reward, 3)}`)),
    h("div", { class: `advantage ${s.advantage > 0 ? "up" : s.advantage < 0 ? "down" : ""}` }, `advantage ${missing(s.advantage) ? "–" : (s.advantage >= 0 ? "+" : "") + s.advantage.toFixed(3)}`),
    rewards.length ? table(["reward", "value"], rewards.map(([k, v]) => [k, fixed(v, 3)]), "kv") : null,
    (s.turn_advantages || []).some((v) => v)
      ? h("div", { class: "facts muted" }, "process advantage by turn: " + s.turn_advantages.map((v, i) => `${i + 1}: ${missing(v) ? "–" : (v >= 0 ? "+" : "") + v.toFixed(3)}`).join(" · "))
      : null,
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

// summary.json as train_summary.py reads it: stages x metrics, the run's facts, YAML folds.
function summaryView(s) {
  return h(
    "div",
    { class: "run-summary" },
    h("h3", null, "summary.json"),
    s.rows.length ? h("div", { class: "table-wrap" }, table(s.columns, s.rows, "summary stages")) : null,
    s.facts.length ? table(["key", "value"], s.facts, "kv") : null,
    s.folds.map(([title, body]) => h("details", { class: "settings" }, h("summary", null, title), h("pre", null, body))),
  );
}

function trainView() {
  app.appendChild(h("header", null, h("h1", null, DATA.title), h("div", { class: "muted" }, "training output · ", DATA.path)));
  const side = [];
  if (DATA.summary) side.push(summaryView(DATA.summary));
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
