/*
 * app.js - the dashboard page's logic (issue 15): reads the admin listener's JSON endpoints
 * (the gRPC API's answers), renders every panel with DOM text nodes only (so customer ids and
 * texts are always escaped), acts on alerts with POST /api/act, and follows /api/feed
 * (server-sent events) with fetch so the bearer token goes in a header, resuming after a
 * reconnect from the last event id.
 */
"use strict";

const state = { token: sessionStorage.getItem("churn-token") || "", lastEvent: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function headers() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

async function api(path, opts) {
  const o = Object.assign({ headers: headers() }, opts || {});
  const r = await fetch(path, o);
  if (r.status === 401) {
    document.getElementById("login").hidden = false;
    throw new Error("sign in with a token");
  }
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

const pct = (p) => (100 * (p || 0)).toFixed(1) + "%";
const money = (v) => Math.round(v || 0).toLocaleString("en-US");
const tier = (t) => (t || "UNSPECIFIED").replace(/^(RISK|VALUE)_TIER_/, "");
const when = (ms) => (ms ? new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 16) : "—");

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function customerLink(id) {
  return el("button", { class: "link", onclick: () => showCustomer(id) }, id);
}

function kpi(id, label, value, cls) {
  return el("div", { class: "kpi " + (cls || ""), id: "kpi-" + id }, el("b", {}, value), label);
}

async function loadQueue() {
  const risk = document.getElementById("f-risk").value;
  const value = document.getElementById("f-value").value;
  const q = new URLSearchParams({ page_size: "20" });
  if (risk) q.set("risk", risk);
  if (value) q.set("value", value);
  const page = await api("/api/queue?" + q);
  const rows = (page.scores || []).map((s) => el("tr", { "data-customer": s.customer_id,
    class: s.previous_model ? "previous-model" : "" },
    el("td", {}, customerLink(s.customer_id)), el("td", {}, pct(s.probability)),
    el("td", {}, money(s.customer_value)), el("td", {}, money(s.priority)),
    el("td", {}, s.previous_model ? "previous model " + s.model_version + ", until the rebuild rescores it"
      : (s.reasons || []).map((r) => r.label || r.feature).join("; ")),
    el("td", {}, (s.what_moved || []).map((m) => m.explanation || m.label).join("; ") || "—"),
    el("td", { class: "tier-" + tier(s.risk_tier) }, tier(s.risk_tier))));
  fill(document.querySelector("#queue tbody"), rows);
  return { scores: page.scores || [] };
}

async function act(seq, action, extra) {
  try {
    const body = Object.assign({ sequence: seq, action }, extra || {});
    await api("/api/act", { method: "POST", headers: Object.assign(
      { "Content-Type": "application/json" }, headers()), body: JSON.stringify(body) });
    setStatus("alert " + seq + ": " + action + " done");
    await refresh();
  } catch (e) {
    setStatus("alert " + seq + ": " + e.message);
  }
}

function actionButtons(a) {
  const seq = a.sequence;
  const day = Date.now() + 86400000;
  const box = el("span", {});
  if (a.status === "ALERT_STATUS_OPEN")
    box.append(el("button", { "data-act": "acknowledge", onclick: () => act(seq, "acknowledge") }, "Acknowledge"), " ");
  box.append(el("button", { "data-act": "snooze", onclick: () => act(seq, "snooze", { until_ms: day }) }, "Snooze 1 day"), " ",
    el("button", { "data-act": "close", onclick: () => act(seq, "close", { resolution: "saved" }) }, "Close: saved"));
  return box;
}

async function loadAlerts() {
  const page = await api("/api/alerts?status=open,acknowledged&order=priority&page_size=1000");
  const alerts = page.alerts || [];
  const rows = alerts.slice(0, 50).map((a) => el("tr", { "data-sequence": a.sequence },
    el("td", {}, a.sequence), el("td", {}, customerLink(a.customer_id)),
    el("td", {}, (a.cause || "").replace("ALERT_CAUSE_", "")), el("td", {}, money(a.priority)),
    el("td", {}, a.playbook_id || (a.suggested_action || {}).detail || "—"),
    el("td", { class: "alert-status" }, (a.status || "").replace("ALERT_STATUS_", "")),
    el("td", {}, actionButtons(a))));
  fill(document.querySelector("#alerts tbody"), rows);
  const open = alerts.filter((a) => a.status === "ALERT_STATUS_OPEN").length;
  const today = new Date().setUTCHours(0, 0, 0, 0);
  const esc = alerts.filter((a) => a.chat && Number(a.created_at_ms) >= today).length;
  return { open, esc, head: page.head_sequence || 0 };
}

function chart(points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 400 100");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "score history");
  if (points.length === 0) return svg;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const x = (t) => 10 + (380 * (t - t0)) / Math.max(1, t1 - t0);
  const y = (p) => 95 - 90 * p;
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0b5fd6");
  line.setAttribute("points", points.map((p) => x(p.t) + "," + y(p.p)).join(" "));
  svg.append(line);
  for (const p of points) {
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x(p.t)); c.setAttribute("cy", y(p.p)); c.setAttribute("r", 2.5);
    const title = document.createElementNS(ns, "title");
    title.textContent = when(p.t) + " " + pct(p.p);
    c.append(title);
    svg.append(c);
  }
  return svg;
}

