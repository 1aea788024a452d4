// meshgate topology page: polls /ui/state and redraws. Text is always set
// with textContent (object names are data, never markup).
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function ago(now, t) {
  if (!t) return "-";
  const s = Math.max(0, (new Date(now) - new Date(t)) / 1000);
  if (s < 60) return s.toFixed(0) + " s ago";
  if (s < 3600) return (s / 60).toFixed(0) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}

const drawn = {};

// fill replaces a table's rows, only when they changed (a redraw must not
// take away the row a user is about to click).
function fill(tableId, rows) {
  const key = JSON.stringify(rows);
  if (drawn[tableId] === key) return;
  drawn[tableId] = key;
  const tbody = document.querySelector("#" + tableId + " tbody");
  tbody.replaceChildren(...rows.map(cells => {
    const tr = el("tr");
    for (const c of cells) {
      const td = el("td", c.cls ? { class: c.cls } : {}, c.text !== undefined ? c.text : c);
      tr.append(td);
    }
    return tr;
  }));
  if (rows.length === 0) {
    const tr = el("tr"), td = el("td", { colspan: "9", class: "muted" }, "none");
    tr.append(td); tbody.append(tr);
  }
}

function drawTopology(st) {
  const svg = document.getElementById("topology");
  const nets = st.networks || [];
  const W = svg.clientWidth || 900, H = 320;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const kids = [];
  const n = Math.max(nets.length, 1);
  const boxW = Math.min(360, (W - 40) / n - 30), boxH = 200;
  const pos = nets.map((_, i) => ({ x: 20 + i * ((W - 40) / n) + ((W - 40) / n - boxW) / 2, y: 70 }));
  // Links first (under the boxes): every pair of networks with gateways.
  for (let i = 0; i < nets.length; i++) for (let j = i + 1; j < nets.length; j++) {
    if (!nets[i].gateways.length || !nets[j].gateways.length) continue;
    const a = pos[i], b = pos[j];
    kids.push(el("svg:line", { class: "link", x1: a.x + boxW / 2, y1: a.y - 18, x2: b.x + boxW / 2, y2: b.y - 18 }));
    kids.push(el("svg:path", { d: `M${a.x + boxW / 2} ${a.y} L${a.x + boxW / 2} ${a.y - 18}`, class: "link" }));
    kids.push(el("svg:path", { d: `M${b.x + boxW / 2} ${b.y} L${b.x + boxW / 2} ${b.y - 18}`, class: "link" }));
  }
  nets.forEach((net, i) => {
    const p = pos[i];
    const g = el("svg:g", { "data-network": net.name });
    g.append(el("svg:rect", { class: "net" + (net.gateways.length ? "" : " nogw"), x: p.x, y: p.y, width: boxW, height: boxH, rx: 10 }));
    g.append(el("svg:text", { class: "title", x: p.x + 10, y: p.y + 20 }, "network " + (net.name || "(default)")));
    if (net.gateways.length) {
      g.append(el("svg:circle", { class: "gw", cx: p.x + boxW / 2, cy: p.y, r: 7 }));
      g.append(el("svg:text", { x: p.x + boxW / 2 + 10, y: p.y - 6, "data-gateway": net.gateways.join(",") }, "east-west " + net.gateways.join(", ")));
    } else {
      g.append(el("svg:text", { class: "muted", x: p.x + 10, y: p.y + boxH - 10 }, "no east-west gateway"));
    }
    net.clusters.forEach((c, k) => {
      const cy = p.y + 50 + k * 36;
      const stateCls = c.local ? "local" : c.state === "alive" ? "alive" : c.state === "no daemon" ? "nodaemon" : "unknown";
      const cg = el("svg:g", { "data-cluster": c.id, "data-state": c.state });
      cg.append(el("svg:circle", { class: "cl " + stateCls, cx: p.x + 22, cy: cy, r: 9 }));
      cg.append(el("svg:text", { x: p.x + 38, y: cy + 4 }, `${c.id}${c.local ? " (this daemon)" : ""}`));
      cg.append(el("svg:text", { class: "small", x: p.x + 38, y: cy + 18 },
        `${c.services} services · ${c.endpoints} endpoints${c.published ? " · published " + ago(st.now, c.published) : ""}${c.state && !c.local ? " · " + c.state : ""}`));
      g.append(cg);
    });
    kids.push(g);
  });
  if (nets.length === 0) kids.push(el("svg:text", { x: 20, y: 40 }, "no configuration yet"));
  svg.replaceChildren(...kids);
}

