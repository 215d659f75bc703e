// motcua citizen rating page (/rate): at the counter's tablet or on a
// phone, the citizen rates the service once the result is returned
// (Quyết định 766/QĐ-TTg, satisfaction): the dossier code and the last
// four digits of the ID number, as the tracking page asks.
"use strict";

function translate() {
  document.documentElement.lang = lang;
  document.title = `${t("rate_title")} — motcua`;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  $("lang").textContent = t("other_lang");
}

const RATE_ERRORS = { not_found: "track_not_found", too_many_requests: "track_too_many", too_many_attempts: "track_locked", busy: "track_too_many", invalid_value: "track_invalid", conflict: "rate_conflict", invalid_state: "rate_conflict" };

const form = $("rate");
// The desk opens the page for the dossier just returned: /rate?code=…
const given = new URLSearchParams(location.search).get("code");
if (given) form.elements.code.value = given;
form.addEventListener("change", () => { $("reasons").hidden = form.elements.rating.value !== "not_satisfied"; });
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(form);
  const rating = String(f.get("rating") || "");
  const req = { code: String(f.get("code")).trim().toUpperCase(), id_last4: String(f.get("id_last4")).trim(), rating };
  if (rating === "not_satisfied") {
    req.reasons = f.getAll("reasons").map(String);
    const comment = String(f.get("comment") || "").trim();
    if (comment) req.comment = comment;
  }
  $("rate-error").textContent = "";
  try {
    const res = await fetch("/api/v1/rate", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    if (res.ok) { form.hidden = true; $("rate-done").hidden = false; return; }
    const body = await res.json();
    const code = body.error && body.error.code;
    $("rate-error").textContent = code === "invalid_value" && body.error.field === "reasons" ? t("rate_need_reason") : t(RATE_ERRORS[code] || "track_failed");
  } catch (_) {
    $("rate-error").textContent = t("track_failed");
  }
});
$("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("motcua.lang", lang); translate(); });
fetch("/healthz").then((r) => r.json()).then((hz) => { $("unit").textContent = hz.unit_name || ""; });
translate();
