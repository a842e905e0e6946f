// hivelog dashboard: each chart is one or a few GET /v1/events/chart calls drawn with uPlot.
"use strict";
(function () {
  const root = document.querySelector("[data-charts]");
  if (!root) return;
  const project = root.dataset.project, relative = root.dataset.relative, group = root.dataset.group;
  const rangeMs = Number(root.dataset.rangeMs) || 0;
  const STEP = { minute: 60e3, hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };
  const baseFilters = JSON.parse(root.querySelector("[data-chart-filters]").textContent);
  const COLORS = ["#2f6db5", "#2e8b57", "#a0632b", "#7a5ea8", "#c0392b", "#16a0a0", "#8e8e8e", "#d4a017"];

  // name → list of series: [label, metric, aggregation, extra filters, scale]
  const latency = group ? [["p95", "duration", "p95"]] : [["p50", "duration", "p50"], ["p95", "duration", "p95"], ["p99", "duration", "p99"]];
  const CHARTS = {
    sessions: [["sessions", "duration", "count", [{ field: "event_type", operator: "is", value: "session" }]]],
    events: [["events", "duration", "count", [{ field: "event_type", operator: "is not", value: "session" }]]],
    latency: latency.map((s) => [...s, [{ field: "event_type", operator: "is not", value: "session" }]]),
    "model-latency": latency.map((s) => [...s, [{ field: "event_type", operator: "is", value: "model" }]]),
    tokens: [["tokens", "tokens", "sum"]],
    cost: [["cost", "metadata.cost", "sum"]],
    errors: [["error rate", "error_rate", "avg", [{ field: "event_type", operator: "is not", value: "session" }], 100]],
  };

  const from = root.dataset.from, to = root.dataset.to;
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  // Percentiles told apart by more than colour: p50 solid, p95 a wide dashed band drawn
  // first, p99 a thin dotted line on top (where p95 and p99 are equal both stay visible).
  const STYLE = { p50: { dash: [], width: 1.5 }, p95: { dash: [8, 4], width: 3.5 }, p99: { dash: [2, 3], width: 1.5 } };

  // Axis ticks at round values: steps of 1, 2 or 5 times a power of ten (counts: whole steps).
  const INCRS = [];
  for (let e = -6; e <= 12; e++) for (const m of [1, 2, 5]) INCRS.push(Number((m * Math.pow(10, e)).toPrecision(1)));
  const WHOLE = INCRS.filter((v) => v >= 1);
  const FORMAT = {
    cost: (v) => money(v),
    errors: (v) => v.toLocaleString(undefined, { maximumFractionDigits: 2 }) + " %",
    latency: (v) => v.toLocaleString(undefined, { maximumFractionDigits: 1 }) + " ms",
  };
  FORMAT["model-latency"] = FORMAT.latency;
  const plain = (v) => v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  const money = (v) => "$" + v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: v && Math.abs(v) < 0.01 ? 6 : 4 });

  function url(metric, aggregation, extra, bucket, groupBy) {
    const p = new URLSearchParams({ project, metric, aggregation, bucket: bucket || "auto" });
    if (relative) p.set("dateRange", JSON.stringify({ relative }));
    else if (from || to) p.set("dateRange", JSON.stringify({ ...(from ? { $gte: Number(from) } : {}), ...(to ? { $lte: Number(to) } : {}) }));
    const filters = baseFilters.concat(extra || []);
    if (filters.length) p.set("filters", JSON.stringify(filters));
    if (groupBy || group) p.set("groupBy", groupBy || group);
    return "/v1/events/chart?" + p.toString();
  }

  async function draw(fig) {
    const specs = CHARTS[fig.dataset.chart];
    const answers = await Promise.all(specs.map((s) => fetch(url(s[1], s[2], s[3])).then((r) => r.json())));
    const xs = new Set(), series = [];
    answers.forEach((body, k) => {
      const [label, , , , scale] = specs[k];
      const byGroup = new Map();
      for (const item of body.events || []) {
        xs.add(item.start_time / 1000);
        const name = group ? (specs.length > 1 ? label + " " : "") + (item.group ?? "(none)") : label;
        if (!byGroup.has(name)) byGroup.set(name, new Map());
        byGroup.get(name).set(item.start_time / 1000, item.value == null ? null : item.value * (scale || 1));
      }
      for (const [name, values] of byGroup) series.push([name, values]);
    });
    fig.answers = answers;
    fig.dataset.points = String(xs.size);
    if (!xs.size) { fig.insertAdjacentHTML("beforeend", '<div class="none">No events in this range.</div>'); fig.dataset.drawn = "1"; return; }
    // Every bucket of the range is on the axis (counts read 0 there, other values a gap).
    const step = STEP[answers[0].bucket];
    if (step && rangeMs) {
      const now = Date.now(), monday = 4 * 86400e3;
      const offset = answers[0].bucket === "week" ? monday : 0;
      for (let t = Math.floor((now - rangeMs - offset) / step) * step + offset; t <= now; t += step) xs.add(t / 1000);
    }
    const x = Array.from(xs).sort((a, b) => a - b);
    const counts = fig.dataset.chart === "sessions" || fig.dataset.chart === "events";
    // A bucket without events is a gap (null, and spanGaps false: no line is drawn across
    // it); only counts read 0 there, as that is what they are.
    const data = [x, ...series.map(([, values]) => x.map((t) => (values.has(t) ? values.get(t) : counts ? 0 : null)))];
    const fmt = FORMAT[fig.dataset.chart] || plain;
    const utc = () => window.hivelogUTC && window.hivelogUTC();
    // the zone the header names: the browser's, or UTC when the person chose it
    const tzDate = (ts) => (utc() ? uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC") : new Date(ts * 1e3));
    const when = uPlot.fmtDate("{YYYY}-{MM}-{DD} {HH}:{mm}");
    const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line"), width: 1 } };
    const style = (name) => STYLE[name.split(" ")[0]] || STYLE.p50;
    // Each series' latest value: what its legend shows while the pointer is elsewhere.
    const latest = data.map((ys) => { for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) return ys[i]; return null; });
    // A value between two gaps is no line at all: draw the points of such a series.
    const lonely = data.map((ys) => ys.some((v, i) => v != null && ys[i - 1] == null && ys[i + 1] == null));
    const opts = {
      width: Math.max(280, Math.min(fig.clientWidth - 16, 2000)), height: 200,
      scales: { x: { time: true } },
      tzDate,
      legend: { show: true, live: true },
      series: [
        { label: "Time", value: (u, v, si, idx) => (idx == null ? "latest" : v == null ? "–" : when(tzDate(v))) },
        ...series.map(([name], k) => ({
          label: name, stroke: COLORS[k % COLORS.length], width: style(name).width, dash: style(name).dash,
          points: { show: x.length < 60 || lonely[k + 1] }, spanGaps: false,
          value: (u, v, si, idx) => { const shown = idx == null ? latest[si] : v; return shown == null ? "–" : fmt(shown); },
        })),
      ],
      axes: [{ ...axis }, { ...axis, size: 64, space: 22, incrs: counts ? WHOLE : INCRS, values: (u, splits) => splits.map((v) => (v == null ? "" : v.toLocaleString(undefined, { maximumFractionDigits: 10 }))) }],
    };
    const chart = new uPlot(opts, data, fig);
    // the legend shows each series' latest value whenever the pointer is not on the chart
    fig.addEventListener("mouseleave", () => setTimeout(() => chart.setLegend({ idx: null }), 0));
    fig.uplot = chart;
    fig.dataset.drawn = "1";
  }

  // Charts are drawn in the theme's colours and the zone shown: redraw when either changes.
  document.addEventListener("hivelog:theme", () => location.reload());
  document.addEventListener("hivelog:timezone", () => location.reload());

  // Per model: calls, tokens, cost and latency over the whole range, each one bucket of the
  // whole range (`bucket=all`): percentiles are exact over any range, as percentiles of
  // smaller buckets could not be combined into the range's.
  async function models() {
    const table = document.querySelector("[data-models] tbody");
    if (!table) return;
    const only = [{ field: "event_type", operator: "is", value: "model" }];
    const asks = [["duration", "count"], ["tokens", "sum"], ["metadata.cost", "sum"], ["duration", "p50"], ["duration", "p95"]];
    const answers = await Promise.all(asks.map(([m, a]) => fetch(url(m, a, only, "all", "config.model")).then((r) => r.json())));
    const rows = new Map();
    answers.forEach((body, k) => {
      for (const item of body.events || []) {
        const name = item.group ?? "(none)";
        if (!rows.has(name)) rows.set(name, [0, 0, null, null, null]);
        rows.get(name)[k] = item.value;
      }
    });
    const fmt = (n, d = 0) => (n == null ? "–" : n.toLocaleString(undefined, { maximumFractionDigits: d }));
    const pct = (v) => (v == null ? "–" : fmt(v) + " ms");
    table.innerHTML = "";
    for (const [name, row] of [...rows].sort((a, b) => b[1][0] - a[1][0])) {
      const tr = document.createElement("tr");
      const cells = [name, fmt(row[0]), fmt(row[1]), row[2] == null ? "–" : money(row[2]), pct(row[3]), pct(row[4])];
      cells.forEach((text, i) => { const td = document.createElement("td"); td.textContent = text; if (i) td.className = "num"; tr.appendChild(td); });
      table.appendChild(tr);
    }
  }

  // Model calls of the range without a known cost (a model nobody has a price for): the
  // cost total then adds up the others and says so, never passing an unknown for $0.
  async function unpricedCalls() {
    const unknown = [{ field: "event_type", operator: "is", value: "model" }, { field: "metadata.cost", operator: "not exists" }];
    const body = await fetch(url("duration", "count", unknown, "all")).then((r) => r.json());
    return (body.events || []).reduce((a, i) => a + (i.value || 0), 0);
  }

  function badge(text, title) {
    const span = document.createElement("span");
    span.className = "unpriced"; span.textContent = text; span.title = title;
    return span;
  }

  // Totals for the whole range, from the same answers the charts drew.
  function totals(figs, unpriced) {
    const box = document.querySelector("[data-totals]");
    if (!box) return;
    const items = (name) => { const f = figs.find((g) => g.dataset.chart === name); return f && f.answers ? f.answers[0].events || [] : null; };
    const sum = (list) => (list ? list.reduce((a, i) => a + (i.value || 0), 0) : null);
    const fmt = (n, digits = 0) => (n == null ? "–" : n.toLocaleString(undefined, { maximumFractionDigits: digits }));
    const cost = items("cost"), errors = items("errors");
    const costSum = cost && cost.some((i) => i.value != null) ? sum(cost) : null;
    const errCount = errors ? errors.reduce((a, i) => a + (i.count || 0), 0) : 0;
    const errRate = errCount ? errors.reduce((a, i) => a + (i.value || 0) * i.count, 0) / errCount : null;
    const values = {
      sessions: fmt(sum(items("sessions"))), events: fmt(sum(items("events"))), tokens: fmt(sum(items("tokens"))),
      cost: costSum == null ? "–" : money(costSum),
      errors: errRate == null ? "–" : fmt(errRate * 100, 2) + " %",
    };
    for (const [k, v] of Object.entries(values)) box.querySelector(`[data-total="${k}"]`).textContent = v;
    const costCell = box.querySelector('[data-total="cost"]');
    const calls = unpriced === 1 ? "1 model call has" : fmt(unpriced) + " model calls have";
    if (unpriced && costSum == null) costCell.replaceChildren(badge("unpriced", calls + " no known price: the cost is unknown, not zero"));
    else if (unpriced) costCell.append(" ", badge("partial", calls + " no known price: the real cost is higher"));
  }

  const figs = Array.from(root.querySelectorAll("[data-chart]"));
  Promise.all(figs.map((f) => draw(f).catch((e) => { f.insertAdjacentHTML("beforeend", '<div class="none">Could not load: ' + String(e) + "</div>"); f.dataset.drawn = "1"; })))
    .then(() => unpricedCalls().catch(() => 0))
    .then((unpriced) => { totals(figs, unpriced); return models().catch(() => null); })
    .then(() => { root.dataset.ready = "1"; });
})();
