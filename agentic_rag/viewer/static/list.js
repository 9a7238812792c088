// A filtered, paginated list whose state lives in the URL hash.
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
