// The partnership indicators page. Every figure comes from the hub's `kpis` query, asked with
// the reader's own token under the `statistics` purpose, so each look is a logged read like any
// other. The hub suppresses small counts; this page shows a suppressed count as "suppressed",
// never as zero or a blank, in the charts, the tables and the CSV. Pages are built from DOM
// nodes with text content, never HTML strings.

const TOKEN_KEY = "kinship.board.token"; // the board's: one sign-in serves both
const PURPOSE = "statistics";
const SUPPRESSED = "suppressed";
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
const alertBox = document.getElementById("alert");
const who = document.getElementById("who");

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function say(message) { alertBox.textContent = ""; statusBox.textContent = message; }
function warn(message) { statusBox.textContent = ""; alertBox.textContent = message; }

class GraphqlError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.codes = errors.map((e) => e.extensions && e.extensions.code);
  }
}

async function gql(query, variables = {}) {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json;q=0.9",
      Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`,
      "Kinship-Purpose": PURPOSE,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json().catch(() => ({ errors: [{ message: `the hub answered ${res.status}` }] }));
  if (res.status === 401) {
    signOut("Your token was refused (expired or not valid): sign in again.");
    throw new GraphqlError(body.errors || []);
  }
  if (body.errors && body.errors.length) throw new GraphqlError(body.errors);
  return body.data;
}

// ---- figures -------------------------------------------------------------------------------

/** A count as text: the number, or "suppressed". */
function count(c) { return c.suppressed ? SUPPRESSED : String(c.count); }
function countCell(c) {
  return h("td", { class: c.suppressed ? "num suppressed" : "num" }, count(c));
}
function valueText(v, unit) {
  if (v === null || v === undefined) return SUPPRESSED;
  return unit === "count" ? String(v) : `${v}${unit.startsWith("percent") ? "%" : ""}`;
}
/** A value the hub left null: suppressed when a count it needs is, otherwise not defined. */
function valueOf(row, unit) {
  if (row.value !== null && row.value !== undefined) return valueText(row.value, unit);
  const hidden = row.total.suppressed || row.cells.some((c) => c.suppressed);
  return hidden ? SUPPRESSED : "not defined";
}

/**
 * A bar chart of a KPI's monthly value. A suppressed month has no bar: it is marked
 * "suppressed" at the baseline, so it can never be read as zero.
 */
function chart(kpi) {
  const width = 760, height = 220, left = 56, bottom = 40, top = 14;
  const rows = kpi.series;
  const shown = rows.map((r) => r.value).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...shown);
  const band = (width - left - 10) / Math.max(1, rows.length);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const id = `chart-${kpi.id}`;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": `${id}-t ${id}-d`, "data-kpi": kpi.id },
    s("title", { id: `${id}-t` }, `${kpi.title} by month (${kpi.unit})`),
    s("desc", { id: `${id}-d` }, rows.map((r) => `${r.label}: ${valueOf(r, kpi.unit)}`).join("; ")));
  for (const tick of [...new Set([0, Math.round(max / 2 * 10) / 10, max])]) {
    svg.append(s("line", { x1: left, x2: width - 10, y1: y(tick), y2: y(tick), stroke: "#c8cfd6" }),
      s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", "font-size": 11 }, tick));
  }
  rows.forEach((r, i) => {
    const x = left + i * band + band * 0.15;
    const w = band * 0.7;
    if (r.value === null || r.value === undefined) {
      const text = valueOf(r, kpi.unit);
      svg.append(s("rect", { x, width: w, y: y(max), height: y(0) - y(max), fill: "none", stroke: "#8a3b00", "stroke-dasharray": "4 3", "data-suppressed": text === SUPPRESSED ? "true" : "false" },
        s("title", {}, `${r.label}: ${text}`)));
      svg.append(s("text", { x: x + w / 2, y: y(0) - 6, "text-anchor": "middle", "font-size": 10, fill: "#8a3b00" }, text === SUPPRESSED ? "supp." : "n/a"));
    } else {
      svg.append(s("rect", { x, width: w, y: y(r.value), height: Math.max(0, y(0) - y(r.value)), fill: "#1d4f91" },
        s("title", {}, `${r.label}: ${valueText(r.value, kpi.unit)}`)));
    }
    svg.append(s("text", { x: left + i * band + band / 2, y: height - bottom + 16, "text-anchor": "middle", "font-size": 11 }, r.label));
  });
  return svg;
}

/** The KPI's table: a row per month and the period, its breakdown, total and value. */
function kpiTable(kpi) {
  const heads = ["Month", ...kpi.columns.map(columnName), "Total", `Value (${kpi.unit})`];
  const rows = [...kpi.series, kpi.period];
  return h("table", { "data-kpi": kpi.id },
    h("caption", {}, `${kpi.title}: the figures`),
    h("thead", {}, h("tr", {}, heads.map((t, i) => h("th", { scope: "col", class: i ? "num" : undefined }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.label === "period" ? `Whole period (${r.from} to ${r.to})` : r.label),
      r.cells.map(countCell),
      countCell(r.total),
      h("td", { class: r.value === null ? "num suppressed" : "num" }, valueOf(r, kpi.unit))))));
}

function columnName(c) { return c.replace(/_/g, " "); }

// ---- CSV -----------------------------------------------------------------------------------

function cell(v) {
  let t = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(t)) t = `'${t}`;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** Every figure shown, one line per count: suppressed counts say so. */
function csvRows(data) {
  const out = [];
  for (const k of data.indicators) {
    for (const r of [...k.series, k.period]) {
      const line = (column, c) => [k.id, r.label, r.from, r.to, column, count(c), valueOf(r, k.unit), k.unit];
      k.columns.forEach((col, i) => out.push(line(col, r.cells[i])));
      out.push(line("total", r.total));
    }
  }
  return out;
}

function download(filename, data) {
  const headers = ["kpi", "row", "from", "to", "column", "count", "value", "unit"];
  const rows = csvRows(data);
  const text = [headers, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  say(`Exported ${rows.length} rows to ${filename}.`);
}

// ---- sign-in -------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  who.textContent = "";
  render().then(() => message && warn(message));
}

function signInPage() {
  const area = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help" });
  const form = h("form", { class: "signin", onsubmit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, area.value.trim());
    try {
      await gql("query InsightsMe { me { subject } }");
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      warn(`Sign-in failed: ${e.message}`);
      return;
    }
    await render();
  } },
  h("label", { for: "token" }, "Access token"),
  h("p", { id: "token-help", class: "muted" }, "Paste the bearer token your organisation issued to you. It stays in this tab only, and is the same sign-in as the board's pages."),
  area,
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
  return [h("h1", { tabindex: -1 }, "Sign in to see the partnership indicators"), form];
}

