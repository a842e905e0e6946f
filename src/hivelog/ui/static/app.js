// hivelog: the little every page needs: filter rows, copy buttons, selects that submit their
// form, the live tail. Pages carry no inline script or event handler (the Content-Security-Policy
// allows scripts from /static only), so behaviour hangs on data- attributes here.
"use strict";
document.addEventListener("change", (ev) => {
  const el = ev.target.closest("[data-autosubmit]");
  if (el && el.form) el.form.requestSubmit();
});

// The sessions list refreshes itself every 3 s while the page is visible and no filter field
// has the focus (an htmx `every` trigger with a filter would need eval, which the policy forbids).
setInterval(() => {
  if (document.visibilityState !== "visible" || document.querySelector("#filters :focus")) return;
  if (!window.htmx) return;
  document.querySelectorAll("[data-live]").forEach((el) => htmx.trigger(el, "live"));
}, 3000);

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
  } else if (t.classList.contains("copy")) {
    ev.preventDefault();
    ev.stopPropagation();
    let text = t.getAttribute("data-copy-value");
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
