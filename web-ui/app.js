// motcua officer pages: login, reception desk, queues, dossier page with
// actions and printable forms, statistics, sync status, administration.
// Calls only the HTTP API; texts come from i18n.js.
"use strict";

let me = null; // the officer of this session (GET /api/v1/session)
let health = {};
let procedures = null;
let catalogVersion = "";
const PAGE_SIZE = 50;

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (options.method && options.method !== "GET" && me) headers["X-CSRF-Token"] = me.csrf_token;
  const res = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (res.status === 401 && !(path === "/api/v1/session" && options.method === "POST")) {
    me = null;
    showLogin();
    throw new Error("no session");
  }
  const type = res.headers.get("Content-Type") || "";
  const body = res.status === 204 ? null : type.includes("json") ? await res.json() : await res.text();
  return { res, body };
}
/**
 * An API refusal in the page's language: the text of its code and the
 * field it names. In English, and for a code without a text, the node's
 * own precise words follow (they are in English).
 */
function errorText(body) {
  const e = body && body.error;
  if (!e) return t("err_unexpected");
  const known = TEXT[lang][`err_${e.code}`];
  const text = `${known || t("err_unexpected")}${e.field ? ` (${e.field})` : ""}`;
  return known && lang !== "en" ? text : `${text}: ${e.message}`;
}
const localToday = () => new Date().toLocaleDateString("en-CA", { timeZone: TZ });

// ---------------------------------------------------------------- shell

function translate() {
  document.documentElement.lang = lang;
  document.title = `motcua — ${t("one_stop_desk")}`;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  $("lang").textContent = t("other_lang");
  showOfficer();
}

function showOfficer() {
  if (!me) { $("officer").textContent = ""; return; }
  const roles = me.roles.map((r) => t(`role_${r}`)).join(", ");
  const more = me.roles.length > 1 ? ` +${me.roles.length - 1}` : "";
  $("officer").textContent = `${me.full_name || me.username} · ${t(`role_${me.roles[0]}`)}${more}`;
  $("officer").title = `${me.username} · ${roles} · ${me.unit_name} (${me.unit})`;
  $("nav-admin").hidden = !me.roles.includes("admin");
}

function showLogin() {
  $("login").hidden = false; $("page").hidden = true; $("nav").hidden = true; $("logout").hidden = true;
  $("offline").hidden = true; showOfficer();
  $("login").querySelector("input[name=username]").focus();
}

function page(...children) {
  $("login").hidden = true; $("nav").hidden = false; $("logout").hidden = false;
  const p = $("page"); p.hidden = false; p.replaceChildren(...children);
  document.querySelectorAll("#nav a").forEach((a) => {
    const section = location.hash.split("/")[1] || "reception";
    a.classList.toggle("active", a.getAttribute("href").split("/")[1] === section);
  });
  return p;
}

async function route() {
  if (!me) {
    const { res, body } = await fetch("/api/v1/session", { credentials: "same-origin" }).then(async (r) => ({ res: r, body: r.ok ? await r.json() : null }));
    if (!res.ok) { showLogin(); return; }
    me = body; showOfficer(); pollPeers();
  }
  const [, section, arg] = location.hash.split("?")[0].split("/");
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  switch (section) {
    case "queue": return showQueue(arg || "today", params);
    case "dossier": {
      let code = arg || "";
      try { code = decodeURIComponent(code); } catch (_) { /* shown as not found */ }
      return showDossier(code);
    }
    case "dashboard": return showDashboard(params);
    case "sync": return showSync();
    case "admin": return showAdmin();
    case "password": return showPassword();
    case "guidance": return showGuidanceList(params);
    default: return showReception(params);
  }
}

// Offline banner: at least one peer is configured and none is connected.
let peerTimer = null;
async function pollPeers() {
  clearTimeout(peerTimer);
  if (!me) return;
  try {
    const { res, body } = await api("/api/v1/peers");
    if (res.ok) {
      const offline = body.length > 0 && !body.some((p) => p.connected);
      $("offline").hidden = !offline;
      $("offline").textContent = t("offline");
    }
  } catch (_) { /* the login page is showing */ }
  peerTimer = setTimeout(pollPeers, 3000);
}

// ---------------------------------------------------------------- reception desk

async function loadProcedures() {
  if (!procedures) {
    const { res, body } = await api("/api/v1/procedures");
    if (res.ok) {
      procedures = body.map((p) => ({ ...p, folded: fold(`${p.code} ${p.name}`) }));
      catalogVersion = res.headers.get("X-Catalog-Version") || "";
    }
  }
  return procedures || [];
}

function timeText(n, unit) {
  if (n === 0) return t("same_day");
  if (unit === "working_hours") return `${n} ${t("hours")}`;
  if (unit === "calendar_days") return `${n} ${t("calendar_days")}`;
  return `${n} ${t("working_days")}`;
}

async function showReception(params = new URLSearchParams()) {
  const list = await loadProcedures();
  let chosen = null;
  let active = -1;
  const search = h("input", { id: "procedure-search", placeholder: t("procedure_hint"), autocomplete: "off", "aria-label": t("procedure") });
  const matches = h("ul", { class: "matches", id: "procedure-matches", role: "listbox" });
  const caseSelect = h("select", { name: "case", id: "case" });
  const checklist = h("tbody");
  const fees = h("p", { id: "fees" });
  const timeInfo = h("p", { id: "processing-time" });
  const dupWarning = h("p", { class: "warning", id: "duplicate", hidden: true, role: "alert" });
  const error = h("p", { class: "error", id: "reception-error", role: "alert" });
  const field = (name, label, attrs = {}) => h("label", {}, h("span", {}, label), h("input", { name, ...attrs }));
  // Scans picked before the dossier exists: a line is one of the checklist
  // rows ticked as received (value: the row's index in the case's list),
  // and the files go once the node has given the dossier its code.
  const ticked = () => {
    const c = chosen && chosen.cases.find((x) => x.code === caseSelect.value);
    return c ? c.documents.map((d, i) => ({ value: String(i), label: d.name })).filter(({ value }) => form.querySelector(`input[name=doc-${value}]`).checked) : [];
  };
  const box = attachBox({ lines: ticked, hint: t("files_after_receipt") });
  checklist.addEventListener("change", () => box.refreshLines());

  const renderMatches = () => {
    const q = fold(search.value.trim());
    const words = q.split(/\s+/).filter(Boolean);
    const found = list.filter((p) => words.every((w) => p.folded.includes(w))).slice(0, 8);
    matches.replaceChildren(...found.map((p, i) => h("li", {
      role: "option", class: i === active ? "active" : "", "data-code": p.code,
      onmousedown: (e) => { e.preventDefault(); pick(p); },
    }, h("b", {}, p.code), " ", p.name)));
    matches.hidden = !q || (chosen && search.value === `${chosen.code} — ${chosen.name}`);
    return found;
  };
  const pick = (p) => {
    chosen = p; search.value = `${p.code} — ${p.name}`; matches.hidden = true; active = -1;
    caseSelect.replaceChildren(...p.cases.map((c) => h("option", { value: c.code }, c.name || c.code)));
    renderCase(); checkDuplicates();
    form.querySelector("input[name=name]").focus();
  };
  const renderCase = () => {
    const c = chosen && chosen.cases.find((x) => x.code === caseSelect.value);
    checklist.replaceChildren();
    if (!c) return;
    c.documents.forEach((d, i) => checklist.append(h("tr", {},
      h("td", {}, h("input", { type: "checkbox", name: `doc-${i}`, checked: d.required, "aria-label": t("doc_received") })),
      h("td", {}, d.name, d.required ? h("span", { class: "muted" }, ` (${t("required")})`) : null),
      h("td", {}, h("input", { type: "number", min: 0, max: 99, name: `orig-${i}`, value: d.originals, class: "count", "aria-label": t("originals") })),
      h("td", {}, h("input", { type: "number", min: 0, max: 99, name: `cert-${i}`, value: 0, class: "count", "aria-label": t("certified") })),
      h("td", {}, h("input", { type: "number", min: 0, max: 99, name: `copy-${i}`, value: d.copies, class: "count", "aria-label": t("copies") })))));
    box.refreshLines();
    fees.textContent = `${t("fees")}: ` + (c.fees.length ? c.fees.map((f) => `${f.name}: ${money(f.amount_vnd)} (${t(f.collected)})`).join("; ") : t("no_fee"));
    timeInfo.textContent = `${t("processing_time")}: ${timeText(c.processing_time, c.unit)}`;
  };
  search.addEventListener("input", () => { chosen = null; active = -1; renderMatches(); });
  search.addEventListener("keydown", (e) => {
    const found = renderMatches();
    if (e.key === "ArrowDown") { active = Math.min(active + 1, found.length - 1); renderMatches(); e.preventDefault(); }
    if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); renderMatches(); e.preventDefault(); }
    if (e.key === "Enter" && found.length && !chosen) { pick(found[Math.max(active, 0)]); e.preventDefault(); }
  });
  caseSelect.addEventListener("change", renderCase);

  const checkDuplicates = async () => {
    const id = form.querySelector("input[name=id_number]").value.trim();
    dupWarning.hidden = true;
    if (!chosen || idProblem(form.elements.applicant_kind.value, form.elements.id_kind.value, id)) return;
    const { res, body } = await api(`/api/v1/duplicates?procedure_code=${encodeURIComponent(chosen.code)}&id_number=${encodeURIComponent(id)}`);
    if (res.ok && body.length) {
      dupWarning.replaceChildren(t("duplicate"), " ", ...body.map((d) => h("a", { href: `#/dossier/${encodeURIComponent(d.code)}` }, d.code, " ")));
      dupWarning.hidden = false;
    }
  };

  const form = h("form", { id: "reception", class: "card", novalidate: true },
    h("h1", {}, t("reception")),
    h("fieldset", {}, h("legend", {}, t("procedure")), search, matches,
      h("label", {}, h("span", {}, t("case")), caseSelect), timeInfo, fees),
    h("fieldset", {}, h("legend", {}, t("checklist")),
      h("table", { class: "checklist" }, h("thead", {}, h("tr", {}, h("th", {}, t("doc_received")), h("th", {}, t("checklist")),
        h("th", {}, t("originals")), h("th", {}, t("certified")), h("th", {}, t("copies")))), checklist)),
    h("fieldset", {}, h("legend", {}, t("attachments")), box.el),
    h("fieldset", { class: "grid", id: "applicant" }, h("legend", {}, t("holder_of_dossier")),
      h("label", {}, h("span", {}, t("applicant_kind")), h("select", { name: "applicant_kind" },
        ["citizen", "organization"].map((k) => h("option", { value: k }, t(`kind_${k}`))))),
      h("label", { id: "id-kind" }, h("span", {}, t("id_kind")), h("select", { name: "id_kind" },
        ["cccd", "passport"].map((k) => h("option", { value: k }, t(`id_kind_${k}`))))),
      h("label", {}, h("span", { id: "name-label" }, t("full_name")), h("input", { name: "name", required: true, autocomplete: "off", maxlength: 200 })),
      h("label", {}, h("span", { id: "id-label" }, t("id_number")), h("input", { name: "id_number", required: true, maxlength: 14, autocomplete: "off" })),
      field("phone", t("phone"), { inputmode: "tel", maxlength: 20 }),
      field("address", t("address"), { maxlength: 300 }),
      field("email", t("email"), { type: "email", maxlength: 200 }),
      h("label", {}, h("span", {}, t("channel")), h("select", { name: "channel" },
        ["direct", "online", "post"].map((c) => h("option", { value: c }, t(`channel_${c}`))))),
      h("label", {}, h("span", {}, t("collection")), h("select", { name: "collection" },
        ["desk", "post"].map((c) => h("option", { value: c }, t(`collection_${c}`))))),
      field("sets", t("sets"), { type: "number", min: 1, max: 99, value: 1, required: true })),
    h("fieldset", { class: "grid", id: "representative" }, h("legend", {}, t("representative")),
      h("p", { class: "muted" }, t("representative_hint")),
      field("rep_name", t("full_name"), { autocomplete: "off", maxlength: 200 }),
      h("label", {}, h("span", {}, t("id_kind")), h("select", { name: "rep_id_kind" },
        ["cccd", "passport"].map((k) => h("option", { value: k }, t(`id_kind_${k}`))))),
      field("rep_id_number", t("id_number"), { autocomplete: "off", maxlength: 12 }),
      field("rep_phone", t("phone"), { inputmode: "tel", maxlength: 20 })),
    dupWarning, error,
    h("button", { type: "submit", class: "primary" }, t("save_receive")),
    counterWork(() => {
      const f = new FormData(form);
      const c = chosen && chosen.cases.find((x) => x.code === caseSelect.value);
      // Unticked checklist rows are what the citizen still has to bring.
      const unticked = c ? c.documents.map((d, i) => ({ d, i })).filter(({ i }) => !f.get(`doc-${i}`))
        .map(({ d, i }) => ({ name: d.name, count: (Number(f.get(`orig-${i}`)) || 0) + (Number(f.get(`copy-${i}`)) || 0) || 1 })) : [];
      const applicant = { name: String(f.get("name")).trim(), id_number: String(f.get("id_number")).trim(), phone: String(f.get("phone")).trim(), address: String(f.get("address")).trim(), email: String(f.get("email")).trim() };
      return { chosen, unticked, applicant, error, focus: () => search.focus() };
    }));
  form.querySelector("input[name=id_number]").addEventListener("change", checkDuplicates);
  // An organization is named by its registered name and tax code; a
  // citizen by full name and card or passport.
  const renderKind = () => {
    const org = form.elements.applicant_kind.value === "organization";
    $("id-kind").hidden = org;
    $("name-label").textContent = org ? t("org_name") : t("full_name");
    $("id-label").textContent = org ? t("tax_code") : form.elements.id_kind.value === "passport" ? t("passport_number") : t("id_number");
  };
  form.elements.applicant_kind.addEventListener("change", renderKind);
  form.elements.id_kind.addEventListener("change", renderKind);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const f = new FormData(form);
    if (!chosen) { error.textContent = t("pick_procedure"); search.focus(); return; }
    const idNumber = String(f.get("id_number")).trim();
    // Not "kind": each file picked for upload has a select of that name.
    const kind = String(f.get("applicant_kind"));
    const idKind = kind === "organization" ? "tax_code" : String(f.get("id_kind"));
    const problem = idProblem(kind, idKind, idNumber);
    if (problem) { error.textContent = t(problem); form.querySelector("input[name=id_number]").focus(); return; }
    const c = chosen.cases.find((x) => x.code === caseSelect.value);
    const documents = c.documents.map((d, i) => ({ d, i })).filter(({ i }) => f.get(`doc-${i}`))
      .map(({ d, i }) => ({ name: d.name, original: Number(f.get(`orig-${i}`)) || 0, certified: Number(f.get(`cert-${i}`)) || 0, copies: Number(f.get(`copy-${i}`)) || 0 }));
    const applicant = { kind, id_kind: idKind, name: String(f.get("name")).trim(), id_number: idNumber, phone: String(f.get("phone")).trim(), address: String(f.get("address")).trim() };
    if (String(f.get("email")).trim()) applicant.email = String(f.get("email")).trim();
    const rep = { name: String(f.get("rep_name")).trim(), id_kind: String(f.get("rep_id_kind")), id_number: String(f.get("rep_id_number")).trim(), phone: String(f.get("rep_phone")).trim() };
    const representative = rep.name || rep.id_number || rep.phone ? rep : undefined;
    if (representative && idProblem("citizen", rep.id_kind, rep.id_number)) {
      error.textContent = `${t("representative")}: ${t(idProblem("citizen", rep.id_kind, rep.id_number))}`;
      form.querySelector("input[name=rep_id_number]").focus(); return;
    }
    const button = form.querySelector("button[type=submit]"); button.disabled = true;
    try {
      const { res, body } = await api("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: chosen.code, case_code: c.code, applicant, representative, documents, channel: f.get("channel"), collection: f.get("collection"), sets: Number(f.get("sets")) || 1 }) });
      if (!res.ok) { error.textContent = errorText(body); return; }
      // Line N of the dossier is the N-th ticked row.
      const lines = new Map(ticked().map(({ value }, n) => [value, n + 1]));
      showReceived(body, box.count() ? { box, lineOf: (v) => lines.get(v) } : null);
    } finally { button.disabled = false; }
  });
  page(form);
  search.focus();
  // Back with a guidance record: the applicant and procedure as recorded.
  const from = params.get("guidance");
  if (from) {
    const { res, body: g } = await api(`/api/v1/guidance/${encodeURIComponent(from)}`);
    if (!res.ok) { error.textContent = errorText(g); return; }
    const p = list.find((x) => x.code === g.procedure_code);
    if (p) pick(p);
    for (const k of ["name", "id_number", "phone", "address", "email"]) form.querySelector(`input[name=${k}]`).value = g.applicant[k] || "";
    checkDuplicates();
  }
}

