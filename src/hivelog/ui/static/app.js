// hivelog: what every page needs: filter rows, copy buttons, selects that submit their form,
// the live tail, theme and time-zone toggles, local times, the JSON viewer's search and raw
// view, markdown/raw and "show more" on messages, and the feedback form. Pages carry no inline
// script or event handler (the Content-Security-Policy allows scripts from /static only), so
// behaviour hangs on data- attributes here.
"use strict";

const store = {
  get(k, d) { try { return localStorage.getItem(k) || d; } catch (e) { return d; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* storage off */ } },
};

// ---- theme: auto (prefers-color-scheme) → light → dark → auto ----------------------------
function showTheme() {
  const name = store.get("hivelog-theme", "auto");
  document.querySelectorAll("[data-theme-name]").forEach((el) => (el.textContent = name));
}
function nextTheme() {
  const order = ["auto", "light", "dark"];
  const name = order[(order.indexOf(store.get("hivelog-theme", "auto")) + 1) % order.length];
  store.set("hivelog-theme", name);
  if (name === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = name;
  showTheme();
  document.dispatchEvent(new CustomEvent("hivelog:theme"));
}

// ---- times: the browser's zone by default, UTC on request -------------------------------
const localZone = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; } catch (e) { return "local"; } })();
window.hivelogUTC = () => store.get("hivelog-tz", "local") === "utc";
const pad = (n) => String(n).padStart(2, "0");
function formatTime(ms, utc) {
  const d = new Date(ms);
  if (utc) return d.toISOString().slice(0, 19).replace("T", " ");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
window.hivelogTime = (ms) => formatTime(ms, window.hivelogUTC());
function localizeTimes(root) {
  const utc = window.hivelogUTC();
  (root || document).querySelectorAll("time[data-ms]").forEach((el) => {
    const ms = Number(el.dataset.ms);
    el.textContent = formatTime(ms, utc);
    el.title = utc ? `${formatTime(ms, false)} ${localZone}` : `${formatTime(ms, true)} UTC`;
  });
  document.querySelectorAll("[data-tz-name]").forEach((el) => (el.textContent = utc ? "UTC" : localZone));
}
function toggleZone() {
  store.set("hivelog-tz", window.hivelogUTC() ? "local" : "utc");
  localizeTimes();
  fillCustomRange();
  document.dispatchEvent(new CustomEvent("hivelog:timezone"));
}

// ---- custom date range: datetime-local inputs (in the zone shown) ↔ hidden epoch-ms fields --
function toInput(ms) {
  if (!ms) return "";
  return formatTime(Number(ms), window.hivelogUTC()).replace(" ", "T");
}
function fromInput(text) {
  if (!text) return "";
  const utc = window.hivelogUTC();
  const ms = utc ? Date.parse(text + "Z") : new Date(text).getTime();
  return Number.isFinite(ms) ? String(ms) : "";
}
function fillCustomRange() {
  document.querySelectorAll("[data-custom-range]").forEach((box) => {
    box.querySelectorAll("[data-local-for]").forEach((input) => {
      const hidden = box.querySelector(`input[name="${input.dataset.localFor}"]`);
      input.value = toInput(hidden.value);
    });
  });
}

document.addEventListener("change", (ev) => {
  const local = ev.target.closest("[data-local-for]");
  if (local) {
    const box = local.closest("[data-custom-range]");
    box.querySelector(`input[name="${local.dataset.localFor}"]`).value = fromInput(local.value);
    return;
  }
  const range = ev.target.closest("[data-range]");
  if (range && range.value === "custom") {
    const box = range.form.querySelector("[data-custom-range]");
    box.hidden = false;
    box.querySelector("[data-local-for]").focus();
    return; // the person picks dates, then Apply
  }
  const el = ev.target.closest("[data-autosubmit]");
  if (el && el.form) el.form.requestSubmit();
});

// The sessions list refreshes itself every 3 s while the page is visible and no filter field
// has the focus.
setInterval(() => {
  if (document.visibilityState !== "visible" || document.querySelector("#filters :focus")) return;
  if (!window.htmx) return;
  document.querySelectorAll("[data-live]").forEach((el) => htmx.trigger(el, "live"));
}, 3000);

// ---- JSON viewer: find inside a section; raw JSON --------------------------------------
function searchJson(input) {
  const section = input.closest("details.section");
  const tree = section.querySelector(".json");
  const text = input.value.trim().toLowerCase();
  tree.querySelectorAll(".j-hit").forEach((el) => el.classList.remove("j-hit"));
  let hits = 0;
  if (text) {
    tree.querySelectorAll(".j-k, .j-s, .j-n, .j-p").forEach((el) => {
      if (!el.textContent.toLowerCase().includes(text)) return;
      el.classList.add("j-hit");
      hits++;
      for (let d = el.closest("details"); d && tree.contains(d); d = d.parentElement.closest("details")) d.open = true;
    });
    const first = tree.querySelector(".j-hit");
    if (first) first.scrollIntoView({ block: "nearest" });
  }
  section.querySelector("[data-json-hits]").textContent = text ? `${hits} match${hits === 1 ? "" : "es"}` : "";
}
document.addEventListener("input", (ev) => {
  if (ev.target.matches("[data-json-search]")) searchJson(ev.target);
  if (ev.target.matches("[data-local-for]")) {
    const box = ev.target.closest("[data-custom-range]");
    box.querySelector(`input[name="${ev.target.dataset.localFor}"]`).value = fromInput(ev.target.value);
  }
});

// ---- feedback: JSON with the page's CSRF token to /ui/feedback/{id} ----------------------
function parseExtra(text) {
  const metrics = {}, labels = {};
  for (const part of text.split(/[,\n]/)) {
    const m = /^\s*([^=:]+?)\s*[=:]\s*(.*?)\s*$/.exec(part);
    if (!m || !m[1]) continue;
    const raw = m[2];
    if (raw === "true" || raw === "false") metrics[m[1]] = raw === "true";
    else if (raw !== "" && Number.isFinite(Number(raw))) metrics[m[1]] = Number(raw);
    else labels[m[1]] = raw.replace(/^"(.*)"$/, "$1");
  }
  return { metrics, labels };
}
async function sendFeedback(form, rating) {
  const status = form.querySelector("[data-feedback-status]");
  const body = parseExtra(form.elements.extra.value);
  if (rating) body.rating = rating;
  const comment = form.elements.comment.value.trim();
  if (comment) body.comment = comment;
  status.textContent = "Saving…";
  const token = document.querySelector('meta[name="hivelog-csrf"]').content;
  const r = await fetch(form.getAttribute("action"), {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Hivelog-CSRF": token },
    body: JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) {
    status.textContent = "Not saved: " + ((answer.error && answer.error.message) || r.status);
    status.classList.add("err-text");
    return;
  }
  const article = form.closest("article.event");
  document.dispatchEvent(new CustomEvent("hivelog:feedback", { detail: { id: article.dataset.event } }));
  // Show what is stored now (the merge of this and earlier feedback), in place.
  const url = `/ui/event/${encodeURIComponent(article.dataset.event)}?project=${encodeURIComponent(article.dataset.project)}`;
  htmx.ajax("GET", url, { target: article, swap: "outerHTML" }).then(() => {
    const again = document.querySelector(`article.event[data-event="${CSS.escape(article.dataset.event)}"] [data-feedback-status]`);
    if (again) again.textContent = "Saved";
  });
}
document.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form[data-feedback]");
  if (!form) return;
  ev.preventDefault();
  const pressed = form.querySelector(".star[aria-pressed='true']");
  sendFeedback(form, pressed ? Number(pressed.dataset.rating) : null);
});

