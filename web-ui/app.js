// motcua officer page: login, dossier list and search, dossier history.
// Speaks Vietnamese by default and English on request; calls only the HTTP API.
"use strict";

const TEXT = {
  vi: {
    title: "Bộ phận Một cửa", login: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu",
    sign_in: "Đăng nhập", logout: "Đăng xuất", search_hint: "Mã hồ sơ, họ tên hoặc số định danh",
    all_states: "Mọi trạng thái", overdue: "Quá hạn", find: "Tìm", code: "Mã hồ sơ", procedure: "Thủ tục",
    applicant: "Người nộp", state: "Trạng thái", received: "Ngày nhận", due: "Ngày hẹn trả",
    found: (n) => `${n} hồ sơ`, history: "Quá trình xử lý", back: "Quay lại", conflicts: "Xung đột cần xử lý",
    bad_login: "Sai tên đăng nhập hoặc mật khẩu", other_lang: "English",
  },
  en: {
    title: "One-stop desk", login: "Log in", username: "Username", password: "Password",
    sign_in: "Log in", logout: "Log out", search_hint: "Dossier code, name or ID number",
    all_states: "All states", overdue: "Overdue", find: "Search", code: "Dossier code", procedure: "Procedure",
    applicant: "Applicant", state: "State", received: "Received", due: "Appointment",
    found: (n) => `${n} dossiers`, history: "History", back: "Back", conflicts: "Conflicts to resolve",
    bad_login: "Wrong username or password", other_lang: "Tiếng Việt",
  },
};
const STATES = {
  1: ["Mới đăng ký", "Submitted online"], 2: ["Được tiếp nhận", "Accepted"], 3: ["Không được tiếp nhận", "Not accepted"],
  4: ["Đang xử lý", "In process"], 5: ["Yêu cầu bổ sung", "Supplement requested"],
  6: ["Yêu cầu thực hiện nghĩa vụ tài chính", "Financial obligation requested"],
  7: ["Công dân yêu cầu rút hồ sơ", "Withdrawal requested"], 8: ["Dừng xử lý", "Processing stopped"],
  9: ["Đã xử lý xong", "Result ready"], 10: ["Đã trả kết quả", "Result returned"],
};
let lang = localStorage.getItem("motcua.lang") || "vi";
let csrf = sessionStorage.getItem("motcua.csrf") || "";
const $ = (id) => document.getElementById(id);
const t = (k) => TEXT[lang][k];
const stateName = (s) => STATES[s] ? STATES[s][lang === "vi" ? 0 : 1] : String(s);
const when = (s) => (s ? new Date(s).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh" }) : "");

function el(tag, text) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; }

function translate() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  document.querySelectorAll("[data-tp]").forEach((e) => { e.placeholder = t(e.dataset.tp); });
  $("lang").textContent = t("other_lang");
  const select = document.querySelector("select[name=state]");
  select.querySelectorAll("option[data-state]").forEach((o) => o.remove());
  for (const s of Object.keys(STATES)) {
    const o = el("option", `${s} — ${stateName(s)}`); o.value = s; o.dataset.state = s; select.append(o);
  }
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (res.status === 401 && path !== "/api/v1/session") { showLogin(); throw new Error("no session"); }
  const body = res.status === 204 ? null : await res.json();
  return { res, body };
}

function showLogin() {
  $("login").hidden = false; $("dossiers").hidden = true; $("detail").hidden = true; $("logout").hidden = true;
}

async function showList() {
  $("login").hidden = true; $("detail").hidden = true; $("dossiers").hidden = false; $("logout").hidden = false;
  const form = new FormData($("search"));
  const params = new URLSearchParams({ limit: "100" });
  if (form.get("q")) params.set("q", form.get("q"));
  if (form.get("state")) params.set("state", form.get("state"));
  if (form.get("overdue")) params.set("overdue", "true");
  const { res, body } = await api(`/api/v1/dossiers?${params}`);
  if (!res.ok) return;
  $("count").textContent = t("found")(res.headers.get("X-Total-Count") || body.length);
  const rows = $("rows"); rows.replaceChildren();
  for (const d of body) {
    const tr = el("tr"); if (d.overdue) tr.className = "overdue";
    const link = el("a", d.code); link.href = `#${d.code}`;
    const code = el("td"); code.append(link);
    tr.append(code, el("td", d.procedure_name), el("td", d.applicant.name), el("td", stateName(d.state)),
      el("td", when(d.received_at)), el("td", when(d.due_at)));
    rows.append(tr);
  }
}

async function showDetail(code) {
  const { res, body: d } = await api(`/api/v1/dossiers/${encodeURIComponent(code)}`);
  if (!res.ok) { location.hash = ""; return; }
  $("dossiers").hidden = true; const box = $("detail"); box.hidden = false; box.replaceChildren();
  const back = el("a", t("back")); back.href = "#";
  box.append(back, el("h2", `${d.code} — ${d.procedure_name}`),
    el("p", `${t("applicant")}: ${d.applicant.name} · ${t("state")}: ${stateName(d.state)} · ${t("due")}: ${when(d.due_at)}`));
  if (d.conflicts.length) {
    box.append(el("h3", t("conflicts")));
    const ul = el("ul"); d.conflicts.forEach((c) => ul.append(el("li", `${c.action} (${c.unit}): ${c.reason}`))); box.append(ul);
  }
  box.append(el("h3", t("history")));
  const ol = el("ol");
  d.history.forEach((h) => ol.append(el("li", `${when(h.at)} — ${h.action} — ${h.officer} (${h.unit})${h.note ? ": " + h.note : ""}`)));
  box.append(ol);
}

function route() { const code = decodeURIComponent(location.hash.slice(1)); return code ? showDetail(code) : showList(); }

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const { res, body } = await api("/api/v1/session", { method: "POST", body: JSON.stringify({ username: form.get("username"), password: form.get("password") }) });
  if (!res.ok) { $("login-error").textContent = res.status === 401 ? t("bad_login") : body.error.message; return; }
  csrf = body.csrf_token; sessionStorage.setItem("motcua.csrf", csrf); $("login-error").textContent = "";
  route();
});
$("search").addEventListener("submit", (e) => { e.preventDefault(); showList(); });
$("logout").addEventListener("click", async () => { await api("/api/v1/session", { method: "DELETE" }); showLogin(); });
$("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("motcua.lang", lang); translate(); route().catch(() => {}); });
window.addEventListener("hashchange", () => route().catch(() => {}));
fetch("/healthz").then((r) => r.json()).then((h) => { $("unit").textContent = `${h.unit_name || ""} (${h.unit})`; });
translate();
route().catch(() => showLogin());