async function showCustomer(id) {
  const sec = document.getElementById("customer");
  sec.hidden = false;
  const d = await api("/api/customer?id=" + encodeURIComponent(id));
  const s = d.score || {};
  const points = [];
  for (const a of (d.alerts || []).slice().reverse())
    if (a.score) points.push({ t: Number(a.score.scored_at_ms || a.created_at_ms), p: a.score.probability || 0 });
  if (s.previous) points.push({ t: Number(s.previous.scored_at_ms), p: s.previous.probability || 0 });
  points.push({ t: Number(s.scored_at_ms), p: s.probability || 0 });
  points.sort((a, b) => a.t - b.t);
  const stale = (s.freshness || {}).stale_sources || [];
  document.getElementById("customer-h").textContent = "Customer " + id;
  document.getElementById("customer-body").replaceChildren(
    el("p", { id: "customer-score" }, "Churn probability ", el("b", {}, pct(s.probability)),
      " · risk " + tier(s.risk_tier) + " · value " + money(s.customer_value) +
      " · revenue at risk " + money(s.expected_revenue_at_risk)),
    el("p", { class: stale.length ? "stale" : "" },
      stale.length ? "Stale inputs: " + stale.join(", ") : "Inputs fresh (last event " + when((s.freshness || {}).last_event_at_ms) + ")"),
    chart(points),
    el("h3", {}, "Why"), el("ul", {}, ...(s.reasons || []).map((r) => el("li", {}, r.explanation || r.label))),
    el("h3", {}, "What moved"), el("ul", {}, ...(s.what_moved || []).map((m) => el("li", {}, m.explanation || m.label))),
    el("h3", {}, "Alerts and outcomes"),
    el("ul", { id: "customer-alerts" }, ...(d.alerts || []).map((a) => el("li", {},
      "#" + a.sequence + " " + when(a.created_at_ms) + " " + (a.cause || "").replace("ALERT_CAUSE_", "") +
      " — " + (a.status || "").replace("ALERT_STATUS_", "") + (a.summary ? ": " + a.summary : "") +
      (a.chat && a.chat.excerpt ? " — chat: “" + a.chat.excerpt + "”" : "") +
      (a.outcome ? " — outcome " + (a.outcome.outcome || "").replace("OUTCOME_", "") : "")))),
    el("h3", {}, "Events timeline"),
    el("p", { id: "timeline-life", class: "note" }),
    el("ol", { id: "timeline" }),
    el("button", { id: "timeline-more", hidden: "" }, "Older events"));
  await loadTimeline(id, "");
}

/* One line of the timeline: a day's count of one kind, a plan change, an alert's moment. */
function timelineText(e) {
  const amount = e.amount === null || e.amount === undefined ? "" :
    e.what === "orders_completed" ? " · spend " + money(e.amount) :
    e.what === "sessions" ? " · " + Math.round(e.amount) + " min" :
    e.what === "reviews" ? " · average rating " + e.amount.toFixed(1) :
    e.what === "outcome" ? " · revenue " + money(e.amount) : "";
  if (e.kind === "activity" || e.kind === "chat")
    return e.day + " " + e.what.replace(/_/g, " ") + " " +
      (e.what === "dissatisfaction" ? pct(e.count) : e.count) + amount;
  if (e.kind === "plan")
    return when(e.at_ms) + " plan " + e.what + (e.detail ? " → " + e.detail : "") +
      " (" + money(e.count) + "/month)";
  if (e.kind === "alert")
    return when(e.at_ms) + " alert #" + e.alert_id + " " + e.what.replace(/_/g, " ") +
      " — " + e.detail + amount;
  return when(e.at_ms) + " " + e.what.replace(/_/g, " ") + (e.detail ? " — " + e.detail : "");
}

