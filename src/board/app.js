// The data-sharing board's pages. Every figure comes from the hub's GraphQL API, asked with the
// board member's own token under the `audit` purpose, so the board's looks are logged like any
// other read. Pages are built from DOM nodes with text content: nothing from the log is ever
// parsed as HTML.

const TOKEN_KEY = "kinship.board.token";
const PURPOSE = "audit";
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
const alertBox = document.getElementById("alert");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

// ---- small helpers -------------------------------------------------------------------------

/** An element with attributes (on* keys become listeners) and children (strings are text). */
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
function clearMessages() { statusBox.textContent = ""; alertBox.textContent = ""; }

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}
function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }
function isoDay(date) { return date.toISOString().slice(0, 10); }
function daysAgo(n) { return new Date(Date.now() - n * 86400000); }

class GraphqlError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.codes = errors.map((e) => e.extensions && e.extensions.code);
  }
}

async function gql(query, variables = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch("/graphql", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json;q=0.9",
      Authorization: `Bearer ${token}`,
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

// ---- CSV -----------------------------------------------------------------------------------

/** One CSV cell: quoted, and defused where a spreadsheet would read it as a formula. */
function cell(v) {
  let t = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(t)) t = `'${t}`;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

function toCsv(headers, rows) {
  return [headers, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

function download(filename, headers, rows) {
  const blob = new Blob([toCsv(headers, rows)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  say(`Exported ${rows.length} rows to ${filename}.`);
}

function exportButton(label, filename, headers, rows) {
  return h("button", { type: "button", class: "secondary", "data-export": filename, onclick: () => download(filename, headers, rows()) }, label);
}

// ---- tables and charts ---------------------------------------------------------------------

/** A table with a caption; `columns` are [heading, value(row), numeric?]. */
function table(caption, columns, rows, rowAttrs = () => ({})) {
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map(([head, , num]) => h("th", { scope: "col", class: num ? "num" : undefined }, head)))),
    h("tbody", {}, rows.length
      ? rows.map((r) => h("tr", rowAttrs(r), columns.map(([, value, num]) => h("td", { class: num ? "num" : undefined }, value(r)))))
      : h("tr", {}, h("td", { colspan: columns.length }, "Nothing to show."))));
}

const PALETTE = ["#1d4f91", "#d9822b", "#2a9d8f", "#8e44ad", "#c0392b", "#6c7a89", "#b8860b", "#2e8b57"];

/**
 * A stacked bar chart: one bar per x label, one band per series. Drawn as SVG with a title and
 * description for screen readers, and followed by the same figures as a table.
 */
function stackedBars(title, xLabels, series, data) {
  const width = 760, height = 260, left = 48, bottom = 42, top = 12;
  const totals = xLabels.map((x) => series.reduce((n, sr) => n + (data[x]?.[sr] || 0), 0));
  const max = Math.max(1, ...totals);
  const band = (width - left - 10) / Math.max(1, xLabels.length);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const id = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": `${id}-t ${id}-d` },
    s("title", { id: `${id}-t` }, title),
    s("desc", { id: `${id}-d` }, xLabels.map((x, i) => `${x}: ${totals[i]}`).join("; ")));
  for (const tick of [...new Set([0, Math.round(max / 2), max])]) {
    svg.append(s("line", { x1: left, x2: width - 10, y1: y(tick), y2: y(tick), stroke: "#c8cfd6" }),
      s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", "font-size": 11 }, tick));
  }
  xLabels.forEach((x, i) => {
    let acc = 0;
    series.forEach((sr, j) => {
      const v = data[x]?.[sr] || 0;
      if (!v) return;
      const rect = s("rect", { x: left + i * band + band * 0.15, width: band * 0.7, y: y(acc + v), height: y(acc) - y(acc + v), fill: PALETTE[j % PALETTE.length] },
        s("title", {}, `${x}, ${sr}: ${v}`));
      svg.append(rect);
      acc += v;
    });
    svg.append(s("text", { x: left + i * band + band / 2, y: height - bottom + 16, "text-anchor": "middle", "font-size": 11 }, x));
  });
  const legend = h("ul", { class: "legend", "aria-hidden": "true" },
    series.map((sr, j) => h("li", {}, h("span", { class: `swatch c${j % PALETTE.length}` }), sr)));
  const figures = table(`${title}: the figures`, [["Week", (x) => x], ...series.map((sr) => [sr, (x) => data[x]?.[sr] || 0, true]), ["Total", (x) => totals[xLabels.indexOf(x)], true]], xLabels);
  return h("figure", {}, svg, legend, h("details", {}, h("summary", {}, "Show the figures as a table"), figures));
}

// ---- sign-in -------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  nav.hidden = true;
  who.textContent = "";
  location.hash = "#/";
  render().then(() => message && warn(message));
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  try {
    const data = await gql("query BoardMe { me { subject organisation roles } }");
    const roles = data.me.roles;
    if (!roles.includes("board_member") && !roles.includes("dpo")) {
      sessionStorage.removeItem(TOKEN_KEY);
      warn("This token is not a board member's or a data protection officer's: the board's pages are for them only.");
      return false;
    }
    return true;
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    warn(`Sign-in failed: ${e.message}`);
    return false;
  }
}

function signInPage() {
  nav.hidden = true;
  const area = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help" });
  const form = h("form", { class: "signin", onsubmit: async (ev) => {
    ev.preventDefault();
    if (await signIn(area.value)) { location.hash = "#/"; await render(); say("Signed in."); }
  } },
  h("label", { for: "token" }, "Access token"),
  h("p", { id: "token-help", class: "muted" }, "Paste the bearer token your organisation issued to you (`kinship demo` prints one for the demo board member). It stays in this tab only."),
  area,
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
  return [h("h1", { tabindex: -1 }, "Sign in to the board's pages"), form];
}

// ---- pages ---------------------------------------------------------------------------------

const ENTRY_FIELDS = "seq at requestId clientAddr principal organisation roles purpose justification breakGlass operationName registeredOperation queryHash outcome subjects prevHash entryHash reads { subject category owner decision protocol protocolVersion clause released withheld obligations } finding { outcome note reviewedBy reviewedAt }";

async function dashboard() {
  const to = new Date(Date.now() + 86400000);
  const from = daysAgo(7 * 12);
  const data = await gql(`query BoardDashboard($from: DateTime!, $to: DateTime!) {
    accessLogStatus { head lastVerification { verifiedAt intact entriesChecked head firstBreak breakKind } }
    accessSummary(from: $from, to: $to, groupBy: [WEEK, AGENCY]) { rows { key reads released denied breakGlass } scanLimited }
    breakGlassReview(first: 1000) { seq }
  }`, { from: from.toISOString(), to: to.toISOString() });
  const rows = data.accessSummary.rows;
  const weeks = [...new Set(rows.map((r) => r.key[0]))].sort();
  const agencies = [...new Set(rows.map((r) => r.key[1]))].sort();
  const byWeek = {};
  const outcomes = {};
  let reads = 0, denied = 0, breakGlass = 0;
  for (const r of rows) {
    const [week, agency] = r.key;
    (byWeek[week] ||= {})[agency] = (byWeek[week][agency] || 0) + r.reads;
    const o = (outcomes[week] ||= {});
    o.released = (o.released || 0) + r.released - r.breakGlass;
    o["break-glass"] = (o["break-glass"] || 0) + r.breakGlass;
    o.denied = (o.denied || 0) + r.denied;
    reads += r.reads; denied += r.denied; breakGlass += r.breakGlass;
  }
  const status = data.accessLogStatus;
  const v = status.lastVerification;
  const chain = v
    ? v.intact
      ? h("div", { class: "card good", id: "chain" }, h("span", { class: "figure" }, "Intact"), `Chain verified at ${when(v.verifiedAt)}: ${v.entriesChecked} entries up to #${v.head}.`)
      : h("div", { class: "card bad", id: "chain" }, h("span", { class: "figure" }, "Broken"), `Verified at ${when(v.verifiedAt)}: entry #${v.firstBreak} (${v.breakKind}). Tell the DPO now.`)
    : h("div", { class: "card", id: "chain" }, h("span", { class: "figure" }, "Not yet"), "This hub has not verified the chain since it started.");
  const waiting = data.breakGlassReview.length;
  return [
    h("h1", { tabindex: -1 }, "Dashboard"),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("span", { class: "figure" }, reads), "reads decided in the last 12 weeks"),
      h("div", { class: "card warn" }, h("span", { class: "figure" }, denied), "refused"),
      h("div", { class: `card ${waiting ? "bad" : "good"}` }, h("span", { class: "figure", id: "awaiting" }, waiting), h("a", { href: "#/break-glass" }, "break-glass reads awaiting review")),
      chain),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "verify", onclick: async () => {
        const r = await gql("mutation BoardVerify { verifyAccessLog { lastVerification { intact entriesChecked } } }");
        await render();
        const lv = r.verifyAccessLog.lastVerification;
        say(lv.intact ? `The chain is intact: ${lv.entriesChecked} entries checked.` : "The chain is broken: see the dashboard.");
      } }, "Verify the chain now")),
    h("h2", {}, "Reads by week and agency"),
    weeks.length ? stackedBars("Reads by week, by the reader's agency", weeks, agencies, byWeek) : h("p", {}, "No reads in the last 12 weeks."),
    h("h2", {}, "Released, break-glass and refused by week"),
    weeks.length ? stackedBars("Decisions by week", weeks, ["released", "break-glass", "denied"], outcomes) : h("p", {}, "No reads in the last 12 weeks."),
    data.accessSummary.scanLimited ? h("p", { class: "muted" }, "The counts cover the newest entries only: the period holds more than one scan reads.") : null,
  ];
}