function drawConvergence(st) {
  const box = document.getElementById("convergence");
  const parts = [];
  for (const h of st.convergence || []) {
    const d = el("div");
    const mean = h.count ? (h.sum / h.count * 1000).toFixed(1) + " ms mean" : "no samples";
    d.append(el("div", {}, `${h.label}: ${h.count} ACKs, ${mean}`));
    let prev = 0;
    const max = Math.max(1, ...h.buckets.map((b, i) => b - (i ? h.buckets[i - 1] : 0)));
    h.buckets.forEach((b, i) => {
      const cnt = b - prev; prev = b;
      if (!cnt) return;
      const row = el("div", { class: "small" });
      const bar = el("span", { class: "bar" });
      bar.style.width = Math.round(120 * cnt / max) + "px"; // CSSOM: allowed by the page's CSP, unlike a style attribute
      row.append(bar);
      row.append(document.createTextNode(`≤ ${h.bounds[i] >= 1 ? h.bounds[i] + " s" : (h.bounds[i] * 1000) + " ms"}: ${cnt}`));
      d.append(row);
    });
    parts.push(d);
  }
  if (!parts.length) parts.push(el("div", { class: "muted" }, "no gateway has ACKed yet"));
  box.replaceChildren(...parts);
}

function draw(st) {
  const self = st.self;
  document.getElementById("self").textContent =
    `cluster ${self.cluster || "?"} · network ${self.network || "(default)"}${self.mesh ? " · mesh " + self.mesh : ""} · ${self.version || ""}${self.federation ? "" : " · gossip off"}`;
  const status = document.getElementById("status");
  status.textContent = self.ready ? "ready" : "not ready";
  status.className = "pill " + (self.ready ? "ok" : "bad");
  drawTopology(st);
  document.getElementById("notes").textContent = (st.notes || []).join(" ");
  fill("members", (st.members || []).map(m => [
    { text: m.name + (m.local ? " (self)" : ""), cls: "mono" }, m.cluster,
    { text: m.state, cls: m.state === "alive" ? "ok" : "bad" }, m.published ? ago(st.now, m.published) : String(m.generation || "-"),
    ago(st.now, m.stateSince), m.local ? "-" : ago(st.now, m.lastSeen)]));
  fill("gateways", (st.gateways || []).map(g => [
    { text: g.id, cls: "mono" }, g.network || "-",
    { text: g.types.map(t => `${t.type} ${t.inSync ? "✓" : "…"}`).join("  "), cls: g.types.every(t => t.inSync) ? "ok" : "warn" },
    { text: String(g.types.reduce((a, t) => a + t.nacks, 0)) + g.types.filter(t => t.lastNack).map(t => ` (${t.type}: ${t.lastNack})`).join(""),
      cls: g.types.some(t => t.nacks) ? "bad" : "" }]));
  drawConvergence(st);
  fill("rejections", (st.rejections || []).map(r => [{ text: r.object, cls: "mono" }, r.file || "-", r.field || "-", r.error]));
}

// Explain: /debug/explain on the same admin API (same credentials).
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("explain").addEventListener("submit", async ev => {
    ev.preventDefault();
    const out = document.getElementById("ex-answer");
    const q = new URLSearchParams({ proxy: document.getElementById("ex-node").value.trim() });
    q.set(document.getElementById("ex-kind").value, document.getElementById("ex-value").value.trim());
    out.textContent = "…";
    try {
      const resp = await fetch("/debug/explain?" + q.toString(), { cache: "no-store", credentials: "same-origin" });
      const text = await resp.text();
      if (!resp.ok) { out.textContent = "error: " + text; return; }
      const x = JSON.parse(text);
      const lines = [`The proxy ${x.present ? "has" : "does NOT have"} ${Object.entries(x.query).map(([k, v]) => k + " " + v).join("")}.`];
      for (const o of x.because || []) {
        lines.push(`  from ${o.kind} ${o.object}${o.source ? " (" + o.source + ")" : ""}${o.cluster ? " [cluster " + o.cluster + "]" : ""}: ${o.detail}`);
        const l = o.learned;
        if (l) lines.push(`      learned over gossip from ${l.peer}, published by ${l.owner}, generation ${l.generation}, received ${l.receivedAt}` +
          (l.status !== "serving" ? `; ${l.status}: ${l.reason || ""}` : ""));
      }
      for (const m of x.notes || []) lines.push(`  note: ${m}`);
      for (const m of x.missing || []) lines.push(`  why not: ${m}`);
      out.textContent = lines.join("\n");
    } catch (e) {
      out.textContent = "error: " + e.message;
    }
  });
  document.getElementById("gateways").addEventListener("click", ev => {
    const td = ev.target.closest("td.mono");
    if (td) document.getElementById("ex-node").value = td.textContent;
  });
});

async function poll() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("/ui/state", { cache: "no-store", credentials: "same-origin" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    draw(await resp.json());
    document.body.dataset.updated = String(Date.now());
    // ms from navigation to the first full draw (the browser test reads it).
    if (!document.body.dataset.firstRender) document.body.dataset.firstRender = String(Math.round(performance.now()));
  } catch (e) {
    status.textContent = "daemon unreachable: " + e.message;
    status.className = "pill bad";
  }
  setTimeout(poll, 1000);
}
poll();
