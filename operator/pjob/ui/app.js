// The job page: polls the read-only JSON API of `pjob ui` and draws runs,
// the step graph, progress, throughput over time, failures and the log tree.
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") e.className = v; else if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v); }
  for (const k of kids) e.append(k && k.nodeType ? k : document.createTextNode(k == null ? "" : String(k)));
  return e;
};
let current = null;          // the run shown
const history = {};          // run/step -> [[time, items done]]
let selectedStep = null;
let lastShown = null;         // the run data drawn last

async function getJSON(url) { const r = await fetch(url); if (!r.ok) throw new Error(await r.text()); return r.json(); }

async function loadRuns() {
  const data = await getJSON("/api/runs");
  $("where").textContent = data.runs_dir;
  const list = $("run-list"); list.replaceChildren();
  for (const run of data.runs) {
    const li = el("li", { "data-run": run.name, onclick: () => { location.hash = "run=" + encodeURIComponent(run.name); } },
      el("span", { class: "state " + run.state }, run.state), " ", run.name);
    if (run.name === current) li.classList.add("current");
    list.append(li);
  }
  if (!data.runs.length) list.append(el("li", {}, "no runs yet"));
  if (data.cluster) loadCluster();
}

async function loadCluster() {
  const data = await getJSON("/api/cluster");
  $("cluster-title").hidden = false;
  const list = $("cluster-list"); list.replaceChildren();
  if (data.error) list.append(el("li", {}, "cluster: " + data.error));
  for (const job of data.jobs) {
    list.append(el("li", { onclick: () => showText(job.kind + " " + job.name, job.status_text) },
      el("span", { class: "state " + job.state }, job.state), " ", job.name));
  }
}

function bar(c) {
  const total = Math.max(c.total, 1);
  return el("div", { class: "progress", title: `${c.done + c.failed}/${c.total}` },
    el("div", { class: "done", style: `width:${100 * c.done / total}%` }),
    el("div", { class: "failed", style: `width:${100 * c.failed / total}%` }));
}

function throughput(key) {
  const pts = history[key] || [];
  const rates = [];
  for (let i = 1; i < pts.length; i++) {
    const dt = pts[i][0] - pts[i - 1][0];
    if (dt > 0) rates.push([pts[i][0], (pts[i][1] - pts[i - 1][1]) / dt]);
  }
  const w = 420, h = 80, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("class", "throughput");
  const max = Math.max(1e-9, ...rates.map((r) => r[1]));
  const t0 = rates.length ? rates[0][0] : 0, t1 = rates.length ? rates[rates.length - 1][0] : 1;
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", rates.map(([t, r]) => `${(w - 4) * (t - t0) / Math.max(t1 - t0, 1e-9) + 2},${h - 2 - (h - 4) * r / max}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#1565c0"); line.setAttribute("stroke-width", "2");
  svg.append(line);
  const last = rates.length ? rates[rates.length - 1][1] : 0;
  return el("div", {}, el("div", {}, `items/s now: ${last.toFixed(1)} (peak ${rates.length ? max.toFixed(1) : 0})`), svg);
}

function graph(steps) {
  const depth = {};
  const d = (s) => depth[s.name] ??= s.needs.length ? 1 + Math.max(...s.needs.map((n) => d(steps.find((x) => x.name === n) || { name: n, needs: [] }))) : 0;
  steps.forEach(d);
  const rows = {}, pos = {};
  for (const s of steps) { const c = depth[s.name]; rows[c] = (rows[c] || 0) + 1; pos[s.name] = [c * 190, (rows[c] - 1) * 64]; }
  const height = 64 * Math.max(1, ...Object.values(rows));
  const box = el("div", { class: "graph", style: `height:${height}px` });
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", 190 * (1 + Math.max(0, ...Object.values(depth)))); svg.setAttribute("height", height);
  for (const s of steps) for (const n of s.needs) if (pos[n]) {
    const l = document.createElementNS(ns, "line");
    l.setAttribute("x1", pos[n][0] + 162); l.setAttribute("y1", pos[n][1] + 22);
    l.setAttribute("x2", pos[s.name][0]); l.setAttribute("y2", pos[s.name][1] + 22); l.setAttribute("stroke", "#889");
    svg.append(l);
  }
  box.append(svg);
  for (const s of steps) {
    box.append(el("div", { class: "node", "data-step": s.name, style: `left:${pos[s.name][0]}px;top:${pos[s.name][1]}px`,
      onclick: () => { selectedStep = s.name; document.getElementById("step-" + s.name)?.scrollIntoView(); } },
      el("b", {}, s.name), " ", el("span", { class: "state " + s.state }, s.state), el("div", { class: "hint" }, s.kind)));
  }
  return box;
}