function categoriesOf(e) { return [...new Set(e.reads.map((r) => r.category))].join(" "); }
function decisionsOf(e) { return [...new Set(e.reads.map((r) => r.decision))].join(" "); }

const LOG_HEADERS = ["seq", "at", "principal", "organisation", "roles", "purpose", "break_glass", "justification", "operation", "registered_operation", "subjects", "categories", "decisions", "outcome", "entry_hash"];
const logRow = (e) => [e.seq, e.at, e.principal, e.organisation, e.roles.join(" "), e.purpose || "", e.breakGlass, e.justification || "", e.operationName || "", e.registeredOperation || "", e.subjects.join(" "), categoriesOf(e), decisionsOf(e), e.outcome, e.entryHash];

function entriesTable(caption, entries) {
  return table(caption, [
    ["Entry", (e) => h("a", { href: `#/entry/${e.seq}` }, `#${e.seq}`)],
    ["Time", (e) => when(e.at)],
    ["Principal", (e) => e.principal],
    ["Organisation", (e) => e.organisation],
    ["Purpose", (e) => e.purpose || ""],
    ["Subjects", (e) => e.subjects.length, true],
    ["Categories", (e) => categoriesOf(e)],
    ["Decisions", (e) => decisionsOf(e)],
    ["Break-glass", (e) => (e.breakGlass ? "yes" : "")],
  ], entries, (e) => ({ class: e.breakGlass ? "flagged" : undefined }));
}