/** Counter work without receiving (forms 02 and 03): the reception form's
 * applicant and procedure, the items still missing (unticked rows and the
 * lines typed, "name; count") or the reasons of a refusal. `read` gives
 * what the reception form holds. */
function counterWork(read) {
  const missing = h("textarea", { name: "counter_missing", rows: 2, placeholder: t("g_missing_hint") });
  const reasons = h("textarea", { name: "counter_reasons", rows: 2 });
  const give = async (kind, button) => {
    const { chosen, unticked, applicant, error, focus } = read();
    error.textContent = "";
    if (!chosen) { error.textContent = t("pick_procedure"); focus(); return; }
    const typed = missing.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const m = l.match(/^(.*?)\s*;\s*(\d+)$/);
      return m ? { name: m[1], count: Number(m[2]) } : { name: l, count: 1 };
    });
    const req = { kind, procedure_code: chosen.code, applicant, reasons: reasons.value.split("\n").map((l) => l.trim()).filter(Boolean) };
    if (!applicant.email) delete applicant.email;
    if (kind === "supplement") req.missing = [...unticked, ...typed];
    button.disabled = true;
    try {
      const { res, body } = await api("/api/v1/guidance", { method: "POST", body: JSON.stringify(req) });
      if (!res.ok) { error.textContent = errorText(body); return; }
      showGuidanceGiven(body);
    } finally { button.disabled = false; }
  };
  const guide = h("button", { type: "button", id: "give-form02", onclick: () => give("supplement", guide) }, t("g_guide"));
  const refuse = h("button", { type: "button", id: "give-form03", onclick: () => give("refusal", refuse) }, t("g_refuse"));
  return h("fieldset", { id: "counter-work" }, h("legend", {}, t("g_counter")), h("p", { class: "muted" }, t("g_hint")),
    h("label", {}, h("span", {}, t("g_missing")), missing), h("label", {}, h("span", {}, t("g_reasons")), reasons),
    h("div", { class: "buttons" }, guide, refuse));
}

/** A guidance record just given: its form, ready to print. */
function showGuidanceGiven(g) {
  renderPrint(guidanceForm(g));
  page(h("section", { class: "card", id: "guidance-given" },
    h("h1", {}, t(g.kind === "supplement" ? "g_given_02" : "g_given_03")),
    h("p", { class: "big" }, `${t("g_number")}: `, h("b", { id: "guidance-number" }, g.number)),
    h("p", { class: "muted" }, t("g_not_received")),
    h("div", { class: "buttons" },
      h("button", { type: "button", class: "primary", id: "print-guidance", onclick: () => window.print() }, t("g_print")),
      h("a", { href: "#/guidance", class: "button" }, t("g_nav")),
      h("a", { href: "#/reception", class: "button", onclick: () => { if (location.hash === "#/reception") route(); } }, t("new_dossier")))));
}

/** Guidance records (hồ sơ hướng dẫn), newest first, searched by identity
 * number, name or number: the citizen who comes back is found here. */
