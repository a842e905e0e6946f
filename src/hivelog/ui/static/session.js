// hivelog session page: the event tree beside a waterfall timeline, on one time axis.
// Only the rows in view exist in the DOM (24 px each), so a 10,000-event session scrolls
// like a 10-event one; collapsed subtrees cost nothing. An event's detail loads on click.
"use strict";
(function () {
  const ROW = 24, OVERSCAN = 12;
  const data = JSON.parse(document.getElementById("outline").textContent);
  const tree = document.querySelector("[data-tree]");
  const spacer = document.querySelector("[data-spacer]");
  const project = document.querySelector(".trace").dataset.project;
  const n = data.length;
  const kids = Array.from({ length: n }, () => []);
  const parent = new Int32Array(n).fill(-1);
  const depth = new Int32Array(n);
  const open = new Uint8Array(n);
  const byId = new Map();
  data.forEach((r, i) => byId.set(r[0], i));
  const roots = [];
  data.forEach((r, i) => { if (r[1] >= 0 && r[1] !== i) { kids[r[1]].push(i); parent[i] = r[1]; } else roots.push(i); });
  // Depths by walking from the roots; events caught in a parent cycle become roots too.
  const seen = new Uint8Array(n);
  function walk(start, d0) {
    const stack = [[start, d0]];
    while (stack.length) {
      const [i, d] = stack.pop();
      if (seen[i]) continue;
      seen[i] = 1; depth[i] = d;
      for (let k = kids[i].length - 1; k >= 0; k--) stack.push([kids[i][k], d + 1]);
    }
  }
  roots.forEach((i) => walk(i, 0));
  for (let i = 0; i < n; i++) if (!seen[i]) { parent[i] = -1; roots.push(i); walk(i, 0); }

  let t0 = Infinity, t1 = -Infinity;
  for (const r of data) { t0 = Math.min(t0, r[4]); t1 = Math.max(t1, r[5], r[4] + r[6]); }
  const span = Math.max(1, t1 - t0);

  // Everything open when small; otherwise the first two levels, the rest opens on demand.
  for (let i = 0; i < n; i++) open[i] = n <= 2000 || depth[i] < 1 ? 1 : 0;

  let visible = new Int32Array(0), selected = -1;
  function flatten() {
    const out = [];
    const stack = roots.slice().reverse();
    while (stack.length) {
      const i = stack.pop();
      out.push(i);
      if (open[i]) for (let k = kids[i].length - 1; k >= 0; k--) stack.push(kids[i][k]);
    }
    visible = Int32Array.from(out);
    spacer.style.height = visible.length * ROW + "px";
  }

  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  function fmt(ms) {
    if (ms < 1) return ms ? ms.toFixed(2) + " ms" : "0 ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    const s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
    const m = Math.floor(s / 60);
    return m < 60 ? m + " m " + String(Math.floor(s % 60)).padStart(2, "0") + " s" : Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " m";
  }

  let frame = 0;
  function render() {
    frame = 0;
    const top = tree.scrollTop, h = tree.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + h) / ROW) + OVERSCAN);
    const html = [];
    for (let v = first; v < last; v++) {
      const i = visible[v], r = data[i];
      const left = ((r[4] - t0) / span) * 100;
      const width = Math.max(0.15, (Math.max(r[6], r[5] - r[4]) / span) * 100);
      const caret = kids[i].length ? (open[i] ? "▾" : "▸") : "";
      html.push(
        `<div class="row${i === selected ? " sel" : ""}${r[7] ? " err" : ""}" style="top:${v * ROW}px" data-i="${i}" role="treeitem" aria-level="${depth[i] + 1}"` +
        (kids[i].length ? ` aria-expanded="${open[i] ? "true" : "false"}"` : "") + (r[7] ? ` title="${esc(r[7])}"` : "") + `>` +
        `<div class="tcell" style="padding-left:${4 + depth[i] * 14}px"><span class="caret" data-caret>${caret}</span>` +
        `<span class="icon t-${esc(r[2])}">${esc(r[2].slice(0, 1).toUpperCase())}</span><span class="nm" title="${esc(r[3])}">${esc(r[3])}</span>` +
        (r[8] ? `<span class="mark" title="has feedback">★</span>` : "") +
        (kids[i].length && !open[i] ? `<span class="muted small">(${kids[i].length})</span>` : "") +
        `<span class="dur">${fmt(r[6])}</span></div>` +
        `<div class="lane"><div class="bar t-${esc(r[2])}" style="left:${left.toFixed(3)}%;width:${Math.min(width, 100 - left).toFixed(3)}%"></div></div></div>`
      );
    }
    spacer.innerHTML = html.join("");
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(render); };

  function axis() {
    const el = document.querySelector("[data-axis]");
    el.innerHTML = [0, 0.25, 0.5, 0.75, 1].map((f) => `<span style="left:${f * 100}%">${f ? "+" + fmt(span * f) : "0"}</span>`).join("");
  }

  function reveal(i) {
    for (let p = parent[i]; p >= 0; p = parent[p]) open[p] = 1;
    flatten();
    const v = visible.indexOf(i);
    if (v >= 0 && (v * ROW < tree.scrollTop || (v + 1) * ROW > tree.scrollTop + tree.clientHeight)) {
      tree.scrollTop = Math.max(0, v * ROW - tree.clientHeight / 3);
    }
  }

  function select(i, load = true) {
    selected = i;
    reveal(i);
    schedule();
    if (load) {
      const id = data[i][0];
      history.replaceState(null, "", "#event=" + encodeURIComponent(id));
      return htmx.ajax("GET", "/ui/event/" + encodeURIComponent(id) + "?project=" + encodeURIComponent(project), { target: "#detail", swap: "innerHTML" });
    }
  }

  function toggle(i, state) {
    open[i] = state === undefined ? 1 - open[i] : state;
    flatten();
    schedule();
  }

  tree.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", schedule);
  tree.addEventListener("click", (ev) => {
    const row = ev.target.closest(".row");
    if (!row) return;
    const i = Number(row.dataset.i);
    if (ev.target.closest("[data-caret]") && kids[i].length) toggle(i);
    else select(i);
  });
  tree.addEventListener("dblclick", (ev) => {
    const row = ev.target.closest(".row");
    if (row && kids[Number(row.dataset.i)].length) toggle(Number(row.dataset.i));
  });
  tree.addEventListener("keydown", (ev) => {
    if (selected < 0) return;
    const v = visible.indexOf(selected);
    if (ev.key === "ArrowDown" && v + 1 < visible.length) select(visible[v + 1]);
    else if (ev.key === "ArrowUp" && v > 0) select(visible[v - 1]);
    else if (ev.key === "ArrowRight" && kids[selected].length) toggle(selected, 1);
    else if (ev.key === "ArrowLeft") { if (open[selected] && kids[selected].length) toggle(selected, 0); else if (parent[selected] >= 0) select(parent[selected]); }
    else return;
    ev.preventDefault();
  });
  document.querySelector("[data-expand-all]").addEventListener("click", () => { open.fill(1); flatten(); schedule(); });
  document.querySelector("[data-collapse-all]").addEventListener("click", () => { open.fill(0); flatten(); schedule(); });
  const find = document.querySelector("[data-tree-find]");
  let lastFind = -1;
  find.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    const text = find.value.trim().toLowerCase();
    if (!text) return;
    for (let k = 1; k <= n; k++) {
      const i = (lastFind + k) % n;
      if (data[i][3].toLowerCase().includes(text)) { lastFind = i; select(i); return; }
    }
  });

  // Events with feedback arrive with the session's token totals (loaded after the page).
  document.body.addEventListener("htmx:afterSwap", (ev) => {
    const list = ev.detail.target.querySelector && ev.detail.target.querySelector("[data-marked]");
    if (!list) return;
    for (const id of JSON.parse(list.dataset.marked)) { const i = byId.get(id); if (i !== undefined) data[i][8] = 1; }
    document.body.dataset.marked = "1";
    schedule();
  });
  // Feedback saved in the detail panel: the tree marks that event at once.
  document.addEventListener("hivelog:feedback", (ev) => {
    const i = byId.get(ev.detail.id);
    if (i !== undefined) { data[i][8] = 1; schedule(); }
  });

  flatten();
  axis();
  render();
  const wanted = /^#event=(.+)$/.exec(location.hash);
  const start = wanted && byId.has(decodeURIComponent(wanted[1])) ? byId.get(decodeURIComponent(wanted[1])) : roots[0];
  // The session's token totals and feedback marks read every event: asked for once the first
  // detail has arrived, so they never delay the page becoming usable.
  const loadUsage = () => { const slot = document.querySelector(".usage-slot"); if (slot) htmx.trigger(slot, "usage"); };
  const first = start !== undefined ? select(start) : null;
  if (first && first.then) first.then(loadUsage, loadUsage); else loadUsage();
  document.body.dataset.ready = "1";
})();