const FILTER_FIELDS = [
  ["principal", "Principal (user id)", "text"],
  ["agency", "Agency (e.g. police or police:anyshire)", "text"],
  ["subject", "Subject (person id)", "text"],
  ["category", "Category", "text"],
  ["purpose", "Purpose", "text"],
  ["decision", "Decision (e.g. permitted, break_glass)", "text"],
  ["protocol", "Protocol (e.g. P-MASH)", "text"],
  ["registeredOperation", "Registered operation id", "text"],
  ["from", "From (date)", "date"],
  ["to", "To (date, exclusive)", "date"],
];

function filterFromParams(params) {
  const f = {};
  for (const [name] of FILTER_FIELDS) {
    const v = params.get(name);
    if (!v) continue;
    f[name] = name === "from" || name === "to" ? new Date(`${v}T00:00:00Z`).toISOString() : v;
  }
  if (params.get("breakGlass") === "true") f.breakGlass = true;
  return f;
}

async function logPage(params) {
  const filter = filterFromParams(params);
  const after = params.get("after");
  const data = await gql(`query BoardLog($f: AccessLogFilter!, $after: String) {
    accessLog(filter: $f, first: 50, after: $after) { entries { ${ENTRY_FIELDS} } endCursor hasNextPage scanLimited } }`, { f: filter, after });
  const page = data.accessLog;
  const form = h("form", { class: "filters", id: "log-filters", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === "checkbox") { if (el.checked) q.set(el.name, "true"); } else if (el.value) q.set(el.name, el.value);
    }
    location.hash = `#/log?${q}`;
  } },
  FILTER_FIELDS.map(([name, label, type]) => h("div", {}, h("label", { for: `f-${name}` }, label), h("input", { id: `f-${name}`, name, type, value: params.get(name) || "" }))),
  h("div", {}, h("label", { for: "f-breakGlass" }, h("input", { id: "f-breakGlass", name: "breakGlass", type: "checkbox", class: "check", checked: params.get("breakGlass") === "true" }), " Break-glass reads only")),
  h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter"), h("a", { href: "#/log" }, "Clear")));
  const next = new URLSearchParams(params);
  if (page.endCursor) next.set("after", page.endCursor);
  return [
    h("h1", { tabindex: -1 }, "Access log"),
    form,
    h("div", { class: "actions" },
      exportButton("Export this page as CSV", "kinship-access-log.csv", LOG_HEADERS, () => page.entries.map(logRow)),
      page.hasNextPage ? h("a", { href: `#/log?${next}` }, "Older entries") : null),
    entriesTable(`${plural(page.entries.length, "entry", "entries")}, newest first`, page.entries),
    page.scanLimited ? h("p", { class: "muted" }, "The search stopped at its limit before filling the page: narrow the time range or the principal.") : null,
  ];
}