async function showGuidanceList(params) {
  const q = params.get("q") || "";
  const box = h("input", { name: "q", value: q, placeholder: t("g_search_hint"), "aria-label": t("g_search_hint") });
  const search = h("form", { class: "search", id: "guidance-search", onsubmit: (e) => { e.preventDefault(); location.hash = `#/guidance?${new URLSearchParams({ q: box.value.trim() })}`; } },
    box, h("button", { type: "submit" }, t("show")));
  const { res, body } = await api(`/api/v1/guidance?${new URLSearchParams(q ? { q } : {})}`);
  const rows = res.ok ? body : [];
  page(h("section", { class: "card", id: "guidance" }, h("h1", {}, t("g_nav")), search,
    res.ok ? null : h("p", { class: "error" }, errorText(body)),
    rows.length ? h("table", { class: "lines", id: "guidance-list" },
      h("thead", {}, h("tr", {}, [t("g_number"), t("g_at"), t("g_kind"), t("applicant"), t("id_number"), t("procedure"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.map((g) => h("tr", { "data-number": g.number }, h("td", {}, g.number), h("td", {}, when(g.at)),
        h("td", {}, t(g.kind === "supplement" ? "g_kind_02" : "g_kind_03")), h("td", {}, g.applicant.name), h("td", {}, g.applicant.id_number),
        h("td", {}, g.procedure_name),
        h("td", {}, h("button", { type: "button", class: "print-again", onclick: () => { renderPrint(guidanceForm(g)); window.print(); } }, t("g_print")), " ",
          h("a", { href: `#/reception?${new URLSearchParams({ guidance: g.number })}`, class: "button receive-from" }, t("g_receive")))))))
      : h("p", { class: "muted" }, t("g_none"))));
}

/** Why an identity number cannot be of its kind (an i18n key), or null:
 * the node's rule (docs/domain-decisions.md), checked before sending. The
 * desk takes 12-digit cards; the node also reads old 9-digit ones. */
function idProblem(kind, idKind, id) {
  if (kind === "organization") return /^\d{10}(\d{3}|-\d{3})?$/.test(id) ? null : "tax_invalid";
  if (idKind === "passport") return /^[A-Za-z0-9]{6,12}$/.test(id) ? null : "passport_invalid";
  return /^\d{12}$/.test(id) ? null : "id_invalid";
}

/** The dossier just received; the files picked at the desk are sent to it
 * (`upload`: the reception's attach box), and the slip, which says which
 * lines are digitized, is printable once they have gone. */
async function showReceived(d, upload) {
  renderPrint(receiptForm(d), receiptForm(d, true));
  let latest = d;
  page(h("section", { class: "card", id: "received" },
    h("h1", {}, t("received_ok")),
    h("p", { class: "big" }, h("b", { id: "received-code" }, d.code)),
    h("p", {}, `${t("due")}: `, h("b", {}, when(d.due_at))),
    upload ? h("div", { id: "received-files" }, h("h2", {}, t("attachments")), upload.box.el) : null,
    h("div", { class: "buttons" },
      h("button", { type: "button", class: "primary", id: "print-receipt", onclick: () => { renderPrint(receiptForm(latest), receiptForm(latest, true)); window.print(); } }, t("print_receipt")),
      h("button", { type: "button", id: "print-receipt-two-up", onclick: () => { renderPrint(receiptTwoUp(latest)); window.print(); } }, t("print_two_up")),
      h("a", { href: `#/dossier/${encodeURIComponent(d.code)}`, class: "button" }, t("open_dossier")),
      h("a", { href: "#/reception", class: "button", onclick: () => { if (location.hash === "#/reception") route(); } }, t("new_dossier")))));
  const print = $("print-receipt");
  if (!upload) { print.focus(); return; }
  print.disabled = true;
  upload.box.setTarget({
    code: d.code, lineOf: upload.lineOf,
    onSent: async () => {
      const { res, body } = await api(`/api/v1/dossiers/${encodeURIComponent(d.code)}`);
      if (res.ok) { latest = body; renderPrint(receiptForm(body), receiptForm(body, true)); }
    },
  });
  try { await upload.box.send(); } finally { print.disabled = false; }
  print.focus();
}

// ---------------------------------------------------------------- printable forms

function renderPrint(...forms) { $("print").replaceChildren(...forms); }

/** A form's national heading and title; `issuer` replaces the one-stop
 * desk's name at the top left (form 04 comes from the unit at fault). */
function formHead(title, issuer) {
  return h("div", { class: "form-head" },
    issuer || h("div", {}, h("b", {}, (health.unit_name || "").toUpperCase()), h("br"), "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ"),
    h("div", {}, h("b", {}, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), h("br"), "Độc lập - Tự do - Hạnh phúc"),
    h("h2", {}, title));
}
const sequenceOf = (code) => code.split("-").pop();
const row = (label, value) => h("tr", {}, h("th", {}, label), h("td", {}, value ?? ""));

/** The words form 01 prints for an identity number's kind. */
function idLabelVi(kind) {
  return kind === "tax_code" ? "Mã số doanh nghiệp/Mã số thuế" : kind === "passport" ? "Số hộ chiếu" : "Số định danh cá nhân";
}

/** Form 01 of Thông tư 03/2025/TT-VPCP: Giấy tiếp nhận hồ sơ và hẹn trả
 * kết quả, an A5 slip in two copies (liên); `half` makes it one half of
 * the A4 two-up sheet ([`receiptTwoUp`]). */
function receiptForm(d, second = false, half = false) {
  const a = d.applicant;
  const rep = d.representative || a.representative;
  const org = a.kind === "organization";
  const year = d.logbook ? d.logbook.volume : d.received_at.slice(0, 4);
  const number = d.logbook ? d.logbook.number : "…";
  const count = (n) => String(n || 0);
  return h("article", { class: half ? "receipt half" : "form a5 receipt" },
    formHead("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"),
    h("p", { class: "center" }, `Mã hồ sơ: `, h("b", { class: "receipt-code" }, d.code), ` · Liên ${second ? "2: lưu tại Bộ phận Một cửa" : "1: giao người nộp hồ sơ"}`),
    h("img", { class: "qr", src: `/api/v1/dossiers/${encodeURIComponent(d.code)}/qr.svg`, alt: d.code }),
    h("table", {},
      row(org ? "Tên tổ chức (chủ hồ sơ)" : "Chủ hồ sơ", h("span", { class: "receipt-holder" }, a.name)),
      row(idLabelVi(a.id_kind), h("span", { class: "receipt-id" }, a.id_number)),
      rep ? row("Người nộp hồ sơ", h("span", { class: "receipt-submitter" }, `${rep.name} — ${idLabelVi(rep.id_kind)}: ${rep.id_number}${rep.phone ? `, ĐT: ${rep.phone}` : ""}`)) : null,
      row("Địa chỉ", a.address), row("Số điện thoại", a.phone),
      row("Thư điện tử", a.email || ""),
      row("Nội dung yêu cầu", d.procedure_name)),
    h("table", { class: "lines receipt-documents" },
      h("thead", {}, h("tr", {}, ["TT", "Tên giấy tờ", "Bản chính", "Bản chứng thực", "Bản sao", "Số hóa"].map((x) => h("th", {}, x)))),
      h("tbody", {}, d.documents.map((x, i) => h("tr", {}, h("td", {}, i + 1), h("td", {}, x.name), h("td", {}, count(x.original)),
        h("td", {}, count(x.certified)), h("td", {}, count(x.copies)),
        h("td", {}, h("span", { class: "digitized" }, x.digitized ? "đã số hóa" : "chưa số hóa")))))),
    h("table", {},
      row("Số lượng hồ sơ", `${String(d.sets).padStart(2, "0")} bộ`),
      row("Thời hạn giải quyết", d.processing_time === 0 ? "Trong ngày" : timeTextVi(d.processing_time, d.time_unit)),
      row("Thời gian nhận hồ sơ", `${hhmm(d.received_at)} ngày ${day(d.received_at)}`),
      row("Thời gian trả kết quả", h("b", { class: "receipt-due" }, d.due_at ? `${hhmm(d.due_at)} ngày ${day(d.due_at)}` : "Không hẹn ngày")),
      row("Nơi nhận kết quả", h("span", { class: "receipt-collection" }, d.collection === "post"
        ? "Qua dịch vụ bưu chính công ích"
        : `Tại Bộ phận Một cửa — ${health.unit_name || ""}`)),
      row("Phí, lệ phí", d.fee_vnd ? money(d.fee_vnd) : "Không thu")),
    h("p", { class: "logbook-line" }, `Vào Sổ theo dõi hồ sơ, Quyển số ${year}, Số thứ tự ${number}`),
    h("div", { class: "signatures" }, h("div", {}, h("b", {}, "NGƯỜI NỘP HỒ SƠ"), h("br"), "(Ký, ghi rõ họ tên)", h("p", { class: "signer" }, rep ? rep.name : org ? "" : a.name)),
      h("div", {}, h("b", {}, "NGƯỜI TIẾP NHẬN HỒ SƠ"), h("br"), "(Ký, ghi rõ họ tên)", h("p", { class: "signer" }, d.received_by))),
    h("p", { class: "small" }, /^(127\.|localhost$|\[::1\]$)/.test(location.hostname)
      ? "Tra cứu tình trạng hồ sơ bằng mã hồ sơ và 4 số cuối số định danh tại Bộ phận Một cửa."
      : `Tra cứu tình trạng hồ sơ tại ${location.origin}/track bằng mã hồ sơ và 4 số cuối số định danh.`));
}

/** Form 01's two copies side by side on one A4 sheet (landscape: two A5
 * halves), with a line to cut along: what a cheap A4 printer makes. */
function receiptTwoUp(d) {
  return h("article", { class: "form two-up", id: "receipt-two-up" },
    receiptForm(d, false, true), h("div", { class: "cut-line", "aria-hidden": "true" }, h("span", {}, "✂")), receiptForm(d, true, true));
}

/** Form 02 (Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ), given once, in
 * writing: at the counter before receipt (a guidance record, `number`) or
 * for a received dossier (its supplement request, `code`). */
function form02(x) {
  const a = x.applicant;
  return h("article", { class: "form a5", id: "form02" }, formHead("PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ"),
    h("table", {},
      x.code ? row("Mã hồ sơ", x.code) : row("Số phiếu", x.number),
      row("Người nộp hồ sơ", a.name), row("Địa chỉ", a.address), row("Số điện thoại", a.phone), row("Thư điện tử", a.email || ""),
      row("Nội dung yêu cầu giải quyết", x.procedure_name),
      row("Hồ sơ cần bổ sung, hoàn thiện", h("ol", { class: "missing" }, x.missing.map((m) => h("li", {}, m.count ? `${m.name}: ${m.count} bản` : m.name)))),
      row("Lý do", x.reasons.filter(Boolean).join("; ")),
      x.deadline ? row("Hạn bổ sung", day(x.deadline)) : null,
      row("Ngày lập phiếu", when(x.at))),
    h("p", {}, `Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, ông/bà liên hệ với ${x.officer}${x.contact_phone ? `, số điện thoại ${x.contact_phone}` : ""} để được hướng dẫn.`),
    h("div", { class: "signatures" }, h("div", {}), h("div", {}, h("b", {}, "NGƯỜI HƯỚNG DẪN"), h("br"), "(Ký, ghi rõ họ tên)", h("p", { class: "signer" }, x.officer))));
}

/** Form 03 (Phiếu từ chối tiếp nhận giải quyết hồ sơ), signed by the
 * applicant and the receiving officer. */
function form03(x) {
  const a = x.applicant;
  return h("article", { class: "form a5", id: "form03" }, formHead("PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ"),
    h("table", {},
      x.code ? row("Mã hồ sơ", x.code) : row("Số phiếu", x.number),
      row("Người nộp hồ sơ", a.name), row("Địa chỉ", a.address), row("Số điện thoại", a.phone), row("Thư điện tử", a.email || ""),
      row("Nội dung yêu cầu giải quyết", x.procedure_name),
      row("Lý do từ chối", h("ol", { class: "reasons" }, x.reasons.filter(Boolean).map((r) => h("li", {}, r)))),
      row("Ngày lập phiếu", when(x.at))),
    h("p", {}, "Bộ phận Tiếp nhận và Trả kết quả xin thông báo với ông/bà lý do hồ sơ không được tiếp nhận như trên."),
    h("div", { class: "signatures" }, h("div", {}, h("b", {}, "NGƯỜI NỘP HỒ SƠ"), h("br"), "(Ký, ghi rõ họ tên)"),
      h("div", {}, h("b", {}, "NGƯỜI TIẾP NHẬN HỒ SƠ"), h("br"), "(Ký, ghi rõ họ tên)", h("p", { class: "signer" }, x.officer))));
}

/** Form 02 or 03 of a guidance record given at the counter. */
function guidanceForm(g) {
  return (g.kind === "supplement" ? form02 : form03)(g);
}

/** Form 02 or 03 from the event of a received dossier that issued it. */
function eventForm(d, ev, kind) {
  const base = { code: d.code, applicant: d.applicant, procedure_name: d.procedure_name, at: ev.at, officer: ev.officer };
  if (kind === "request_supplement") return form02({ ...base, missing: (ev.missing || []).map((name) => ({ name })), reasons: [ev.reason], deadline: ev.deadline });
  return form03({ ...base, reasons: [ev.reason] });
}

/** The names of units, by code, as this node knows them: its own, the
 * steps' units, then the fleet (`/api/v1/fleet`, nodes it knows). A unit
 * it does not know prints as its code. */
async function unitNames(d, codes) {
  const names = new Map([[health.unit, health.unit_name]]);
  for (const s of d.steps || []) if (s.unit_name && s.unit_name !== s.unit) names.set(s.unit, s.unit_name);
  if (codes.some((c) => !names.get(c))) {
    const { res, body } = await api("/api/v1/fleet");
    if (res.ok) for (const n of body) if (n.unit && n.unit_name && !names.get(n.unit)) names.set(n.unit, n.unit_name);
  }
  return (code) => names.get(code) || code;
}

/** "ngày dd tháng mm năm yyyy" of an RFC 3339 time (the local date). */
function longDateVi(rfc3339) {
  const [y, m, dd] = localDate(rfc3339).split("-");
  return `ngày ${dd} tháng ${m} năm ${y}`;
}

/** Form 04 of Thông tư 03/2025/TT-VPCP: Văn bản xin lỗi và đề nghị gia
 * hạn thời gian giải quyết, from the `reappoint` event. It is issued by
 * the unit that caused the delay (the event's unit), numbered by that
 * unit's clerk (Số: left blank), addressed to the applicant, signed by
 * the unit's head, with a copy to the one-stop desk. The original
 * appointment is the one in force before the event: the last `due_at`
 * an earlier history entry set. */
function form04(d, ev, nameOf) {
  const at = d.history.indexOf(ev);
  const before = d.history.slice(0, at < 0 ? d.history.length : at).filter((x) => x.due_at).pop();
  const issuer = nameOf(ev.unit);
  const desk = nameOf(d.receiving_unit);
  const time = (x) => x ? `${hhmm(x)} ngày ${day(x)}` : "…";
  return h("article", { class: "form a4", id: "form04" },
    formHead("VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
      h("div", {}, h("b", { class: "form04-issuer" }, issuer.toUpperCase()), h("br"), "Số: ……/……")),
    h("p", { class: "center" }, h("i", {}, `……, ${longDateVi(ev.at)}`)),
    h("p", {}, h("b", {}, "Kính gửi: "), h("span", { class: "form04-to" }, d.applicant.name)),
    h("table", {},
      row("Địa chỉ", d.applicant.address), row("Số điện thoại", d.applicant.phone),
      row("Mã hồ sơ", h("b", {}, d.code)), row("Nội dung yêu cầu giải quyết", d.procedure_name),
      row("Ngày tiếp nhận hồ sơ", `${time(d.received_at)} (${desk})`),
      row("Thời gian hẹn trả kết quả", h("span", { class: "form04-old-due" }, time(before && before.due_at))),
      row("Lý do chậm trễ", h("span", { class: "form04-reason" }, ev.reason || "")),
      row("Thời gian hẹn trả kết quả mới", h("b", { class: "form04-new-due" }, time(ev.due_at)))),
    h("p", { class: "form04-apology" }, `Việc giải quyết hồ sơ của ông/bà không bảo đảm thời hạn đã hẹn trong Giấy tiếp nhận hồ sơ và hẹn trả kết quả. ${issuer} xin lỗi ông/bà vì sự chậm trễ này và đề nghị gia hạn thời gian giải quyết hồ sơ đến ${time(ev.due_at)}.`),
    h("p", {}, "Rất mong nhận được sự thông cảm của ông/bà."),
    h("div", { class: "signatures" },
      h("div", { class: "small left" }, h("b", {}, "Nơi nhận:"), h("br"), "- Như trên;", h("br"),
        h("span", { class: "form04-copy" }, `- Bộ phận Một cửa ${desk} (để phối hợp);`), h("br"), "- Lưu: VT."),
      h("div", {}, h("b", {}, "THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ"), h("br"), "(Ký, ghi rõ họ tên, đóng dấu)",
        h("p", { class: "signer small" }, `Người lập: ${ev.officer}`))));
}

/** Form 05 (Thông tư 03/2025/TT-VPCP): the notice that the resolution of
 * a dossier is stopped, from the stop event, with its reasons and legal
 * basis; signed for the unit that stopped it. */
function stopNotice(d, ev) {
  const lines = (text) => text ? text : "…………………………………………………………";
  return h("article", { class: "form a5", id: "form05" }, formHead("THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ"),
    h("p", {}, `Kính gửi: ${d.applicant.name}`),
    h("table", {},
      row("Mã hồ sơ", d.code), row("Người nộp", d.applicant.name), row("Địa chỉ", d.applicant.address),
      row("Số điện thoại", d.applicant.phone), row("Thủ tục", d.procedure_name),
      row("Ngày tiếp nhận", when(d.received_at)), row("Ngày dừng giải quyết", when(ev.at)),
      row("Lý do dừng giải quyết", h("span", { class: "stop-reason" }, lines(ev.reason))),
      row("Căn cứ pháp lý", h("span", { class: "stop-basis" }, lines(ev.legal_basis)))),
    h("p", {}, `${ev.unit === health.unit ? (health.unit_name || ev.unit) : ev.unit} thông báo dừng giải quyết hồ sơ nêu trên.`),
    h("div", { class: "signatures" }, h("div", {}),
      h("div", {}, h("b", {}, "THỦ TRƯỞNG CƠ QUAN"), h("br"), "(Ký, ghi rõ họ tên, đóng dấu)", h("p", { class: "signer" }, ev.officer))));
}

/** Form 06 of Thông tư 03/2025/TT-VPCP: Phiếu kiểm soát quá trình giải
 * quyết hồ sơ (A4). The heading names the lead agency (the first unit the
 * dossier was handed to beyond the desk, or the desk itself) and the
 * coordinating ones (the others it went to). One row per hand-off: a
 * recorded workflow step (its unit, hand-over time, giver and receiver,
 * judged against the step's own deadline), or, for a case without steps,
 * each hand-off event judged against the appointment by local date. The
 * signature cells are left blank, the officers' names printed small. */
function form06(d, nameOf) {
  const sign = (name) => h("td", { class: "sign" }, h("span", { class: "small" }, name || ""));
  const verdict = (s) => s.ended_by === "recall" ? "Bị thu hồi" : s.ended_by === "return_to_previous" && !s.result ? "Bị trả lại bước trước"
    : s.result === "early" ? "Trước hạn" : s.result === "on_time" ? "Đúng hạn" : s.result === "late" ? "Quá hạn" : s.overdue ? "Quá hạn, đang thực hiện" : "Đang thực hiện";
  const agencyOf = (n) => (d.case_steps || []).find((c) => c.number === n)?.agency;
  const HANDOFFS = ["start_processing", "transfer", "processed", "return_result"];
  const rows = d.steps.length
    ? d.steps.map((s, i) => {
      const from = i === 0 ? d.receiving_unit : d.steps[i - 1].unit;
      const agency = agencyOf(s.number);
      return h("tr", {}, h("td", {}, `${i + 1}`),
        h("td", {}, `Giao: ${nameOf(from)}`, h("br"), `Nhận: ${nameOf(s.unit)}${agency ? ` (${agency})` : ""}`),
        h("td", {}, hhmm(s.started_at), h("br"), day(s.started_at)), sign(s.handed_over_by), sign(s.received_by),
        h("td", {}, verdict(s)), h("td", {}, `Bước ${s.number}. ${s.name} (${timeTextVi(s.time_limit, s.time_unit)}, hạn ${when(s.deadline)})`));
    })
    : d.history.map((ev, i) => [ev, i]).filter(([ev]) => HANDOFFS.includes(ev.action)).map(([ev, i], k) => {
      const next = d.history.slice(i + 1).find((x) => x.unit === (ev.to_unit || (ev.action === "processed" ? d.receiving_unit : ev.unit)));
      const to = ev.action === "transfer" ? nameOf(ev.to_unit) : ev.action === "processed" ? `Bộ phận Một cửa ${nameOf(d.receiving_unit)}`
        : ev.action === "return_result" ? "Tổ chức, cá nhân" : nameOf(ev.unit);
      const late = d.due_at && localDate(ev.at) > localDate(d.due_at);
      const early = d.due_at && localDate(ev.at) < localDate(d.due_at);
      return h("tr", {}, h("td", {}, `${k + 1}`), h("td", {}, `Giao: ${nameOf(ev.unit)}`, h("br"), `Nhận: ${to}`),
        h("td", {}, hhmm(ev.at), h("br"), day(ev.at)), sign(ev.officer),
        sign(ev.action === "return_result" ? d.applicant.name : ev.action === "start_processing" ? ev.officer : next && next.officer),
        h("td", {}, !d.due_at ? "" : late ? "Quá hạn" : early ? "Trước hạn" : "Đúng hạn"), h("td", {}, actionName(ev.action), ev.note ? `: ${ev.note}` : ""));
    });
  const units = [...new Set([...d.steps.map((s) => s.unit), ...d.history.map((e) => e.to_unit).filter(Boolean)])].filter((u) => u !== d.receiving_unit);
  const lead = units.length ? nameOf(units[0]) : nameOf(d.receiving_unit);
  const others = units.slice(1).map(nameOf);
  return h("article", { class: "form a4", id: "form06" }, formHead("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"),
    h("p", { class: "center" }, "Mã hồ sơ: ", h("b", {}, d.code)),
    h("p", { class: "center small" }, "(Kèm theo Giấy tiếp nhận hồ sơ và hẹn trả kết quả, liên 2)"),
    h("table", {},
      row("Cơ quan, đơn vị chủ trì giải quyết", h("span", { class: "form06-lead" }, lead)),
      row("Cơ quan, đơn vị phối hợp giải quyết", h("span", { class: "form06-coordinating" }, others.join("; ") || "Không")),
      row("Chủ hồ sơ", d.applicant.name), row("Nội dung yêu cầu giải quyết", d.procedure_name),
      row("Thời gian nhận hồ sơ", `${hhmm(d.received_at)} ngày ${day(d.received_at)}`),
      row("Thời gian hẹn trả kết quả", d.due_at ? `${hhmm(d.due_at)} ngày ${day(d.due_at)}` : "Không hẹn ngày")),
    h("table", { class: "lines", id: "control-steps" },
      h("thead", {}, h("tr", {}, ["TT", "Tên cơ quan, đơn vị giao, nhận", "Thời gian giao, nhận hồ sơ", "Người giao (ký)", "Người nhận (ký)",
        "Kết quả giải quyết hồ sơ (trước hạn/đúng hạn/quá hạn)", "Ghi chú"].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows)));
}

/** The local date (YYYY-MM-DD) of an RFC 3339 time the node wrote in its
 * province's offset. */
function localDate(rfc3339) {
  return String(rfc3339 || "").slice(0, 10);
}

/** A time limit in the words of the printed forms (always Vietnamese). */
function timeTextVi(n, unit) {
  return `${n} ${unit === "working_hours" ? "giờ làm việc" : unit === "calendar_days" ? "ngày" : "ngày làm việc"}`;
}

/** Form 07 of Thông tư 03/2025/TT-VPCP: the logbook (Sổ theo dõi hồ sơ)
 * of a period, from `/api/v1/logbook`, in order of receipt; each line's
 * number is the one that runs through the year (Quyển số = the year). */
function logbook(rows, from, to) {
  const cols = ["Số thứ tự", "Mã hồ sơ", "Trích yếu (thủ tục)", "Số bộ", "Tên chủ hồ sơ", "Địa chỉ", "Số điện thoại", "Ngày nhận",
    "Ngày hẹn trả", "Chuyển cơ quan giải quyết", "Có kết quả", "Ngày trả kết quả", "Cán bộ tiếp nhận", "Ký nhận kết quả", "Ghi chú"];
  const volumes = [...new Set(rows.map((d) => d.logbook && d.logbook.volume).filter(Boolean))];
  return h("article", { class: "form a4 logbook" }, formHead("SỔ THEO DÕI HỒ SƠ"),
    h("p", { class: "center" }, volumes.length ? `Quyển số ${volumes.join(", ")} · ` : "", from === to ? `Ngày ${day(from)}` : `Từ ngày ${day(from)} đến ngày ${day(to)}`),
    h("table", { class: "lines", id: "logbook" }, h("thead", {}, h("tr", {}, cols.map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.map((d, i) => h("tr", {}, h("td", {}, d.logbook ? d.logbook.number : `(${i + 1})`), h("td", {}, d.code), h("td", {}, d.procedure_name), h("td", {}, d.sets),
        h("td", {}, d.applicant.name), h("td", {}, d.applicant.address), h("td", {}, d.applicant.phone),
        h("td", {}, when(d.received_at)), h("td", {}, when(d.due_at)), h("td", {}, when(d.handed_over_at)), h("td", {}, when(d.result_ready_at)),
        h("td", {}, when(d.returned_at)), h("td", {}, d.received_by), h("td", { class: "sign" }), h("td", {}, stateName(d.state)))))));
}

/** The period picker that prints the logbook (form 07). */
function logbookControl() {
  const today = localToday();
  const error = h("span", { class: "error", role: "alert" });
  const form = h("form", { class: "search", id: "logbook-form" },
    h("label", {}, h("span", {}, t("from")), h("input", { type: "date", name: "from", value: today, required: true })),
    h("label", {}, h("span", {}, t("to")), h("input", { type: "date", name: "to", value: today, required: true })),
    h("button", { type: "submit" }, t("print_logbook")), error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const f = new FormData(form);
    const [from, to] = [String(f.get("from")), String(f.get("to"))];
    const { res, body } = await api(`/api/v1/logbook?${new URLSearchParams({ from, to })}`);
    if (!res.ok) { error.textContent = errorText(body); return; }
    renderPrint(logbook(body, from, to));
    window.print();
  });
  return form;
}

// ---------------------------------------------------------------- queues

const QUEUES = {
  today: () => ({ received_from: localToday() }), in_process: () => ({ state: "4" }), supplement: () => ({ state: "5" }),
  ready: () => ({ state: "9" }), due_soon: () => ({ due_soon: "true" }), overdue: () => ({ overdue: "true" }),
  conflicts: () => ({ conflicts: "true" }), all: () => ({}),
};
const QUEUE_LABEL = { today: "q_today", in_process: "q_in_process", supplement: "q_supplement", ready: "q_ready", due_soon: "q_due_soon", overdue: "q_overdue", conflicts: "q_conflicts", all: "q_all" };

async function showQueue(name, params) {
  if (!QUEUES[name]) name = "today";
  const pageNo = Math.max(1, Number(params.get("page")) || 1);
  const q = params.get("q") || "";
  const query = new URLSearchParams({ ...QUEUES[name](), limit: String(PAGE_SIZE), offset: String((pageNo - 1) * PAGE_SIZE) });
  if (q) query.set("q", q);
  const { res, body } = await api(`/api/v1/dossiers?${query}`);
  const total = res.ok ? Number(res.headers.get("X-Total-Count") || body.length) : 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const go = (p, text) => `#/queue/${name}?${new URLSearchParams({ page: String(p), ...(text ? { q: text } : {}) })}`;
  const tabs = h("nav", { class: "tabs" }, Object.keys(QUEUES).map((k) => h("a", { href: `#/queue/${k}`, class: k === name ? "active" : "" }, t(QUEUE_LABEL[k]))));
  const searchBox = h("input", { name: "q", value: q, placeholder: t("search_hint"), "aria-label": t("search_hint") });
  const search = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); location.hash = go(1, searchBox.value.trim()); } }, searchBox, h("button", { type: "submit" }, t("find")));
  const rows = res.ok ? body : [];
  const table = h("table", { class: "list", id: "queue" },
    h("thead", {}, h("tr", {}, ["code", "procedure", "applicant", "state", "received", "due"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((d) => h("tr", { class: d.overdue ? "overdue" : "" },
      h("td", {}, h("a", { href: `#/dossier/${encodeURIComponent(d.code)}` }, d.code)), h("td", {}, d.procedure_name),
      h("td", {}, d.applicant.name), h("td", {}, stateName(d.state), d.conflicts ? h("span", { class: "badge bad" }, "!") : null),
      h("td", {}, when(d.received_at)), h("td", {}, when(d.due_at), d.overdue ? h("span", { class: "badge bad" }, t("overdue")) : null)))));
  page(h("section", { class: "card" }, h("h1", {}, t(QUEUE_LABEL[name])), tabs, search,
    h("p", { id: "count" }, res.ok ? t("found")(total) : errorText(body)),
    rows.length ? table : h("p", { class: "muted" }, t("none")),
    h("div", { class: "pager" },
      pageNo > 1 ? h("a", { href: go(pageNo - 1, q), class: "button" }, t("prev")) : null,
      h("span", {}, t("page_of")(pageNo, pages)),
      pageNo < pages ? h("a", { href: go(pageNo + 1, q), class: "button", id: "next-page" }, t("next")) : null),
    h("h2", {}, t("form07")), logbookControl()));
}

// ---------------------------------------------------------------- attachments

// What a node takes (motcua_domain::attachment): PDF, JPEG and PNG; 64 MiB
// a file; 512 MiB and 200 files a dossier. Checked here only to spare
// sending bytes the node would refuse anyway (it answers an oversized
// upload by closing the connection); the node decides.
const FILE_BYTES_MAX = 64 * 1024 * 1024;
const DOSSIER_BYTES_MAX = 512 * 1024 * 1024;
const DOSSIER_FILES_MAX = 200;
const FILE_TYPES = { "application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG" };
// The states in which the workflow lets an officer attach (Action::Attach
// in domain/src/workflow.rs): open dossiers, before the result is returned.
const ATTACH_STATES = [1, 2, 4, 5, 6, 7, 9];
const FILES_POLL_MS = 3000;

function bytesText(n) {
  const num = (x) => x.toLocaleString(LOCALE(), { maximumFractionDigits: 1 });
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${num(n / 1024)} KB`;
  return `${num(n / (1024 * 1024))} MB`;
}
const fileUrl = (code, hash) => `/api/v1/dossiers/${encodeURIComponent(code)}/attachments/${hash}`;

/**
 * Sends one file as the whole request body, so the request carries its
 * Content-Length and the node can refuse an oversized file before reading
 * it. XMLHttpRequest rather than fetch: only it reports an upload's
 * progress. Resolves to {status, body}; status 0 when the connection broke.
 */
function sendFile(code, file, kind, line, onProgress) {
  return new Promise((resolve) => {
    const query = new URLSearchParams({ name: file.name, kind });
    if (line) query.set("line", String(line));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/dossiers/${encodeURIComponent(code)}/attachments?${query}`);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    if (me) xhr.setRequestHeader("X-CSRF-Token", me.csrf_token);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not the API's JSON */ }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
    xhr.addEventListener("abort", () => resolve({ status: 0, body: null }));
    xhr.send(file);
  });
}