// ---- clicks ------------------------------------------------------------------------------
document.addEventListener("click", (ev) => {
  const t = ev.target.closest("button");
  if (!t) return;
  if (t.hasAttribute("data-add-filter")) {
    const form = t.closest("form");
    const row = form.querySelector("template[data-filter-template]").content.firstElementChild.cloneNode(true);
    form.querySelector("[data-filter-rows]").appendChild(row);
    row.querySelector("input").focus();
  } else if (t.hasAttribute("data-remove-filter")) {
    const form = t.closest("form");
    t.closest(".frow").remove();
    form.requestSubmit();
  } else if (t.hasAttribute("data-theme-toggle")) {
    nextTheme();
  } else if (t.hasAttribute("data-tz-toggle")) {
    toggleZone();
  } else if (t.dataset.rating) {
    const form = t.closest("form");
    form.querySelectorAll(".star").forEach((s) => s.setAttribute("aria-pressed", s === t ? "true" : "false"));
    sendFeedback(form, Number(t.dataset.rating));
  } else if (t.hasAttribute("data-json-raw")) {
    ev.preventDefault();
    const section = t.closest("details.section");
    const raw = section.querySelector(".raw-json");
    raw.hidden = !raw.hidden;
    section.querySelector(".json").hidden = !raw.hidden;
    t.setAttribute("aria-pressed", String(!raw.hidden));
  } else if (t.hasAttribute("data-raw-toggle")) {
    const chat = t.closest(".chat");
    const on = !chat.classList.contains("show-raw");
    chat.classList.toggle("show-raw", on);
    t.setAttribute("aria-pressed", String(on));
  } else if (t.hasAttribute("data-fold")) {
    const fold = t.previousElementSibling;
    const folded = fold.classList.toggle("folded");
    t.textContent = folded ? "Show more" : "Show less";
  } else if (t.classList.contains("copy")) {
    ev.preventDefault();
    ev.stopPropagation();
    let text = t.getAttribute("data-copy-value");
    if (t.hasAttribute("data-copy-raw")) text = t.closest("details.section").querySelector(".raw-json").textContent;
    if (t.hasAttribute("data-copy-text")) text = t.parentElement.textContent.replace(/^Copy/, "");
    copy(text || "").then(() => { const old = t.textContent; t.textContent = "Copied"; setTimeout(() => (t.textContent = old), 1200); });
  }
});

function copy(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  return Promise.resolve();
}

showTheme();
localizeTimes();
fillCustomRange();
document.addEventListener("htmx:afterSwap", (ev) => localizeTimes(ev.detail.target));
