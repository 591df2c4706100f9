// runner serve's pages. Each page's data comes in a JSON block (the same JSON its endpoint
// answers) and is drawn here; every string from the database goes in as text (textContent),
// never as markup, but for the parts of a run's page that the server drew from its templates
// (which escaped every string, and which runner report's page draws each run with). While runs are live the page asks its endpoint again every data-poll ms.
"use strict";

const $ = (s, root = document) => root.querySelector(s);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    if (k === "class") e.className = v;
    else if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
  return e;
}

function num(v, digits = 4) {
  if (v == null) return "-";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(digits - 1);
  return String(+v.toPrecision(digits));
}

function dur(s) {
  if (s == null) return "-";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function note(text) {
  const n = $("#note");
  if (n) n.textContent = text;
}

const poll = +document.body.dataset.poll || 2000;
// live is false in a snapshot (runner report --format html): no server to ask, no pages to link.
const live = document.body.dataset.live !== "false";

// every polls url every poll ms (never two at once) and hands each answer to draw; it stops
// when draw returns false.
function every(url, draw) {
  const tick = async () => {
    let again = true;
    try {
      const r = await fetch(url, { cache: "no-store" });
      if (!r.ok) throw new Error(r.status + ": " + (await r.text()).trim());
      again = draw(await r.json()) !== false;
      note("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      note("not updated: " + e.message);
    }
    if (again) setTimeout(tick, poll);
  };
  setTimeout(tick, poll);
}

// ---- the runs page ----

let sortKey = "id", sortDir = -1;

function runCells(v) {
  const cols = [];
  if (v.databases && v.databases.length > 1) cols.push(["db", (r) => v.databases[r.db], (r) => r.db]);
  cols.push(
    ["id", (r) => (live ? el("a", { href: `/run/${r.db}/${r.id}` }, r.id) : r.id), (r) => r.id],
    ["spec", (r) => r.spec, (r) => r.spec],
    ["group", (r) => r.group, (r) => r.group],
    ["seed", (r) => r.seed, (r) => r.seed],
    ["status", (r) => el("span", { class: "st-" + r.status, title: r.error || null }, r.status), (r) => r.status],
    ["progress", (r) => (r.step == null ? "-" : r.step) + (r.steps ? " / " + r.steps : ""), (r) => (r.steps ? (r.step || 0) / r.steps : -1)],
    ["steps/s", (r) => num(r.steps_per_s, 3), (r) => r.steps_per_s ?? -1],
    ["ETA", (r) => dur(r.eta_s), (r) => r.eta_s ?? -1],
    ["heartbeat", (r) => (r.heartbeat_age_s == null ? "-" : dur(r.heartbeat_age_s) + " ago"), (r) => r.heartbeat_age_s ?? -1],
  );
  for (const k of v.columns) cols.push([k, (r) => num(r.summaries[k]), (r) => r.summaries[k] ?? Infinity]);
  return cols;
}

function drawRuns(v) {
  const cols = runCells(v);
  const head = el("tr", {}, ...cols.map(([name]) =>
    el("th", { class: name === sortKey ? (sortDir > 0 ? "up" : "down") : null, onclick: () => {
      sortDir = sortKey === name ? -sortDir : 1;
      sortKey = name;
      drawRuns(v);
    } }, name)));
  $("#runs thead").replaceChildren(head);
  const key = (cols.find(([name]) => name === sortKey) || cols[1])[2];
  const runs = v.runs.slice().sort((a, b) => {
    const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
  });
  const rows = v.errors.map((e) => el("tr", { class: "error" }, el("td", { colspan: cols.length }, "error: " + e)));
  for (const r of runs) {
    rows.push(el("tr", { "data-id": r.id, "data-db": r.db, "data-status": r.status }, ...cols.map(([, cell]) => el("td", {}, cell(r)))));
  }
  $("#runs tbody").replaceChildren(...rows);
  $("#summary").textContent = `${v.runs.length} runs` + (v.live ? `, ${v.live} running` : "");
  document.body.dataset.runs = v.runs.length;
}

function runsPage(v) {
  drawRuns(v);
  if (live) every("/api/runs" + location.search, (w) => { drawRuns(w); });
}

// ---- the run page ----

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

// chartGroups puts the loss first, the bound's terms by quartile of t together, then every
// other logged metric on its own.
function chartGroups(series) {
  const keys = Object.keys(series).sort();
  const groups = [];
  if (series.loss) groups.push({ title: "training loss", keys: ["loss"] });
  const vlb = keys.filter((k) => k === "vlb_t" || k.startsWith("vlb_t_q"));
  if (vlb.length) groups.push({ title: "L_t of the batch (vlb_t) and by quartile of t (q0: t near 0)", keys: vlb });
  for (const k of keys) if (k !== "loss" && !vlb.includes(k)) groups.push({ title: k, keys: [k] });
  return groups;
}

// aligned is uPlot's data for keys: the union of their steps, each series null where it has
// no value at a step.
function aligned(series, keys) {
  const steps = [...new Set(keys.flatMap((k) => series[k].steps))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const cols = keys.map((k) => {
    const out = new Array(steps.length).fill(null);
    series[k].steps.forEach((s, i) => { out[at.get(s)] = series[k].values[i]; });
    return out;
  });
  return [steps, ...cols];
}

// logScale: a log axis where every value is positive and they span more than a decade.
function logScale(data) {
  let lo = Infinity, hi = -Infinity;
  for (const col of data.slice(1)) for (const v of col) if (v != null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return lo > 0 && hi / lo > 10;
}

const charts = new Map();

function chart(box, id, title, xlabel, keys, data) {
  const log = logScale(data);
  const sig = keys.join(",") + (log ? ",log" : "");
  let c = charts.get(id);
  if (c && c.sig === sig) {
    c.u.setData(data);
  } else {
    if (c) c.u.destroy();
    let div = document.getElementById(id);
    if (!div) {
      div = el("div", { id, class: "chart" });
      box.append(div);
    }
    div.replaceChildren();
    const width = Math.max(320, Math.min(640, box.clientWidth - 16));
    const u = new uPlot({
      width, height: 240, title: title + (log ? " (log scale)" : ""),
      scales: { x: { time: false }, y: log ? { distr: 3, log: 10 } : {} },
      series: [{ label: xlabel }, ...keys.map((k, i) => ({ label: k, stroke: palette[i % palette.length], width: 1.5, spanGaps: true }))],
      axes: [{ label: xlabel }, { size: 64 }],
    }, data, div);
    c = { u, sig };
    charts.set(id, c);
  }
  const div = document.getElementById(id);
  div.dataset.points = data[0].length;
}

// drawRun draws a run's curves and puts in the parts of its page that the server drew from
// the run page's templates (head_html, body_html: escaped there), where they changed.
function drawRun(v) {
  document.title = `run ${v.id} · runner serve`;
  for (const [id, html] of [["head", v.head_html], ["body", v.body_html]]) {
    const box = document.getElementById(id);
    if (box.dataset.html !== html) {
      box.innerHTML = html;
      box.dataset.html = html;
    }
  }
  const box = $("#charts");
  chartGroups(v.series).forEach((g, i) => chart(box, "chart-" + i, g.title, "step", g.keys, aligned(v.series, g.keys)));
  if (v.bound_bits_per_dim && v.bound_bits_per_dim.length > 1) {
    const t = v.bound_bits_per_dim.map((_, i) => i).slice(1);
    chart(box, "chart-bound", "bound per timestep: L_t in bits/dim (t >= 1)", "t", ["L_t"], [t, v.bound_bits_per_dim.slice(1)]);
  }
  const none = box.querySelector("p.none");
  if (box.querySelector(".chart")) none?.remove();
  else if (!none) box.append(el("p", { class: "none" }, "no metrics logged yet"));
  return v.status === "running";
}

function runPage(v) {
  if (drawRun(v) && live) every(`/api/run/${v.db}/${v.id}`, drawRun);
}

// ---- the sweeps page ----

function drawSweeps(list) {
  const out = [];
  if (!list.length) out.push(el("p", {}, "no sweep folders given (runner serve --sweep DIR)"));
  for (const s of list) {
    out.push(el("h2", {}, s.dir));
    if (s.error) out.push(el("p", { class: "error" }, "error: " + s.error));
    const head = el("tr", {}, ...["trial", "spec", "seed", "state", "shard run", "slurm"].map((h) => el("th", {}, h)));
    const rows = s.trials.map((t) => t.error
      ? el("tr", { class: "error" }, el("td", {}, t.trial), el("td", { colspan: 5 }, "shard unreadable: " + t.error))
      : el("tr", {}, el("td", {}, t.trial), el("td", {}, t.spec), el("td", {}, t.seed),
        el("td", {}, el("span", { class: "st-" + t.state }, t.state)), el("td", {}, t.run || "-"), el("td", {}, t.slurm || "-")));
    out.push(el("table", {}, head, ...rows));
  }
  $("#sweeps").replaceChildren(...out);
}

function sweepsPage(v) {
  drawSweeps(v);
  if (live) every("/api/sweeps", drawSweeps);
}

const data = JSON.parse($("#data").textContent);
({ runs: runsPage, run: runPage, sweeps: sweepsPage })[document.body.dataset.page](data);
