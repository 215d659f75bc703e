// motcua citizen tracking page (/track): dossier code and the last four
// digits of the ID number show the state, the appointment and where to
// collect the result, nothing else.
"use strict";

function translate() {
  document.documentElement.lang = lang;
  document.title = `${t("track_title")} — motcua`;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  $("lang").textContent = t("other_lang");
}

let last = null;
function show(v) {
  last = v;
  const box = $("track-result");
  const rows = [[t("code"), v.code], [t("procedure"), v.procedure_name], [t("state"), stateName(v.state)],
    [t("appointment"), when(v.due_at)], [t("collect_at"), `${t("one_stop_desk")} — ${v.collect_unit}`]];
  if (v.returned_at) rows.push([t("returned_at"), when(v.returned_at)]);
  box.replaceChildren(h("table", { class: "details" }, rows.map(([k, x]) => h("tr", {}, h("th", {}, k), h("td", {}, x || "")))),
    v.result_ready ? h("p", { class: "ok" }, t("result_ready")) : null);
  box.hidden = false;
}

const TRACK_ERRORS = { not_found: "track_not_found", too_many_requests: "track_too_many", too_many_attempts: "track_locked", busy: "track_too_many", invalid_value: "track_invalid" };

$("track").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  // Agency identifiers are upper case (…H56-…): accept them typed in lower.
  const q = new URLSearchParams({ code: String(f.get("code")).trim().toUpperCase(), id_last4: String(f.get("id_last4")).trim() });
  $("track-error").textContent = ""; $("track-result").hidden = true; last = null;
  try {
    const res = await fetch(`/api/v1/track?${q}`);
    const body = await res.json();
    if (res.ok) show(body);
    else $("track-error").textContent = t(TRACK_ERRORS[body.error && body.error.code] || "track_failed");
  } catch (_) {
    $("track-error").textContent = t("track_failed");
  }
});
$("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("motcua.lang", lang); translate(); if (last) show(last); });
fetch("/healthz").then((r) => r.json()).then((hz) => { $("unit").textContent = hz.unit_name || ""; });
translate();