/** Why the node refused a file, in the page's language; in English the
 * node's own words follow. */
function fileErrorText(status, body, file) {
  if (status === 0) return t("file_err_network");
  const e = body && body.error;
  if (!e) return t("err_unexpected");
  const type = FILE_TYPES[file.type] || file.type;
  const texts = {
    not_that_type: t("file_err_not_that_type")(type),
    unsupported_media_type: t("file_err_unsupported"),
    // The limit of one file, or what the dossier still has room for.
    body_too_large: file.size > FILE_BYTES_MAX ? t("file_err_too_big") : t("file_err_dossier_full"),
    too_large: t("file_err_dossier_full"),
    empty_file: t("file_err_empty"),
    disk_full: t("file_err_disk_full"),
    unreadable_body: t("file_err_broken"),
  };
  const text = texts[e.code];
  if (!text) return errorText(body);
  return lang === "en" ? `${text}: ${e.message}` : text;
}

/**
 * Files an officer picks (file input, or dropped on the box), each with
 * its kind and, for a scanned component, the checklist line it digitizes;
 * sent one at a time once the dossier has a code (`setTarget`).
 *   lines(): [{value, label}] for the line selects;
 *   used(): {count, bytes} of files the dossier already keeps.
 */
function attachBox({ lines, used = () => ({ count: 0, bytes: 0 }), hint = null }) {
  const items = [];
  let target = null; // {code, lineOf(value) → line number, onSent()}
  let sending = null;
  const input = h("input", { type: "file", multiple: true, id: "file-input", class: "visually-hidden",
    accept: "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png" });
  const rows = h("tbody");
  const table = h("table", { class: "list", id: "uploads", hidden: true },
    h("thead", {}, h("tr", {}, ["file", "kind", "line", "file_state"].map((k) => h("th", {}, t(k))), h("th", {}))), rows);
  const sendButton = h("button", { type: "button", class: "primary", id: "send-files", hidden: true, onclick: () => send() }, t("send_files"));
  const zone = h("div", { class: "dropzone", id: "dropzone" },
    h("span", {}, t("drop_files")), " ", h("label", { class: "button" }, t("choose_files"), input),
    hint ? h("p", { class: "muted" }, hint) : null);

  const lineOptions = (select) => {
    const keep = select.value;
    select.replaceChildren(h("option", { value: "" }, "—"), ...lines().map((l) => h("option", { value: l.value }, l.label)));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  };
  const show = () => {
    table.hidden = items.length === 0;
    sendButton.hidden = !target || !items.some((i) => i.status !== "done");
  };
  const setState = (item, status, text) => {
    item.status = status;
    const bar = status === "sending" ? h("progress", { max: 100, value: 0 }) : null;
    item.bar = bar;
    item.state.replaceChildren(h("span", { class: status === "failed" ? "error" : status === "done" ? "ok" : "" }, text), ...(bar ? [" ", bar] : []));
    const locked = status === "sending" || status === "done";
    item.kind.disabled = locked;
    item.line.disabled = locked || item.kind.value === "result";
    item.remove.hidden = locked;
    show();
  };
  const add = (files) => {
    for (const file of files) {
      const kind = h("select", { name: "kind", "aria-label": t("kind") },
        h("option", { value: "component" }, t("kind_component")), h("option", { value: "result" }, t("kind_result")));
      const line = h("select", { name: "line", "aria-label": t("line") });
      lineOptions(line);
      const item = { file, kind, line, state: h("td", { class: "upload-state" }), status: "waiting" };
      item.remove = h("button", { type: "button", class: "link", onclick: () => { items.splice(items.indexOf(item), 1); item.row.remove(); show(); } }, t("remove"));
      kind.addEventListener("change", () => { line.disabled = kind.value === "result"; if (line.disabled) line.value = ""; });
      item.row = h("tr", {}, h("td", {}, file.name, h("br"), h("span", { class: "muted" }, bytesText(file.size))),
        h("td", {}, kind), h("td", {}, line), item.state, h("td", {}, item.remove));
      items.push(item);
      rows.append(item.row);
      setState(item, "waiting", t("up_waiting"));
    }
  };
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files);
  });

  /** true once sent, false when refused, null when the session has ended. */
  const sendOne = async (item) => {
    const { file } = item;
    const now = used();
    const before = file.size > FILE_BYTES_MAX ? t("file_err_too_big")
      : now.count >= DOSSIER_FILES_MAX ? t("file_err_too_many")
        : now.bytes + file.size > DOSSIER_BYTES_MAX ? t("file_err_dossier_full") : "";
    if (before) { setState(item, "failed", before); return false; }
    setState(item, "sending", t("up_sending")(0));
    const kind = item.kind.value;
    const line = kind === "component" && item.line.value ? target.lineOf(item.line.value) : null;
    const { status, body } = await sendFile(target.code, file, kind, line, (done) => {
      const pct = Math.floor(done * 100);
      item.state.firstChild.textContent = t("up_sending")(pct);
      if (item.bar) item.bar.value = pct;
    });
    if (status === 401) { setState(item, "waiting", t("up_waiting")); me = null; showLogin(); return null; }
    if (status === 200 || status === 201) {
      item.hash = body.hash;
      setState(item, "done", status === 201 ? t("up_done") : t("up_again"));
      return true;
    }
    setState(item, "failed", fileErrorText(status, body, file));
    return false;
  };
  /** Sends every file not yet sent, in turn; then, if one went, onSent(). */
  const send = () => {
    if (!target) return Promise.resolve();
    if (!sending) {
      sending = (async () => {
        sendButton.disabled = true;
        let sent = false;
        try {
          for (const item of items.filter((i) => i.status === "waiting" || i.status === "failed")) {
            if (!items.includes(item)) continue;
            const done = await sendOne(item);
            if (done === null) return; // the session ended: the login form shows
            if (done) sent = true;
          }
        } finally { sendButton.disabled = false; sending = null; show(); }
        // What follows a sent file (the dossier and list shown again) may
        // fail with the connection; the files themselves are saved.
        if (sent && target.onSent) await target.onSent().catch((e) => console.warn("motcua: after an upload", e));
      })();
    }
    return sending;
  };
  return {
    el: h("div", { class: "attach", id: "attach" }, zone, table, sendButton),
    count: () => items.length,
    refreshLines: () => items.filter((i) => i.status !== "done").forEach((i) => lineOptions(i.line)),
    setTarget: (next) => { target = next; show(); },
    send,
  };
}