/* A page of GET /api/timeline appended to the list; "Older events" fetches the next one. */
async function loadTimeline(id, token) {
  const q = "/api/timeline?limit=50&id=" + encodeURIComponent(id) +
    (token ? "&page_token=" + encodeURIComponent(token) : "");
  const d = await api(q);
  const list = document.getElementById("timeline");
  if (!token) {
    list.replaceChildren();
    const l = d.lifetime || {};
    document.getElementById("timeline-life").textContent = "Lifetime: " + l.events + " events, " +
      l.logins + " logins, " + l.orders_completed + " orders (spend " + money(l.spend) + "), " +
      l.tickets_opened + " tickets, " + l.reviews + " reviews · first seen " +
      when(d.first_seen_ms) + " · " + d.total + " timeline entries";
  }
  list.append(...d.entries.map((e) => el("li", { "data-kind": e.kind }, timelineText(e))));
  const more = document.getElementById("timeline-more");
  more.hidden = !d.next_page_token;
  more.onclick = () => loadTimeline(id, d.next_page_token);
}

async function loadModel() {
  const d = await api("/api/model");
  const m = (d.info || {}).model || {};
  const t = m.metrics || {};
  const b = ((d.info || {}).registry || {}).backtest || {};
  const rows = [["Version", m.version], ["Kind", (m.kind || "").replace("MODEL_KIND_", "")],
    ["Cross-validated AUC", (t.auc || 0).toFixed(3)], ["Brier score", (t.brier || 0).toFixed(4)],
    ["Backtest AUC", b.auc ? b.auc.toFixed(3) : "—"],
    ["Calibration: mean predicted / realised", b.realised_rate ? pct(b.mean_predicted) + " / " + pct(b.realised_rate) : "—"],
    ["Trained", when(m.trained_at_ms)]];
  document.getElementById("model").replaceChildren(...rows.flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", { "data-field": k }, v || "—")]));
  fill(document.querySelector("#models tbody"), ((d.models || {}).models || []).map((e) =>
    el("tr", {}, el("td", {}, e.version), el("td", {}, (e.origin || "").replace("MODEL_ORIGIN_", "")),
      el("td", {}, when(e.trained_at_ms)), el("td", {}, e.backtest && e.backtest.auc ? e.backtest.auc.toFixed(3) : "—"),
      el("td", {}, e.serving ? "yes" : ""))));
  return m;
}

/* The lift chart: one bar per tenth of the backtest's ranking (its lift over the base rate),
 * the gains curve (cumulative share of churners captured) as points over a diagonal. */
function liftChart(l) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const node = (tag, attrs, title) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (title) { const t = document.createElementNS(ns, "title"); t.textContent = title; e.append(t); }
    svg.append(e);
    return e;
  };
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 400 110");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "lift by decile and cumulative gains");
  const top = Math.max(1, ...l.deciles.map((d) => d.lift || 0));
  const y = (v) => 100 - 90 * v;
  node("line", { x1: 10, y1: y(1 / top), x2: 390, y2: y(1 / top), stroke: "#888", "stroke-dasharray": "3 3" },
    "lift 1: no better than chance");
  node("line", { x1: 10, y1: 100, x2: 390, y2: 10, stroke: "#ccc" }, "gains of a random ranking");
  l.deciles.forEach((d, i) => {
    const h = 90 * (d.lift || 0) / top;
    node("rect", { x: 12 + 38 * i, y: 100 - h, width: 34, height: h, fill: "#9bbcf0",
      "data-lift": d.lift === null ? "" : d.lift },
      "decile " + d.decile + ": " + d.churned + " of " + d.customers + " churned, lift " +
      (d.lift === null ? "—" : d.lift.toFixed(2)));
    node("circle", { cx: 10 + 38 * (i + 1), cy: y(d.capture || 0), r: 3, fill: "#0b5fd6",
      "data-capture": d.capture === null ? "" : d.capture },
      pct(d.share) + " of customers capture " + pct(d.capture) + " of churners");
  });
  return svg;
}