async function fetchEntry(seq) {
  const data = await gql(`query BoardEntry($after: String) { accessLog(first: 1, after: $after) { entries { ${ENTRY_FIELDS} } } }`, { after: String(seq + 1) });
  const e = data.accessLog.entries[0];
  return e && e.seq === seq ? e : null;
}

async function entryPage(seq) {
  const e = await fetchEntry(seq);
  if (!e) return [h("h1", { tabindex: -1 }, `Entry #${seq}`), h("p", {}, "There is no such entry.")];
  const field = (k, v) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : v)];
  return [
    h("h1", { tabindex: -1 }, `Entry #${e.seq}`),
    h("dl", { class: "entry" },
      field("Time", when(e.at)),
      field("Principal", e.principal),
      field("Organisation", e.organisation),
      field("Roles", e.roles.join(", ")),
      field("Purpose", e.purpose),
      field("Break-glass", e.breakGlass ? "yes" : "no"),
      field("Justification", e.justification),
      field("Operation", e.operationName),
      field("Registered operation", e.registeredOperation),
      field("Outcome", e.outcome),
      field("Request id", h("code", {}, e.requestId)),
      field("Client address", e.clientAddr),
      field("Query hash", h("code", {}, e.queryHash)),
      field("Previous hash", h("code", {}, e.prevHash)),
      field("Entry hash", h("code", {}, e.entryHash)),
      field("Board's finding", e.finding ? `${e.finding.outcome} — ${e.finding.note} (${e.finding.reviewedBy}, ${when(e.finding.reviewedAt)})` : e.breakGlass ? "awaiting review" : null)),
    table("What was read or refused", [
      ["Subject", (r) => h("a", { href: `#/subject?id=${encodeURIComponent(r.subject)}` }, r.subject)],
      ["Category", (r) => r.category],
      ["Holder", (r) => r.owner],
      ["Decision", (r) => r.decision],
      ["Protocol", (r) => (r.protocol ? `${r.protocol} ${r.protocolVersion} clause ${r.clause}` : "")],
      ["Released", (r) => r.released, true],
      ["Withheld", (r) => r.withheld, true],
      ["Obligations", (r) => r.obligations.join(", ")],
    ], e.reads),
    h("p", {}, h("a", { href: "#/log" }, "Back to the access log")),
  ];
}

