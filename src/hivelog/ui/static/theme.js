// hivelog: the theme and time zone the person chose, applied before the page is drawn (this
// file is loaded in <head> without defer, so a dark page never flashes light). "auto" follows
// prefers-color-scheme (app.css); app.js has the toggles.
"use strict";
(function () {
  let theme = "auto";
  try { theme = localStorage.getItem("hivelog-theme") || "auto"; } catch (e) { /* storage off */ }
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
})();