async function loadLift() {
  const box = document.getElementById("lift");
  try {
    const l = await api("/api/lift");
    box.replaceChildren(liftChart(l), el("p", { class: "note" },
      "Backtest as of " + when(l.as_of_ms) + ", churn in the " + l.horizon_days + " days after: " +
      l.churned + " of " + l.customers + " customers (" + pct(l.base_rate) + "); top decile lift " +
      (l.deciles[0].lift || 0).toFixed(2) + ", captures " + pct(l.deciles[0].capture) + " of churners."));
  } catch (e) {
    box.replaceChildren(el("p", { class: "note" }, "Lift: " + e.message));
    if (/being computed/.test(e.message)) setTimeout(loadLift, 5000);
  }
}

const TIERS = ["high", "medium", "low"];

function matrix(sum) {
  const cells = {};
  for (const c of sum.cells || []) cells[c.risk + "/" + c.value] = c;
  fill(document.querySelector("#matrix tbody"), TIERS.map((risk) => el("tr", {},
    el("th", { class: "tier-" + risk.toUpperCase() }, risk),
    ...["low", "medium", "high"].map((value) => {
      const c = cells[risk + "/" + value] || {};
      return el("td", {}, el("button", { "data-cell": risk + "/" + value, onclick: () => {
        document.getElementById("f-risk").value = risk;
        document.getElementById("f-value").value = value;
        loadQueue().catch((e) => setStatus(e.message));
      } }, (c.customers || 0).toLocaleString("en-US") + " · " + money(c.revenue_at_risk)));
    }))));
}

function kpis(sum, a) {
  const br = sum.by_risk || {};
  const n = (t) => (br[t] || {}).customers || 0;
  const r = (t) => (br[t] || {}).revenue_at_risk || 0;
  const snap = sum.snapshot_taken_at_ms;
  const stale = !snap || Date.now() - Number(snap) > 36 * 3600 * 1000;
  document.getElementById("kpis").replaceChildren(
    kpi("customers", "customers scored", ((sum.total || {}).customers || 0).toLocaleString("en-US")),
    kpi("at-risk", "customers at risk (medium + high)", (n("medium") + n("high")).toLocaleString("en-US")),
    kpi("high", "high risk", n("high").toLocaleString("en-US")),
    kpi("medium", "medium risk", n("medium").toLocaleString("en-US")),
    kpi("revenue", "expected revenue at risk (medium + high)", money(r("medium") + r("high"))),
    kpi("open-alerts", "open alerts", a.open),
    kpi("escalations", "chat escalations today", a.esc),
    kpi("freshness", stale ? "daily snapshot: stale" : "daily snapshot", when(snap), stale ? "stale" : ""));
}

function lineChart(series, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 400 100");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const n = Math.max(...series.map((s) => s.values.length));
  for (const s of series) {
    const max = Math.max(1e-9, ...s.values);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", s.colour);
    line.setAttribute("points", s.values.map((v, i) =>
      (10 + (380 * i) / Math.max(1, n - 1)) + "," + (95 - (90 * v) / max)).join(" "));
    svg.append(line);
  }
  return svg;
}