function stepCard(run, s) {
  const card = el("div", { class: "card", id: "step-" + s.name });
  card.append(el("h3", {}, s.name + " ", el("span", { class: "state " + s.state }, s.state)));
  if (s.message) card.append(el("p", {}, s.message));
  const settings = el("table", { class: "settings" });
  for (const [k, v] of Object.entries(s.settings)) settings.append(el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : v)));
  card.append(el("details", {}, el("summary", {}, "settings"), settings));
  if (s.counters) {
    const c = s.counters, key = run.name + "/" + s.name;
    (history[key] ||= []).push([run.time, c.items_succeeded + c.items_failed]);
    card.append(bar(c), el("p", { class: "counts" },
      `${c.done + c.failed}/${c.total} mini-batches (${c.failed} failed), ${c.pending} pending, ${c.leased} running; ` +
      `items ${c.items_succeeded} succeeded, ${c.items_failed} failed; ${c.attempts} attempts`), throughput(key));
  }
  if (s.workers.length) {
    card.append(el("h4", {}, "workers"), el("ul", { class: "workers" }, ...s.workers.map((w) => el("li", {}, `node ${w.node} ${w.proc}: ${w.text}`))));
  }
  if (s.failed.length) {
    card.append(el("h4", {}, `failed mini-batches (${s.failed_count})`));
    for (const f of s.failed) {
      card.append(el("div", { class: "failure", "data-index": f.index },
        el("div", {}, `mini-batch ${f.index}: attempts ${f.attempts}, ${f.items_failed} item(s) failed`),
        f.items.length ? el("div", { class: "hint" }, f.items.join(", ")) : "",
        el("pre", { class: "traceback" }, f.error),
        el("div", {}, "replay: ", el("code", { class: "replay" }, f.replay))));
    }
  }
  if (s.files.length) {
    card.append(el("details", {}, el("summary", {}, `log tree (${s.files.length} files)`),
      el("ul", { class: "files" }, ...s.files.map((f) => el("li", { onclick: () => showLog(run.name, `steps/${s.name}/logs/${f}`) }, f)))));
  }
  return card;
}

async function showLog(run, path) {
  const r = await fetch(`/api/log?run=${encodeURIComponent(run)}&path=${encodeURIComponent(path)}`);
  showText(path, await r.text());
}

function showText(title, text) {
  $("viewer-title").textContent = title; $("viewer-text").textContent = text;
  if (!$("viewer").open) $("viewer").showModal();
}

async function loadRun() {
  if (!current) return;
  let run;
  try { run = await getJSON("/api/run?name=" + encodeURIComponent(current)); } catch (e) { $("detail").replaceChildren(el("p", {}, String(e))); return; }
  const same = JSON.stringify({ ...run, time: 0 });
  if (same === lastShown) return;  // nothing changed: keep the page (and what the reader opened) as it is
  lastShown = same;
  const open = new Set([...document.querySelectorAll("#detail details[open]")].map((d) => d.closest(".card")?.id + d.querySelector("summary").textContent));
  const detail = el("div", {}, el("h2", {}, run.name + " ", el("span", { class: "state " + run.state, id: "run-state" }, run.state)),
    el("p", { class: "hint" }, run.run_dir), graph(run.steps), ...run.steps.map((s) => stepCard(run, s)));
  $("detail").replaceChildren(detail);
  for (const d of document.querySelectorAll("#detail details")) if (open.has(d.closest(".card")?.id + d.querySelector("summary").textContent)) d.open = true;
}

function route() {
  const m = location.hash.match(/run=([^&]+)/);
  current = m ? decodeURIComponent(m[1]) : null;
  lastShown = null;
  loadRuns(); loadRun();
}

$("viewer-close").onclick = () => $("viewer").close();
window.addEventListener("hashchange", route);
route();
setInterval(loadRuns, 3000);
setInterval(loadRun, 1000);