/**
 * The dossier's files and how far each has arrived at this node, with the
 * box to attach more. The list is fetched again every few seconds while
 * some file is still arriving, and no more once all are held or the page
 * has moved on.
 */
function filesPanel(d, onSent) {
  const rows = h("tbody");
  const table = h("table", { class: "list", id: "files", hidden: true },
    h("thead", {}, h("tr", {}, ["file", "size", "kind", "line", "attached_by", "file_state"].map((k) => h("th", {}, t(k))))), rows);
  const status = h("p", { class: "muted", id: "files-status" });
  let listed = [];
  let timer = null;
  const render = () => {
    table.hidden = listed.length === 0;
    status.textContent = listed.length ? "" : t("no_files");
    rows.replaceChildren(...listed.map((a) => {
      const doc = a.line ? d.documents[a.line - 1] : null;
      const pct = a.size ? Math.floor((100 * a.held_bytes) / a.size) : 0;
      return h("tr", { "data-hash": a.hash },
        h("td", {}, a.held ? h("a", { href: fileUrl(d.code, a.hash), target: "_blank", rel: "noopener", class: "file-link" }, a.name) : a.name,
          a.hash === d.result_file ? h("span", { class: "badge good" }, t("signed_result")) : null),
        h("td", {}, bytesText(a.size)), h("td", {}, t(`kind_${a.kind}`)),
        h("td", {}, a.line ? `${a.line}. ${doc ? doc.name : ""}` : ""),
        h("td", {}, `${a.by} (${a.unit})`, h("br"), when(a.at)),
        h("td", { class: "file-state" }, a.held ? h("span", { class: "badge good" }, t("file_held")) : h("span", { class: "badge" }, t("file_receiving")(pct)),
          a.at_province ? h("span", { class: "badge good" }, t("file_at_province")) : null));
    }));
  };
  const load = async () => {
    clearTimeout(timer);
    try {
      const { res, body } = await api(`/api/v1/dossiers/${encodeURIComponent(d.code)}/attachments`);
      if (!table.isConnected) return;
      if (!res.ok) { status.textContent = errorText(body); return; }
      listed = body;
      render();
      if (listed.some((a) => !a.held)) timer = setTimeout(load, FILES_POLL_MS);
    } catch (_) {
      // The node is unreachable for now: try again while the page shows.
      if (me && table.isConnected) timer = setTimeout(load, FILES_POLL_MS);
    }
  };
  const lines = () => d.documents.map((doc, i) => ({ value: String(i + 1), label: `${i + 1}. ${doc.name}` }));
  const used = () => ({ count: listed.length, bytes: listed.reduce((n, a) => n + a.size, 0) });
  const box = ATTACH_STATES.includes(d.state) ? attachBox({ lines, used }) : null;
  if (box) box.setTarget({ code: d.code, lineOf: Number, onSent: async () => { await onSent(); await load(); } });
  return {
    el: h("div", { id: "attachments" }, h("h2", {}, t("attachments")), status, table, box ? box.el : null),
    load,
    refresh: () => { render(); if (box) box.refreshLines(); },
  };
}