// ---- the page ------------------------------------------------------------------------------

const KPIS = `query Insights($from: NaiveDate!, $to: NaiveDate!, $area: String) {
  me { subject organisation roles }
  kpis(from: $from, to: $to, area: $area) {
    from to area threshold
    children { count suppressed }
    indicators {
      id title unit definition columns
      population { count suppressed }
      period { label from to value cells { count suppressed } total { count suppressed } }
      series { label from to value cells { count suppressed } total { count suppressed } }
    }
    withheld { id title reason message protocol clause }
  }
}`;

function isoDay(d) { return d.toISOString().slice(0, 10); }

function defaults() {
  const now = new Date();
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  return { from: isoDay(from), to: isoDay(now), area: "" };
}

function params() {
  const q = new URLSearchParams(location.hash.replace(/^#\/?\??/, ""));
  const d = defaults();
  return { from: q.get("from") || d.from, to: q.get("to") || d.to, area: q.get("area") || "" };
}

function filters(p) {
  const field = (id, label, attrs) => h("div", {}, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }));
  return h("form", { class: "filters", id: "kpi-filters", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const q = new URLSearchParams();
    for (const k of ["from", "to", "area"]) if (f.get(k)) q.set(k, String(f.get(k)).trim());
    location.hash = `#/?${q}`;
  } },
  field("from", "From", { type: "date", value: p.from, required: true }),
  field("to", "To", { type: "date", value: p.to, required: true }),
  field("area", "Postcode district (blank: the whole authority)", { type: "text", value: p.area, placeholder: "e.g. AN1", autocomplete: "off" }),
  h("button", { type: "submit" }, "Show"));
}

async function page() {
  const p = params();
  const head = [h("h1", { tabindex: -1 }, "Partnership indicators"), filters(p)];
  let data;
  try {
    data = await gql(KPIS, { from: p.from, to: p.to, area: p.area || null });
  } catch (e) {
    warn(`The hub refused the indicators: ${e.message}`);
    who.replaceChildren(h("button", { type: "button", id: "sign-out", onclick: () => signOut() }, "Sign out"));
    return [...head, h("p", { id: "refused" }, "No indicators to show.")];
  }
  const me = data.me;
  who.replaceChildren(h("span", {}, `${me.subject} (${me.roles.join(", ")})`),
    h("button", { type: "button", id: "sign-out", onclick: () => signOut() }, "Sign out"));
  const k = data.kpis;
  const where = k.area ? `postcode district ${k.area}` : "the whole authority";
  return [
    ...head,
    h("p", { id: "scope" }, `From ${k.from} to ${k.to}, ${where}: ${count(k.children)} children. Counts under ${k.threshold} are suppressed, and so is any count that would let one be worked out from a total; suppressed counts are marked, never shown as zero.`),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", "data-export": "kinship-indicators.csv", onclick: () => download("kinship-indicators.csv", k) }, "Export what is shown as CSV")),
    k.withheld.length ? h("section", { class: "withheld", "aria-labelledby": "withheld-h" },
      h("h2", { id: "withheld-h" }, "Withheld by the protocols"),
      h("ul", {}, k.withheld.map((w) => h("li", {}, `${w.title}: ${w.message}${w.protocol ? ` (${w.protocol} ${w.clause || ""})` : ""}`)))) : null,
    k.indicators.map((kpi) => h("section", { class: "kpi", id: `kpi-${kpi.id}`, "aria-labelledby": `h-${kpi.id}` },
      h("h2", { id: `h-${kpi.id}` }, kpi.title),
      h("p", { class: "definition" }, `${kpi.definition}.`),
      h("p", {}, "Whole period: ", h("span", { class: "headline" }, valueOf(kpi.period, kpi.unit)), ` ${kpi.unit === "count" ? "" : kpi.unit} (total ${count(kpi.period.total)}${kpi.population ? ` of ${count(kpi.population)} children` : ""})`),
      h("figure", {}, chart(kpi), h("figcaption", { class: "muted" }, `${kpi.title} by month. A dashed box marks a month whose value is suppressed.`)),
      kpiTable(kpi))),
  ];
}

async function render() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    main.replaceChildren(...signInPage());
    return;
  }
  say("Loading the indicators…");
  const content = await page();
  main.replaceChildren(...content.flat().filter(Boolean));
  if (statusBox.textContent.startsWith("Loading")) statusBox.textContent = "";
  main.querySelector("h1")?.focus();
}

window.addEventListener("hashchange", () => { render(); });
render();