async function subjectPage(params) {
  const id = params.get("id") || "";
  const input = h("input", { id: "sar-id", name: "id", value: id, required: true });
  const form = h("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/subject?id=${encodeURIComponent(input.value.trim())}`; } },
    h("div", {}, h("label", { for: "sar-id" }, "Person id"), input),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Report")));
  const out = [h("h1", { tabindex: -1 }, "Subject access report"), h("p", { class: "muted" }, "Every access to one person's data: what a subject access request or a complaint needs."), form];
  if (!id) return out;
  const data = await gql(`query BoardSubject($id: ID!) { subjectAccessReport(personId: $id) { ${ENTRY_FIELDS} } }`, { id });
  const entries = data.subjectAccessReport;
  out.push(h("div", { class: "actions" }, exportButton("Export as CSV", "kinship-subject-access-report.csv", LOG_HEADERS, () => entries.map(logRow))),
    entriesTable(`${plural(entries.length, "access", "accesses")} to this person's data`, entries));
  return out;
}

async function breakGlassPage() {
  const data = await gql(`query BoardBreakGlass { breakGlassReview(first: 100) { ${ENTRY_FIELDS} } }`);
  const queue = data.breakGlassReview;
  const forms = queue.map((e) => {
    const outcome = h("select", { id: `outcome-${e.seq}`, name: "outcome", required: true },
      h("option", { value: "" }, "Choose…"),
      h("option", { value: "APPROPRIATE" }, "Appropriate: the justification stands"),
      h("option", { value: "INAPPROPRIATE" }, "Inappropriate: follow up with the owner"),
      h("option", { value: "NEEDS_FOLLOW_UP" }, "Needs follow-up before deciding"));
    const note = h("textarea", { id: `note-${e.seq}`, name: "note", required: true });
    return h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      await gql("mutation BoardReview($seq: Int!, $outcome: FindingOutcome!, $note: String!) { reviewBreakGlass(seq: $seq, outcome: $outcome, note: $note) { outcome } }",
        { seq: e.seq, outcome: outcome.value, note: note.value });
      await render();
      say(`Finding recorded for entry #${e.seq}.`);
    } },
    h("fieldset", { class: "finding" },
      h("legend", {}, `Entry #${e.seq}: ${e.principal} (${e.organisation}), ${when(e.at)}`),
      h("p", {}, h("strong", {}, "Justification: "), e.justification || "—"),
      h("p", {}, `Read: ${categoriesOf(e)} about ${plural(e.subjects.length, "person", "people")}. `, h("a", { href: `#/entry/${e.seq}` }, "Open the entry")),
      h("label", { for: `outcome-${e.seq}` }, "Finding"), outcome,
      h("label", { for: `note-${e.seq}` }, "Note for the record"), note,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Record finding"))));
  });
  return [
    h("h1", { tabindex: -1 }, "Break-glass review"),
    h("p", {}, queue.length ? `${plural(queue.length, "break-glass read awaits", "break-glass reads await")} the board's finding.` : "No break-glass reads await review."),
    queue.length ? h("div", { class: "actions" }, exportButton("Export the queue as CSV", "kinship-break-glass-queue.csv", LOG_HEADERS, () => queue.map(logRow))) : null,
    ...forms,
  ];
}