// ---------------------------------------------------------------- dossier page

const ACTION_FIELDS = {
  transfer: [["to_unit", "input"]], request_supplement: [["reason", "input"], ["missing", "textarea"], ["deadline", "date"]],
  refuse: [["reason", "input"]], processed: [["result", "input"]], reappoint: [["new_due_at", "date"], ["reason", "input"]],
  return_to_previous: [["reason", "input"]], reset_appointment: [["new_due_at", "date"], ["reason", "input"]], revoke_result: [["reason", "input"]],
  resolve_conflict: [["reason", "input"]], draft_supplement: [["reason", "input"], ["missing", "textarea"]],
  stop: [["reason", "input"], ["legal_basis", "input"]],
};

async function showDossier(code) {
  const { res, body: d } = await api(`/api/v1/dossiers/${encodeURIComponent(code)}`);
  if (!res.ok) { page(h("section", { class: "card" }, h("p", { class: "error" }, errorText(d)), h("a", { href: "#/queue/all" }, t("back")))); return; }
  renderDossier(d);
}

function renderDossier(d, message) {
  const actionBox = h("div", { id: "action-form" });
  // `extra`: what the button names beyond the form (a conflict's event_index).
  const openAction = (action, { summary, ...extra } = {}) => {
    const fields = ACTION_FIELDS[action] || [];
    const error = h("p", { class: "error", role: "alert" });
    // A hand-off starts a step of the case's workflow; the node's default
    // (the next one) is preselected.
    const stepSelect = ["start_processing", "transfer"].includes(action) && d.case_steps.length
      ? h("label", {}, h("span", {}, t("step")), h("select", { name: "step" }, d.case_steps.map((s) =>
        h("option", { value: String(s.number), selected: s.number === d.next_step },
          `${s.number}. ${s.name} — ${s.agency} (${timeText(s.time_limit, s.time_unit)})`))))
      : null;
    const form = h("form", { class: "action", "data-action": action },
      h("h3", {}, actionName(action)),
      summary ? h("p", { class: "muted" }, summary) : null,
      fields.map(([name, kind]) => {
        // The desk issues the processing unit's approved draft as written.
        const draft = action === "request_supplement" && d.supplement_draft && d.supplement_draft.approved ? d.supplement_draft : null;
        const value = draft && name === "reason" ? draft.reason : draft && name === "missing" ? draft.missing.join("\n") : undefined;
        return h("label", {}, h("span", {}, t(name)),
          kind === "textarea" ? h("textarea", { name, rows: 3, required: true }, value ?? "") : h("input", { name, type: kind === "date" ? "date" : "text", required: true, ...(value !== undefined ? { value } : {}) }));
      }),
      stepSelect,
      action === "processed" ? resultFileField(d) : null,
      action === "processed" ? resultDocumentFields() : null,
      action === "return_result" ? deliveryFields() : null,
      h("label", {}, h("span", {}, t("note")), h("input", { name: "note", maxlength: 500 })),
      error, h("button", { type: "submit", class: "primary" }, t("confirm")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const req = { action, ...extra };
      for (const [name] of fields) {
        const v = String(f.get(name) || "").trim();
        if (!v) continue;
        req[name] = name === "missing" ? v.split("\n").map((x) => x.trim()).filter(Boolean) : v;
      }
      if (stepSelect) req.step = Number(f.get("step"));
      if (action === "processed" && f.get("result_file")) req.result_file = String(f.get("result_file"));
      // The result as a document: all its fields or none.
      const docFields = ["type", "number", "signer", "issuer", "signed_on"].map((k) => [k, String(f.get(`doc_${k}`) || "").trim()]);
      if (action === "processed" && docFields.some(([, v]) => v)) req.result_document = Object.fromEntries(docFields);
      if (action === "return_result") {
        req.delivery = String(f.get("delivery") || "desk");
        if (req.delivery === "post") req.waybill = String(f.get("waybill") || "").trim();
      }
      if (String(f.get("note") || "").trim()) req.note = String(f.get("note")).trim();
      const { res, body } = await api(`/api/v1/dossiers/${encodeURIComponent(d.code)}/actions`, { method: "POST", body: JSON.stringify(req) });
      if (!res.ok) { error.textContent = errorText(body); return; }
      renderDossier(body, `${actionName(action)} — ${t("saved")}`);
    });
    actionBox.replaceChildren(form);
    const first = form.querySelector("input, textarea"); if (first) first.focus();
  };
  const last = (a) => d.history.filter((e) => e.action === a).pop();
  // Each button names its form's number and title in Thông tư 03/2025/TT-VPCP.
  const names = () => unitNames(d, [d.receiving_unit, ...d.history.flatMap((e) => [e.unit, e.to_unit]).filter(Boolean)]);
  const formButtons = [["form01", () => renderPrint(receiptForm(d), receiptForm(d, true))],
    ["form01_two_up", () => renderPrint(receiptTwoUp(d))],
    ...[["request_supplement", "form02"], ["refuse", "form03"]].filter(([a]) => last(a)).map(([a, f]) => [f, () => renderPrint(eventForm(d, last(a), a))]),
    ...(last("reappoint") ? [["form04", async () => renderPrint(form04(d, last("reappoint"), await names()))]] : []),
    ...(d.state === 8 && last("stop") ? [["form05", () => renderPrint(stopNotice(d, last("stop")))]] : []),
    ["form06", async () => renderPrint(form06(d, await names()))]];
  // After an upload: the dossier again (a line now digitized, a result
  // file to pick), without closing a form being filled.
  const files = filesPanel(d, async () => {
    const { res, body } = await api(`/api/v1/dossiers/${encodeURIComponent(d.code)}`);
    if (!res.ok) return;
    Object.assign(d, body);
    $("documents").replaceWith(documentsList(d));
    const field = actionBox.querySelector(".result-file");
    if (field) field.replaceWith(resultFileField(d));
    files.refresh();
    renderPrint(receiptForm(d), receiptForm(d, true));
  });
  page(h("section", { class: "card", id: "dossier" },
    h("a", { href: "#/queue/all" }, `← ${t("back")}`),
    h("h1", {}, d.code),
    h("p", {}, h("span", { class: `badge state s${d.state}`, id: "state" }, stateName(d.state)), " ",
      d.overdue ? h("span", { class: "badge bad" }, t("overdue")) : null, " ",
      d.paused ? h("span", { class: "badge" }, t("paused")) : null, " ",
      h("span", { class: d.replicated_to_province ? "badge good" : "badge", id: "replication" }, d.replicated_to_province ? t("replicated") : t("not_replicated")),
      d.on_time ? h("span", { class: "badge" }, t(`on_time_${d.on_time}`)) : null),
    message ? h("p", { class: "ok", role: "status" }, message) : null,
    (d.refused_by_peers || []).length ? h("ul", { class: "error", id: "refusals" }, d.refused_by_peers.map((r) =>
      h("li", {}, `${r.role === "province" ? t("refused_by_province") : t("refused_by_peer")} ${r.unit || r.node_id.slice(0, 12)} (${when(r.at)}): ${r.reason}`))) : null,
    h("table", { class: "details" },
      row(t("procedure"), `${d.procedure_code} — ${d.procedure_name}`),
      row(t("holder_of_dossier"), `${d.applicant.name}${d.applicant.kind === "organization" ? ` (${t("kind_organization")})` : ""}`),
      row(d.applicant.id_kind === "tax_code" ? t("tax_code") : d.applicant.id_kind === "passport" ? t("passport_number") : t("id_number"), d.applicant.id_number),
      d.representative ? row(t("representative"), `${d.representative.name} — ${d.representative.id_number}${d.representative.phone ? `, ${d.representative.phone}` : ""}`) : null,
      row(t("collection"), t(`collection_${d.collection || "desk"}`)), row(t("phone"), d.applicant.phone), row(t("address"), d.applicant.address),
      row(t("received"), `${when(d.received_at)} (${d.received_by})`), row(t("due"), when(d.due_at)),
      row(t("holder"), d.holder_unit), d.result || d.result_file ? row(t("result"), resultText(d)) : null,
      d.result_document ? row(t("result_document"), `${d.result_document.type} số ${d.result_document.number} — ${d.result_document.issuer}, ${d.result_document.signer} ký ngày ${d.result_document.signed_on.split("-").reverse().join("/")}`) : null,
      d.delivery ? row(t("delivery"), d.delivery === "post" ? `${t("delivery_post")} — ${d.waybill}` : t("delivery_desk")) : null,
      d.rating ? row(t("rate_level"), h("span", { id: "rating" }, `${t(d.rating.rating)} (${when(d.rating.at)})`))
        : d.state === 10 ? row(t("rate_level"), h("a", { href: `/rate?code=${encodeURIComponent(d.code)}`, target: "_blank", rel: "noopener", id: "invite-rating", class: "button" }, t("invite_rating"))) : null,
      row(t("documents"), documentsList(d))),
    // A supplement request on its way from the processing unit to the desk.
    d.supplement_draft ? h("div", { class: "card", id: "supplement-draft" }, h("h2", {}, actionName("draft_supplement")),
      h("p", {}, h("span", { class: d.supplement_draft.approved ? "badge good" : "badge" }, t(d.supplement_draft.approved ? "draft_approved" : "draft_waiting")),
        ` ${d.supplement_draft.unit} · ${d.supplement_draft.officer} · ${when(d.supplement_draft.at)}`),
      h("p", {}, `${t("reason")}: ${d.supplement_draft.reason}`),
      h("ul", {}, d.supplement_draft.missing.map((m) => h("li", {}, m)))) : null,
    d.conflicts.length ? h("div", { class: "conflicts" }, h("h2", {}, t("conflicts")),
      h("ul", { id: "conflicts" }, d.conflicts.map((c) => {
        const text = `${actionName(c.action)} (${c.unit}, ${when(c.at)}): ${c.reason}`;
        // Resolving names the conflict, so it is offered beside each one.
        return h("li", { "data-event-index": String(c.event_index) }, text, " ",
          d.allowed_actions.includes("resolve_conflict")
            ? h("button", { type: "button", "data-action": "resolve_conflict", onclick: () => openAction("resolve_conflict", { event_index: c.event_index, summary: text }) }, actionName("resolve_conflict"))
            : null);
      }))) : null,
    files.el,
    h("h2", {}, t("actions")),
    d.allowed_actions.some((a) => a !== "resolve_conflict")
      ? h("div", { class: "buttons", id: "actions" }, d.allowed_actions.filter((a) => a !== "resolve_conflict").map((a) => h("button", { type: "button", "data-action": a,
        // The leader approves the draft shown on this page, by its index.
        onclick: () => openAction(a, a === "approve_supplement" && d.supplement_draft ? { event_index: d.supplement_draft.event_index, summary: `${d.supplement_draft.reason}: ${d.supplement_draft.missing.join("; ")}` } : {}) }, actionName(a))))
      : h("p", { class: "muted", id: "actions" }, t("no_actions")),
    actionBox,
    d.steps.length ? h("div", {}, h("h2", {}, t("steps")), h("table", { class: "list", id: "steps" },
      h("thead", {}, h("tr", {}, ["step", "unit", "started", "deadline", "ended", "result"].map((k) => h("th", {}, t(`st_${k}`))))),
      h("tbody", {}, d.steps.map((s) => h("tr", { class: s.overdue || s.result === "late" ? "overdue" : "" },
        h("td", {}, `${s.number}. ${s.name}`), h("td", {}, s.unit_name), h("td", {}, `${when(s.started_at)} (${s.handed_over_by})`),
        h("td", {}, when(s.deadline)), h("td", {}, when(s.ended_at)),
        h("td", {}, s.ended_by === "recall" || (s.ended_by === "return_to_previous" && !s.result) ? t(`action_undone_${s.ended_by}`)
          : s.result ? t(`on_time_${s.result}`) : s.overdue ? t("overdue") : t("st_running"))))))) : null,
    h("h2", {}, t("history")),
    h("ol", { class: "timeline", id: "timeline" }, d.history.map((ev) => h("li", {},
      h("b", {}, actionName(ev.action)), ` — ${when(ev.at)} — ${ev.officer} (${ev.unit})`,
      ev.to_unit ? ` → ${ev.to_unit}` : "", ev.step ? ` · ${t("step")} ${ev.step}` : "", ev.reason ? ` · ${t("reason")}: ${ev.reason}` : "",
      ev.missing ? ` · ${ev.missing.join(", ")}` : "", ev.result ? ` · ${ev.result}` : "", ev.note ? ` · ${ev.note}` : ""))),
    h("h2", {}, t("forms")),
    h("div", { class: "buttons", id: "forms" }, formButtons.map(([f, render]) => h("button", { type: "button", "data-form": f, onclick: async () => { await render(); window.print(); } }, t(f))))));
  renderPrint(receiptForm(d), receiptForm(d, true));
  files.load();
}