async function loadTrends() {
  const d = await api("/api/trends?days=90");
  const days = d.days || [];
  const box = document.getElementById("trends");
  if (!days.length) {
    box.replaceChildren(el("p", { class: "note" }, "No daily snapshot yet: the first sweep of a day takes one."));
    return;
  }
  const atRisk = days.map((x) => (x.at_risk.high || 0) + (x.at_risk.medium || 0));
  box.replaceChildren(
    lineChart([{ values: atRisk, colour: "#b00020" },
      { values: days.map((x) => x.revenue_at_risk.total || 0), colour: "#0b5fd6" },
      { values: days.map((x) => x.churned || 0), colour: "#5a6270" }], "trends"),
    el("p", { class: "legend" }, el("span", { style: "color:#b00020" }, "at risk"),
      el("span", { style: "color:#0b5fd6" }, "revenue at risk"), el("span", { style: "color:#5a6270" }, "churned")),
    el("table", { id: "trend-days" }, el("thead", {}, el("tr", {}, ...["Day", "At risk", "Revenue at risk", "Churned", "Alerts raised"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...days.slice(-7).reverse().map((x, i) => el("tr", { "data-day": x.day },
        el("td", {}, x.day), el("td", {}, atRisk[days.length - 1 - i]), el("td", {}, money(x.revenue_at_risk.total)),
        el("td", {}, x.churned || 0), el("td", {}, x.alerts_raised || 0))))));
}

const pp = (v) => (v === null || v === undefined ? "n/a" : (100 * v >= 0 ? "+" : "") + (100 * v).toFixed(1));

async function loadPlaybooks() {
  const d = await api("/api/playbooks");
  fill(document.querySelector("#playbooks tbody"), (d.playbooks || []).map((p) => el("tr", { "data-playbook": p.playbook },
    el("td", {}, p.playbook),
    el("td", {}, p.treated_retained + "/" + (p.treated - p.treated_unknown)),
    el("td", {}, p.control_retained + "/" + (p.control - p.control_unknown)),
    el("td", {}, pp(p.diff) + " pp" + (p.diff_low === null ? "" : " [" + pp(p.diff_low) + ", " + pp(p.diff_high) + "]")),
    el("td", {}, p.revenue_retained === null ? "n/a" : money(p.revenue_retained)))));
}

async function refresh() {
  try {
    const [, a, sum] = await Promise.all([loadQueue(), loadAlerts(), api("/api/summary")]);
    kpis(sum, a);
    matrix(sum);
    setStatus("updated " + new Date().toLocaleTimeString());
    if (state.lastEvent === null) state.lastEvent = a.head;
  } catch (e) {
    setStatus(e.message);
  }
}

function addFeedItem(alert, id) {
  const feed = document.getElementById("feed");
  const chat = alert.chat ? " (chat: " + (alert.chat.excerpt || "") + ")" : "";
  feed.prepend(el("li", { "data-sequence": alert.sequence, "data-event": id }, when(alert.updated_at_ms || alert.created_at_ms) + " #" +
    alert.sequence + " " + alert.customer_id + " " + (alert.change || "").replace("ALERT_CHANGE_", "") +
    " " + (alert.cause || "").replace("ALERT_CAUSE_", "") + chat));
  while (feed.children.length > 100) feed.lastChild.remove();
}

/* One connection to /api/feed; resolves when it ends (the caller reconnects). */
async function followFeed() {
  const h = headers();
  if (state.lastEvent !== null) h["Last-Event-ID"] = String(state.lastEvent);
  const r = await fetch("/api/feed", { headers: h });
  if (!r.ok || !r.body) throw new Error("feed: " + r.status);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let id = null, data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = line.slice(4);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (id !== null && data) {
        state.lastEvent = id;
        addFeedItem(JSON.parse(data), id);
        scheduleRefresh();
      }
    }
  }
}

let refreshTimer = null;
function scheduleRefresh() {
  if (!refreshTimer) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 300);
}

async function feedLoop() {
  for (;;) {
    try { await followFeed(); } catch (e) { setStatus(e.message); }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = document.getElementById("token").value;
  sessionStorage.setItem("churn-token", state.token);
  document.getElementById("login").hidden = true;
  start();
});
for (const id of ["f-risk", "f-value"])
  document.getElementById(id).addEventListener("change", () => loadQueue().catch((e) => setStatus(e.message)));

/* The report (GET /report) needs the token too: fetched with it and opened as a page. */
document.getElementById("report-link").addEventListener("click", async (ev) => {
  if (!state.token) return; /* no tokens: the plain link works */
  ev.preventDefault();
  const r = await fetch("/report", { headers: headers() });
  if (!r.ok) { setStatus("report: " + (await r.text())); return; }
  window.open(URL.createObjectURL(await r.blob()), "_blank");
});

let started = false;
async function start() {
  await Promise.all([refresh(), ...[loadModel, loadTrends, loadPlaybooks].map((f) =>
    f().catch((e) => setStatus(e.message)))]);
  loadLift(); /* a backtest over the store: it may take a while, and never fails the page */
  document.body.dataset.loaded = "1"; /* every panel has its first data */
  if (!started && state.lastEvent !== null) {
    started = true;
    feedLoop();
  }
}
start();