async function protocolsPage(params) {
  const since = params.get("since") || isoDay(daysAgo(90));
  const data = await gql("query BoardProtocols($since: DateTime!) { protocolUsage(since: $since) { clauses { protocol protocolVersion clause summary released refused lastUsed } scanLimited } }",
    { since: new Date(`${since}T00:00:00Z`).toISOString() });
  const clauses = data.protocolUsage.clauses;
  const input = h("input", { id: "since", name: "since", type: "date", value: since });
  const form = h("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/protocols?since=${input.value}`; } },
    h("div", {}, h("label", { for: "since" }, "Used since"), input),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show")));
  const used = clauses.filter((c) => c.released + c.refused > 0);
  const labels = used.map((c) => `${c.protocol} ${c.clause}`);
  const chartData = Object.fromEntries(used.map((c) => [`${c.protocol} ${c.clause}`, { released: c.released, refused: c.refused }]));
  const headers = ["protocol", "version", "clause", "summary", "released", "refused", "last_used"];
  return [
    h("h1", { tabindex: -1 }, "Protocol usage"),
    form,
    used.length ? stackedBars("Reads decided by each clause", labels, ["released", "refused"], chartData) : h("p", {}, "No clause decided a read in the period."),
    h("div", { class: "actions" }, exportButton("Export as CSV", "kinship-protocol-usage.csv", headers, () => clauses.map((c) => [c.protocol, c.protocolVersion, c.clause, c.summary, c.released, c.refused, c.lastUsed || ""]))),
    h("div", { id: "clauses" }, table(`Clauses in force (${clauses.filter((c) => !c.lastUsed).length} unused since ${since}: candidates for withdrawal at review)`, [
      ["Protocol", (c) => `${c.protocol} ${c.protocolVersion}`],
      ["Clause", (c) => c.clause],
      ["Summary", (c) => c.summary],
      ["Released", (c) => c.released, true],
      ["Refused", (c) => c.refused, true],
      ["Last used", (c) => (c.lastUsed ? when(c.lastUsed) : "unused")],
    ], clauses, (c) => ({ class: c.lastUsed ? undefined : "unused" }))),
  ];
}

async function anomaliesPage() {
  const data = await gql("query BoardAnomalies($from: DateTime!, $to: DateTime!) { anomalies(from: $from, to: $to) { anomalies { kind principal organisation entries evidence } scanLimited } }",
    { from: daysAgo(30).toISOString(), to: new Date(Date.now() + 86400000).toISOString() });
  const list = data.anomalies.anomalies;
  return [
    h("h1", { tabindex: -1 }, "Anomalies in the last 30 days"),
    h("div", { class: "actions" }, exportButton("Export as CSV", "kinship-anomalies.csv", ["kind", "principal", "organisation", "evidence", "entries"], () => list.map((a) => [a.kind, a.principal, a.organisation, a.evidence, a.entries.join(" ")]))),
    table("Reads to look at, with the evidence", [
      ["Kind", (a) => a.kind.replace(/_/g, " ")],
      ["Principal", (a) => a.principal],
      ["Organisation", (a) => a.organisation],
      ["Evidence", (a) => a.evidence],
      ["Entries", (a) => a.entries.map((seq, i) => [i ? ", " : "", h("a", { href: `#/entry/${seq}` }, `#${seq}`)])],
    ], list),
  ];
}

async function operationsPage() {
  const data = await gql("query BoardOperations { registeredOperations(includeWithdrawn: true) { id application name kind approvedBy registeredAt withdrawnAt uses lastUsedAt } }");
  const ops = data.registeredOperations;
  return [
    h("h1", { tabindex: -1 }, "Registered operations"),
    h("div", { class: "actions" }, exportButton("Export as CSV", "kinship-registered-operations.csv", ["id", "application", "name", "kind", "approved_by", "registered_at", "withdrawn_at", "uses", "last_used"], () => ops.map((o) => [o.id, o.application, o.name || "", o.kind, o.approvedBy, o.registeredAt, o.withdrawnAt || "", o.uses, o.lastUsedAt || ""]))),
    table("The documents partner applications run, most used first", [
      ["Name", (o) => o.name || ""],
      ["Application", (o) => o.application],
      ["Kind", (o) => o.kind],
      ["Approved by", (o) => o.approvedBy],
      ["Uses", (o) => o.uses, true],
      ["Last used", (o) => when(o.lastUsedAt)],
      ["Entries", (o) => h("a", { href: `#/log?registeredOperation=${encodeURIComponent(o.id)}` }, "Show")],
      ["Withdrawn", (o) => when(o.withdrawnAt)],
    ], ops),
  ];
}

// ---- routing -------------------------------------------------------------------------------

const TITLES = { "": "Dashboard", log: "Access log", entry: "Entry", subject: "Subject access report", "break-glass": "Break-glass review", protocols: "Protocol usage", anomalies: "Anomalies", operations: "Registered operations" };

async function render() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query);
  const [page, arg] = path.split("/");
  let content;
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    content = signInPage();
  } else {
    nav.hidden = false;
    for (const a of nav.querySelectorAll("a")) {
      const target = a.getAttribute("href").replace(/^#\/?/, "");
      if (target === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (!who.firstChild) {
      who.append(h("button", { type: "button", id: "sign-out", onclick: () => signOut() }, "Sign out"));
    }
    main.setAttribute("aria-busy", "true");
    try {
      switch (page) {
        case "log": content = await logPage(params); break;
        case "entry": content = await entryPage(Number(arg)); break;
        case "subject": content = await subjectPage(params); break;
        case "break-glass": content = await breakGlassPage(); break;
        case "protocols": content = await protocolsPage(params); break;
        case "anomalies": content = await anomaliesPage(); break;
        case "operations": content = await operationsPage(); break;
        default: content = await dashboard();
      }
    } catch (e) {
      content = [h("h1", { tabindex: -1 }, TITLES[page] || "Board"), h("p", {}, "The hub did not answer this page.")];
      warn(e.message);
    }
    main.removeAttribute("aria-busy");
  }
  main.replaceChildren(...content.filter(Boolean));
  document.title = `${TITLES[page] ?? "Board"} — Kinship board`;
  const heading = main.querySelector("h1");
  if (heading) heading.focus();
}

window.addEventListener("hashchange", () => { clearMessages(); render(); });
render();