function documentsList(d) {
  return h("ul", { id: "documents" }, d.documents.map((x) => h("li", {}, `${x.name} (${x.original}/${x.certified || 0}/${x.copies})`, x.digitized ? ` · ${t("digitized")}` : "")));
}

/** The result, and the electronic result file its `processed` event signed
 * for (short hash, opening the file). */
/** The result as a document (DOMAIN.md "Results"): type, number and
 * symbol, signer, issuing body, date signed. */
function resultDocumentFields() {
  return h("fieldset", { class: "grid", id: "result-document" }, h("legend", {}, t("result_document")),
    [["type", "text"], ["number", "text"], ["signer", "text"], ["issuer", "text"], ["signed_on", "date"]].map(([k, type]) =>
      h("label", {}, h("span", {}, t(`doc_${k}`)), h("input", { name: `doc_${k}`, type, maxlength: 300 }))));
}

/** At the desk or by post (with the postal waybill number). */
function deliveryFields() {
  const waybill = h("label", { hidden: true }, h("span", {}, t("waybill")), h("input", { name: "waybill", maxlength: 40, pattern: "[A-Za-z0-9-]{4,40}" }));
  const select = h("select", { name: "delivery", onchange: () => { waybill.hidden = select.value !== "post"; } },
    h("option", { value: "desk" }, t("delivery_desk")), h("option", { value: "post" }, t("delivery_post")));
  return h("div", { class: "grid" }, h("label", {}, h("span", {}, t("delivery")), select), waybill);
}

function resultText(d) {
  return h("span", {}, d.result || "", d.result_file ? [d.result ? " · " : "", `${t("result_file")}: `,
    h("a", { href: fileUrl(d.code, d.result_file), target: "_blank", rel: "noopener", id: "result-file", title: d.result_file },
      h("code", {}, `${d.result_file.slice(0, 12)}…`))] : null);
}

/** The pick of the result file a `processed` event signs for, among the
 * result attachments; the last attached is preselected, as the node's own
 * default. */
function resultFileField(d) {
  const results = d.attachments.filter((a) => a.kind === "result");
  if (!results.length) return h("p", { class: "muted result-file", id: "no-result-file" }, t("no_result_file"));
  return h("label", { class: "result-file" }, h("span", {}, t("result_file")), h("select", { name: "result_file" },
    results.map((a, i) => h("option", { value: a.hash, selected: i === results.length - 1 },
      `${a.name} (${bytesText(a.size)}, ${when(a.at)}) — ${a.hash.slice(0, 12)}…`))));
}

// ---------------------------------------------------------------- dashboard

async function showDashboard(params) {
  const today = localToday();
  const range = params.get("range") || "today";
  let from = params.get("from") || "", to = params.get("to") || "";
  if (range === "today") { from = today; to = today; }
  if (range === "month") { from = `${today.slice(0, 8)}01`; to = today; }
  const unit = params.get("unit") || "";
  const query = new URLSearchParams();
  if (from) query.set("from", from);
  if (to) query.set("to", to);
  const unitQuery = new URLSearchParams({ ...Object.fromEntries(query), ...(unit ? { unit } : {}) });
  const [{ res, body: s }, perUnit, perField] = await Promise.all([
    api(`/api/v1/stats?${unitQuery}`),
    me.node_role === "province" && !unit ? api(`/api/v1/stats/units?${query}`) : Promise.resolve(null),
    api(`/api/v1/stats/fields?${unitQuery}`),
  ]);
  const keep = (extra) => `#/dashboard?${new URLSearchParams({ range, ...(range === "period" ? { from, to } : {}), ...extra })}`;
  const fromBox = h("input", { type: "date", name: "from", value: from }), toBox = h("input", { type: "date", name: "to", value: to });
  const picker = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); location.hash = `#/dashboard?${new URLSearchParams({ range: "period", from: fromBox.value, to: toBox.value })}`; } },
    h("a", { href: "#/dashboard?range=today", class: range === "today" ? "button active" : "button" }, t("today")),
    h("a", { href: "#/dashboard?range=month", class: range === "month" ? "button active" : "button" }, t("this_month")),
    h("label", {}, t("from"), " ", fromBox), h("label", {}, t("to"), " ", toBox), h("button", { type: "submit" }, t("show")));
  if (!res.ok) { page(h("section", { class: "card" }, h("h1", {}, t("dashboard")), picker, h("p", { class: "error" }, errorText(s)))); return; }
  const figures = [["s_received", s.received], ["s_early", s.processed.early], ["s_on_time", s.processed.on_time], ["s_late", s.processed.late],
    ["s_uncollected", s.uncollected ?? 0], ["s_within", s.in_process.within_deadline], ["s_overdue", s.in_process.overdue], ["s_refused", s.refused], ["s_withdrawn", s.withdrawn], ["s_stopped", s.stopped]];
  const max = Math.max(1, ...figures.map(([, n]) => n));
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toLocaleString(LOCALE(), { maximumFractionDigits: 1 })}%`);
  const unitTable = perUnit && perUnit.res.ok && perUnit.body.length
    ? h("div", {}, h("h2", {}, t("by_unit")), h("table", { class: "list", id: "by-unit" },
      h("thead", {}, h("tr", {}, ["unit", "s_received", "s_early", "s_on_time", "s_late", "s_within", "s_overdue", "s_rate"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, perUnit.body.map((u) => h("tr", { class: u.in_process.overdue ? "overdue" : "" },
        h("td", {}, h("a", { href: keep({ unit: u.unit }) }, `${u.unit_name || ""} (${u.unit})`)), h("td", {}, u.received),
        h("td", {}, u.processed.early), h("td", {}, u.processed.on_time), h("td", {}, u.processed.late),
        h("td", {}, u.in_process.within_deadline), h("td", {}, u.in_process.overdue), h("td", {}, pct(u.on_time_rate)))))))
    : null;
  // Report II.06a (Thông tư 01/2020/TT-VPCP): a row per field, and the
  // same report as a spreadsheet in the form's layout.
  const fieldRow = (name, f, cls) => h("tr", { class: cls }, h("td", {}, name),
    [f.received + f.received_detail.carried_over, f.received_detail.online, f.received_detail.direct_or_post, f.received_detail.carried_over,
      f.processed.early + f.processed.on_time + f.processed.late, f.processed.early, f.processed.on_time, f.processed.late,
      f.in_process.within_deadline + f.in_process.overdue, f.in_process.within_deadline, f.in_process.overdue, f.uncollected ?? 0].map((n) => h("td", {}, n)));
  const fieldTable = perField.res.ok
    ? h("div", {}, h("h2", {}, t("by_field"), " ", h("a", { href: `/api/v1/stats/ii06a.xlsx?${unitQuery}`, id: "export-ii06a", class: "button", download: "" }, t("export_ii06a"))),
      h("table", { class: "list", id: "by-field" },
        h("thead", {}, h("tr", {}, ["field", "f_received", "f_online", "f_direct", "f_carried", "f_resolved", "s_early", "s_on_time", "s_late", "f_in_process", "s_within", "s_overdue", "s_uncollected"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, perField.body.rows.map((f) => fieldRow(f.field, f, f.in_process.overdue ? "overdue" : "")), fieldRow(t("total"), perField.body.total, "total"))))
    : null;
  const procedureTable = s.by_procedure.length
    ? h("div", {}, h("h2", {}, t("by_procedure")), h("table", { class: "list", id: "by-procedure" },
      h("thead", {}, h("tr", {}, ["procedure", "s_returned", "s_average"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, s.by_procedure.map((p) => h("tr", {}, h("td", {}, `${p.procedure_code} — ${p.procedure_name}`), h("td", {}, p.returned),
        h("td", {}, `${p.average_working_days.toLocaleString(LOCALE(), { maximumFractionDigits: 1 })} ${t("working_days")}`))))))
    : null;
  page(h("section", { class: "card", id: "dashboard" }, h("h1", {}, t("dashboard"), unit ? ` — ${unit}` : ""),
    unit ? h("a", { href: keep({}) }, `← ${t("whole_province")}`) : null, picker,
    h("div", { class: "figures" }, figures.map(([k, n]) => h("div", { class: `figure ${k}`, "data-key": k }, h("span", { class: "n" }, n), h("span", {}, t(k)))),
      h("div", { class: "figure", "data-key": "s_rate" }, h("span", { class: "n" }, pct(s.on_time_rate)), h("span", {}, t("s_rate"))),
      h("div", { class: "figure", "data-key": "s_online" }, h("span", { class: "n" }, pct(s.online_share)), h("span", {}, t("s_online"))),
      // Index 766 (Quyết định 766/QĐ-TTg), digitization.
      h("div", { class: "figure", "data-key": "s_received_digitized" }, h("span", { class: "n" }, pct(s.received_digitized_share)), h("span", {}, t("s_received_digitized"))),
      h("div", { class: "figure", "data-key": "s_results_digitized" }, h("span", { class: "n" }, pct(s.results_digitized_share)), h("span", {}, t("s_results_digitized"))),
      // Index 766, satisfaction: ratings given in the period, and the
      // returned dossiers that made the citizen come back.
      h("div", { class: "figure", "data-key": "s_satisfied_share" }, h("span", { class: "n" }, pct(s.satisfaction.satisfied_share)),
        h("span", {}, `${t("s_satisfied_share")} (${s.satisfaction.very_satisfied}/${s.satisfaction.satisfied}/${s.satisfaction.not_satisfied})`)),
      h("div", { class: "figure", "data-key": "s_came_back" }, h("span", { class: "n" }, `${s.came_back.dossiers}/${s.came_back.returned}`),
        h("span", {}, `${t("s_came_back")}: ${s.came_back.visits}`))),
    h("div", { class: "chart", role: "img", "aria-label": t("dashboard") }, figures.map(([k, n]) => {
      const bar = h("span", { class: `bar ${k}` }); bar.style.width = `${(100 * n) / max}%`;
      return h("div", { class: "chart-row" }, h("span", { class: "label" }, t(k)), h("span", { class: "track" }, bar), h("span", { class: "value" }, n));
    })), fieldTable, procedureTable, unitTable));
}

// ---------------------------------------------------------------- sync status

async function showSync() {
  const [{ res, body }, peers] = await Promise.all([api("/api/v1/fleet"), api("/api/v1/peers")]);
  const rows = res.ok ? body : [];
  // Files this node still wants from each peer it syncs with.
  const links = new Map((peers.res.ok ? peers.body : []).map((p) => [p.node_id, p]));
  const filesCell = (p) => (!p ? "—" : [
    `${t("files_to_receive")}: ${bytesText(p.file_bytes_pending)}`,
    p.file_oldest_waiting_at ? ` (${t("waiting_since")} ${when(p.file_oldest_waiting_at)})` : "",
    h("br"), `${t("files_received")}: ${bytesText(p.file_bytes_received)}`]);
  page(h("section", { class: "card" }, h("h1", {}, t("sync")),
    rows.length ? h("table", { class: "list", id: "peers" },
      h("thead", {}, h("tr", {}, ["peer", "role", "connected", "last_sync", "unsynced_since", "pending", "peer_files", "at_risk"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows.map((p) => h("tr", { class: p.connected ? "" : "overdue" },
        h("td", {}, `${p.unit_name || ""} (${p.unit || "?"})`, h("br"), h("code", { title: p.node_id }, `${(p.node_id || "").slice(0, 16)}…`)),
        h("td", {}, p.role ? t(`node_${p.role}`) : ""), h("td", {}, p.connected ? t("yes") : t("no")),
        h("td", {}, p.last_sync_at ? when(p.last_sync_at) : t("never")), h("td", {}, p.unsynced_since ? when(p.unsynced_since) : ""),
        h("td", {}, p.docs_pending, p.forks ? h("br") : null, p.forks ? h("span", { class: "badge bad", title: t("fork_help") }, `${t("forked")}: ${p.forks}`) : null),
        h("td", { class: "peer-files" }, filesCell(links.get(p.node_id))),
        h("td", {}, h("b", {}, p.at_risk), p.at_risk_codes.length ? h("br") : null,
          p.at_risk_codes.map((c) => h("a", { href: `#/dossier/${encodeURIComponent(c)}`, class: "code" }, c, " ")))))))
      : h("p", { class: "muted" }, t("no_peers"))));
}

