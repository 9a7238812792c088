// The page's data and DOM helpers. Every piece of data enters the page as a text node or a
// plain attribute value, never as markup, so a passage or a model output holding HTML shows as
// that text and runs nothing. (page.py joins the static/*.js files, in SCRIPTS order, inside
// one strict-mode function.)
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

function distinct(values) {
  return [...new Set(values)].sort((a, b) => (typeof a === "number" ? a - b : String(a).localeCompare(String(b))));
}