// ---------------------------------------------------------------- administration

async function showAdmin() {
  const [accounts, calendar, list] = await Promise.all([api("/api/v1/accounts"), api("/api/v1/calendar"), loadProcedures()]);
  const error = h("p", { class: "error", role: "alert" });
  const create = h("form", { class: "grid", id: "new-account" },
    h("label", {}, h("span", {}, t("username")), h("input", { name: "username", required: true })),
    h("label", {}, h("span", {}, t("full_name")), h("input", { name: "full_name" })),
    h("label", {}, h("span", {}, t("password")), h("input", { name: "password", type: "password", required: true, minlength: 15, autocomplete: "new-password" })),
    h("fieldset", {}, h("legend", {}, t("roles")), ["receptionist", "specialist", "leader", "admin"].map((r) => h("label", { class: "inline" }, h("input", { type: "checkbox", name: "roles", value: r }), t(`role_${r}`)))),
    error, h("button", { type: "submit", class: "primary" }, t("create_account")));
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(create);
    const { res, body } = await api("/api/v1/accounts", { method: "POST", body: JSON.stringify({ username: f.get("username"), full_name: f.get("full_name"), password: f.get("password"), roles: f.getAll("roles") }) });
    if (!res.ok) { error.textContent = errorText(body); return; }
    showAdmin();
  });
  const toggle = async (a) => {
    const { res, body } = await api(`/api/v1/accounts/${encodeURIComponent(a.username)}/${a.disabled ? "enable" : "disable"}`, { method: "POST" });
    if (!res.ok) { error.textContent = errorText(body); return; }
    showAdmin();
  };
  const resetBox = h("div", { id: "password-reset" });
  const reset = (a) => {
    const form = h("form", { class: "grid" }, h("h3", {}, `${t("reset_password")}: ${a.username}`),
      h("label", {}, h("span", {}, t("new_password")), h("input", { name: "password", type: "password", required: true, minlength: 15, autocomplete: "new-password" })),
      h("button", { type: "submit", class: "primary" }, t("reset_password")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const { res, body } = await api(`/api/v1/accounts/${encodeURIComponent(a.username)}/password`, { method: "POST", body: JSON.stringify({ password: new FormData(form).get("password") }) });
      if (!res.ok) { error.textContent = errorText(body); return; }
      resetBox.replaceChildren(h("p", { class: "ok", role: "status" }, t("password_reset_done")));
    });
    resetBox.replaceChildren(form);
  };
  const cal = calendar.res.ok ? calendar.body : { holidays: [], make_up_days: [] };
  const year = localToday().slice(0, 4);
  page(h("section", { class: "card" }, h("h1", {}, t("admin")),
    h("h2", {}, t("accounts")),
    accounts.res.ok ? h("table", { class: "list", id: "accounts" }, h("thead", {}, h("tr", {}, h("th", {}, t("username")), h("th", {}, t("full_name")), h("th", {}, t("roles")), h("th", {}))),
      h("tbody", {}, accounts.body.map((a) => h("tr", {}, h("td", {}, a.username), h("td", {}, a.full_name), h("td", {}, a.roles.map((r) => t(`role_${r}`)).join(", "), a.disabled ? h("span", { class: "badge bad" }, t("disabled")) : null),
        h("td", {}, a.username === me.username ? null : [h("button", { type: "button", onclick: () => toggle(a) }, a.disabled ? t("enable") : t("disable")), " ",
          h("button", { type: "button", "data-reset": a.username, onclick: () => reset(a) }, t("reset_password"))])))))
      : h("p", { class: "error" }, errorText(accounts.body)),
    resetBox, create,
    h("h2", {}, t("catalog")), h("p", { id: "catalog" }, t("catalog_count")(list.length), catalogVersion ? ` · ${t("version")} ${catalogVersion}` : ""),
    h("ul", {}, list.map((p) => h("li", {}, `${p.code} — ${p.name}`))),
    h("h2", {}, `${t("calendar")} ${year}`),
    h("h3", {}, t("holidays")), h("ul", {}, (cal.holidays || []).filter((x) => x.date.startsWith(year)).map((x) => h("li", {}, `${x.date}: ${x.name}`))),
    h("h3", {}, t("make_up")), h("ul", {}, (cal.make_up_days || []).filter((x) => x.date.startsWith(year)).map((x) => h("li", {}, `${x.date}: ${x.name || ""}`)))));
}

/** An officer changes their own password, with the current one; the node
 * then ends every session of the account, this one included. */
function showPassword() {
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "grid", id: "password-form" },
    h("label", {}, h("span", {}, t("current_password")), h("input", { name: "current_password", type: "password", required: true, autocomplete: "current-password" })),
    h("label", {}, h("span", {}, t("new_password")), h("input", { name: "password", type: "password", required: true, minlength: 15, autocomplete: "new-password" })),
    error, h("button", { type: "submit", class: "primary" }, t("change_password")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const { res, body } = await api(`/api/v1/accounts/${encodeURIComponent(me.username)}/password`, { method: "POST", body: JSON.stringify({ current_password: f.get("current_password"), password: f.get("password") }) });
    if (!res.ok) { error.textContent = errorText(body); return; }
    me = null;
    showLogin();
    $("login-error").textContent = t("password_changed");
  });
  page(h("section", { class: "card" }, h("h1", {}, t("change_password")), form));
}

// ---------------------------------------------------------------- start

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const { res, body } = await api("/api/v1/session", { method: "POST", body: JSON.stringify({ username: form.get("username"), password: form.get("password") }) });
  if (!res.ok) { $("login-error").textContent = res.status === 401 ? t("bad_login") : errorText(body); return; }
  $("login-error").textContent = "";
  e.target.reset();
  me = null;
  await route();
});
$("logout").addEventListener("click", async () => {
  await api("/api/v1/session", { method: "DELETE" }).catch(() => {});
  me = null; procedures = null; showLogin();
});
/** A form on the page holds something the officer typed or a result not yet printed. */
function pageBusy() {
  if ($("received") || document.querySelector("form.action") || document.querySelector("#uploads tbody tr")) return true;
  const form = $("reception");
  return !!form && [...form.querySelectorAll("input[name=name], input[name=id_number], input[name=phone], input[name=address], #procedure-search")].some((i) => i.value.trim());
}
$("lang").addEventListener("click", () => {
  lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("motcua.lang", lang); translate();
  // Re-rendering would empty a form being filled: that page keeps its texts
  // until the officer moves on.
  if (me && !pageBusy()) route().catch(() => {});
});
function unreachable(e) {
  if (!me) return;
  page(h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, t("unreachable"))));
  console.warn("motcua: a request failed", e);
}
window.addEventListener("hashchange", () => route().catch(unreachable));
// A file dropped beside the drop box would make the browser open it in
// place of the page (and lose what the page holds).
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) e.preventDefault(); });
}
fetch("/healthz").then((r) => r.json()).then((hz) => { health = hz; $("unit").textContent = `${hz.unit_name || ""} (${hz.unit})`; });
translate();
route().catch(() => showLogin());
