// Browser tests of motcua's web UI: Debian's chromium, driven by
// playwright-core, against a real `motcua serve` demo node (real redb file
// in a temporary directory). Screenshots of the main pages go to
// target/ui-screenshots/.
//
//   cd tests/ui && npm ci && npm test     (scripts/test does this)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.MOTCUA_BIN || path.join(root, "target/debug/motcua");
const provisionBin = path.join(path.dirname(bin), "motcua-provision");
const shots = path.join(root, "target/ui-screenshots");
const PASSWORD = "ui-test-admin-pass";
// Synthetic applicants: names and numbers that belong to nobody.
const APPLICANT = { name: "Trần Thị Mẫu Thử", id_number: "000000000417", phone: "0900000001", address: "Thôn Thử, xã Thử Nghiệm" };

let node, base, browser, dataDir;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitHealthy(url, proc) {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`motcua exited with ${proc.exitCode}`);
    try { const r = await fetch(`${url}/healthz`); if (r.ok) return; } catch (_) { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("motcua did not become healthy");
}

async function tokenOf(username, password, at = base) {
  const r = await fetch(`${at}/api/v1/session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

// One API session per officer and password for the whole file: a node
// admits 30 logins a minute from one address, and the browser's own
// logins need their share.
const tokens = new Map();
async function apiAs(username, password, at = base) {
  const key = `${at} ${username} ${password}`;
  if (!tokens.has(key)) tokens.set(key, await tokenOf(username, password, at));
  const token = tokens.get(key);
  return async (p, options = {}) => {
    const res = await fetch(`${at}${p}`, { ...options, headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  };
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), "motcua-ui-"));
  // A peer that is configured but never up: the node is offline.
  const peerId = execFileSync(bin, ["id", "--data", path.join(dataDir, "peer")]).toString().trim();
  const [http, deadPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${http}`;
  node = spawn(bin, ["serve", "--data", path.join(dataDir, "node"), "--http", `127.0.0.1:${http}`, "--sync", "127.0.0.1:0", "--peer", `${peerId}@127.0.0.1:${deadPort}`], {
    env: { ...process.env, MOTCUA_ADMIN_PASSWORD: PASSWORD }, stdio: ["ignore", "ignore", "inherit"],
  });
  await waitHealthy(base, node);
  const admin = await apiAs("admin", PASSWORD);
  const created = await admin("/api/v1/accounts", { method: "POST", body: JSON.stringify({ username: "letan", full_name: "Cán bộ Thử", password: "receptionist-pass-1", roles: ["receptionist"] }) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (node) { node.kill("SIGTERM"); await new Promise((r) => node.once("exit", r)); }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function loggedIn(username = "admin", password = PASSWORD, viewport = { width: 1366, height: 768 }, at = base) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(at);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("#login button[type=submit]");
  // A node admits 30 logins a minute from one address, and this file logs
  // in more often than that at full speed: past the limit, wait for the
  // next minute and log in again, as an officer would.
  await page.waitForSelector("#reception, #login-error:not(:empty)");
  if (!(await page.isVisible("#reception"))) {
    assert.match(await page.textContent("#login-error"), /Quá nhiều yêu cầu/);
    await page.waitForTimeout(61_000);
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#reception");
  }
  return { page, context, errors };
}

test("an officer logs in, the session survives a reload, and the header names the officer and unit", async () => {
  const { page, context, errors } = await loggedIn();
  assert.match(await page.textContent("#officer"), /Quản trị/);
  assert.match(await page.textContent("#unit"), /99001/);
  await page.reload();
  await page.waitForSelector("#reception");
  assert.equal(await page.isVisible("#login"), false, "no login form after a reload");
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await page.reload();
  await page.waitForSelector("#login:not([hidden])");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a dossier is received through the form, printed, moved through to returned, and the dashboard counts it", async () => {
  const { page, context, errors } = await loggedIn();
  await page.click("a[href='#/dashboard']");
  await page.waitForSelector("#dashboard");
  const receivedBefore = Number(await page.textContent("[data-key=s_received] .n"));
  const returnedBefore = Number(await page.textContent("[data-key=s_early] .n")) + Number(await page.textContent("[data-key=s_on_time] .n")) + Number(await page.textContent("[data-key=s_late] .n"));

  await page.click("a[href='#/reception']");
  await page.waitForSelector("#reception");
  // Search without diacritics finds the procedure with them.
  await page.fill("#procedure-search", "dang ky ket hon");
  await page.waitForSelector("#procedure-matches li");
  assert.match(await page.textContent("#procedure-matches li"), /Đăng ký kết hôn/);
  await page.keyboard.press("Enter");
  assert.ok((await page.$$("#reception .checklist tbody tr")).length > 0, "the checklist comes from the catalog");
  await page.fill("input[name=name]", APPLICANT.name);
  // Switching the language keeps what was typed.
  await page.click("#lang");
  assert.equal(await page.inputValue("input[name=name]"), APPLICANT.name);
  await page.click("#lang");
  assert.equal(await page.inputValue("input[name=name]"), APPLICANT.name);
  // A wrong id number is caught before anything is sent.
  await page.fill("input[name=id_number]", "12345");
  await page.click("#reception button[type=submit]");
  assert.match(await page.textContent("#reception-error"), /12 chữ số/);
  await page.fill("input[name=id_number]", APPLICANT.id_number);
  await page.fill("input[name=phone]", APPLICANT.phone);
  await page.fill("input[name=address]", APPLICANT.address);
  await page.screenshot({ path: path.join(shots, "reception.png"), fullPage: true });
  await page.click("#reception button[type=submit]");
  await page.waitForSelector("#received");
  const code = (await page.textContent("#received-code")).trim();
  assert.match(code, /^000\.00\.01\.H99-\d{6}-\d{4}$/);

  // Print preview of the receipt: the code and the appointment, two copies.
  await page.emulateMedia({ media: "print" });
  const slips = page.locator("#print .receipt");
  assert.equal(await slips.count(), 2, "two copies of the slip");
  assert.equal(await slips.first().isVisible(), true, "the slip is what prints");
  assert.equal(await page.isVisible("#received"), false, "the page around it does not print");
  const slip = await slips.first().textContent();
  assert.ok(slip.includes(code), "the slip shows the dossier code");
  // Form 01 of Thông tư 03/2025: its title, the ID number, the three
  // counts per document, where the result is collected, the logbook line.
  assert.ok(slip.includes("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"), "the official title");
  assert.equal(await slips.first().locator(".receipt-id").textContent(), APPLICANT.id_number);
  const heads = await slips.first().locator(".receipt-documents th").allTextContents();
  assert.deepEqual(heads.slice(2, 5), ["Bản chính", "Bản chứng thực", "Bản sao"]);
  assert.match(await slips.first().locator(".receipt-collection").textContent(), /^Tại Bộ phận Một cửa/);
  assert.match(await slips.first().locator(".logbook-line").textContent(), /^Vào Sổ theo dõi hồ sơ, Quyển số 20\d\d, Số thứ tự \d+$/);
  assert.match(await slips.first().locator(".receipt-due").textContent(), /\d{2}:\d{2} ngày \d{1,2}\/\d{1,2}\/\d{4}/, "and the appointment");
  // Each checklist line says whether a scan of it is kept: none yet.
  const marks = await slips.first().locator(".digitized").allTextContents();
  assert.ok(marks.length > 0 && marks.every((m) => m === "chưa số hóa"), `digitized marks: ${JSON.stringify(marks)}`);
  await page.waitForFunction(() => { const i = document.querySelector("#print .qr"); return i && i.complete && i.naturalWidth > 0; });
  await page.screenshot({ path: path.join(shots, "receipt-print.png"), fullPage: true });
  const pdf = await page.pdf({ format: "A5" });
  assert.ok(pdf.length > 1000, "the slip prints to a PDF");
  await page.emulateMedia({ media: "screen" });

  // Through to returned, each step from the actions the page offers.
  await page.click(`a[href='#/dossier/${encodeURIComponent(code)}']`);
  await page.waitForSelector("#dossier");
  for (const [action, fill] of [["start_processing"], ["processed", { result: "Giấy chứng nhận kết hôn" }], ["return_result"]]) {
    await page.click(`#actions button[data-action=${action}]`);
    for (const [name, value] of Object.entries(fill || {})) await page.fill(`form.action input[name=${name}]`, value);
    await page.click("form.action button[type=submit]");
    await page.waitForSelector(`#timeline li:nth-child(${action === "start_processing" ? 2 : action === "processed" ? 3 : 4})`);
  }
  assert.equal((await page.textContent("#state")).trim(), "Đã trả kết quả");
  await page.screenshot({ path: path.join(shots, "dossier.png"), fullPage: true });

  await page.click("a[href='#/dashboard']");
  await page.waitForSelector("#dashboard");
  assert.equal(Number(await page.textContent("[data-key=s_received] .n")), receivedBefore + 1);
  const returnedAfter = Number(await page.textContent("[data-key=s_early] .n")) + Number(await page.textContent("[data-key=s_on_time] .n")) + Number(await page.textContent("[data-key=s_late] .n"));
  assert.equal(returnedAfter, returnedBefore + 1);
  // Index 766's digitization shares: received and returned, nothing scanned.
  assert.equal((await page.textContent("[data-key=s_received_digitized] .n")).trim(), "0%");
  assert.equal((await page.textContent("[data-key=s_results_digitized] .n")).trim(), "0%");
  const byProcedure = await page.$$eval("#by-procedure tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const marriage = byProcedure.find(([p]) => p.includes("Đăng ký kết hôn"));
  assert.ok(marriage && Number(marriage[1]) >= 1 && /ngày làm việc$/.test(marriage[2]), `the returned procedure's average: ${JSON.stringify(byProcedure)}`);
  // Report II.06a by field: civil status holds the marriage, and the
  // export downloads the same report as a spreadsheet (a zip: "PK").
  const byField = await page.$$eval("#by-field tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const civil = byField.find(([f]) => f === "Hộ tịch");
  assert.ok(civil && Number(civil[1]) >= 1 && Number(civil[5]) >= 1, `the civil-status row: ${JSON.stringify(byField)}`);
  assert.equal(byField.at(-1)[0], "Tổng cộng");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-ii06a")]);
  assert.match(download.suggestedFilename(), /^II\.06a_.*\.xlsx$/);
  const xlsx = readFileSync(await download.path());
  assert.equal(xlsx.subarray(0, 2).toString(), "PK", "an xlsx is a zip");
  await page.screenshot({ path: path.join(shots, "dashboard.png"), fullPage: true });

  await page.click("a[href='#/queue/today']");
  await page.waitForSelector("#queue");
  assert.ok((await page.textContent("#queue")).includes(code), "today's queue lists it");
  await page.screenshot({ path: path.join(shots, "queue.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a receptionist is not offered a specialist's action", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "1.009994", applicant: APPLICANT, channel: "direct" }) });
  assert.equal(made.status, 201);
  const { page, context } = await loggedIn("letan", "receptionist-pass-1");
  await page.goto(`${base}/#/dossier/${encodeURIComponent(made.body.code)}`);
  await page.waitForSelector("#actions");
  const offered = await page.$$eval("#actions button", (bs) => bs.map((b) => b.dataset.action));
  assert.ok(offered.includes("transfer"), `a receptionist transfers an accepted dossier (offered: ${offered})`);
  assert.ok(!offered.includes("start_processing"), "but does not start processing it");
  assert.equal(await page.isVisible("#nav-admin"), false, "nor sees the admin pages");
  // The admin, holding every role, is offered it.
  assert.ok(made.body.allowed_actions.includes("start_processing"));
  await context.close();
});

test("the tracking page shows the state and refuses a wrong id suffix", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "1.001193", applicant: APPLICANT, channel: "direct" }) });
  assert.equal(made.status, 201);
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${base}/track`);
  await page.fill("input[name=code]", made.body.code);
  await page.fill("input[name=id_last4]", "0000");
  await page.click("#track button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#track-error").textContent.length > 0);
  assert.match(await page.textContent("#track-error"), /Không tìm thấy/);
  assert.equal(await page.isVisible("#track-result"), false);
  await page.fill("input[name=id_last4]", APPLICANT.id_number.slice(-4));
  await page.fill("input[name=code]", made.body.code.toLowerCase());
  await page.click("#track button[type=submit]");
  await page.waitForSelector("#track-result:not([hidden])");
  const shown = await page.textContent("#track-result");
  assert.ok(shown.includes("Được tiếp nhận"), "the state");
  assert.ok(shown.includes(made.body.code));
  assert.ok(!shown.includes(APPLICANT.name) && !shown.includes(APPLICANT.id_number), "nothing personal");
  assert.ok(shown.includes("Bộ phận Một cửa"), "where to collect, in Vietnamese");
  assert.equal(await page.title(), "Tra cứu hồ sơ — motcua");
  await page.screenshot({ path: path.join(shots, "track-phone.png"), fullPage: true });
  // In English, nothing of the page stays in Vietnamese but names.
  await page.click("#lang");
  await page.click("#track button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#track-result").textContent.includes("One-stop desk"));
  assert.ok(!(await page.textContent("#track-result")).includes("Bộ phận Một cửa"));
  assert.equal(await page.title(), "Track a dossier — motcua");
  await context.close();
});

test("the offline banner says work continues while the peer is down", async () => {
  const { page, context } = await loggedIn();
  await page.waitForSelector("#offline:not([hidden])");
  assert.match(await page.textContent("#offline"), /Công việc vẫn tiếp tục/);
  await page.click("a[href='#/sync']");
  await page.waitForSelector("#peers");
  assert.match(await page.textContent("#peers tbody"), /Không/);
  await page.screenshot({ path: path.join(shots, "sync.png"), fullPage: true });
  await page.click("#lang");
  await page.waitForFunction(() => document.querySelector("#offline").textContent.includes("Work continues"));
  await page.click("#lang");
  await context.close();
});

test("the admin pages list accounts and the calendar", async () => {
  const { page, context } = await loggedIn();
  await page.click("#nav-admin");
  await page.waitForSelector("#accounts");
  assert.ok((await page.textContent("#accounts")).includes("letan"));
  assert.match(await page.textContent("#catalog"), /\d+ thủ tục · phiên bản \S+/, "the catalog's size and version");
  // An account made and then disabled through the page.
  await page.fill("#new-account input[name=username]", "chuyenvien");
  await page.fill("#new-account input[name=full_name]", "Chuyên viên Thử");
  await page.fill("#new-account input[name=password]", "specialist-pass-1");
  await page.check("#new-account input[value=specialist]");
  await page.click("#new-account button[type=submit]");
  const newRow = page.locator("#accounts tbody tr", { hasText: "chuyenvien" });
  await newRow.waitFor();
  assert.match(await newRow.textContent(), /Chuyên viên/);
  await newRow.locator("button:not([data-reset])").click();
  await page.locator("#accounts tbody tr", { hasText: "chuyenvien" }).locator(".badge").waitFor();
  const refused = await fetch(`${base}/api/v1/session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "chuyenvien", password: "specialist-pass-1" }) });
  assert.equal(refused.status, 403, "a disabled account cannot log in");
  await page.screenshot({ path: path.join(shots, "admin.png"), fullPage: true });
  await context.close();
});

test("the province dashboard reports per commune with drill-down, and the fleet view shows each commune", async () => {
  const dir = path.join(dataDir, "province");
  const provision = (...args) => execFileSync(provisionBin, args, { env: { ...process.env, MOTCUA_PROVINCE_PASSPHRASE: "" } });
  provision("init-province", "--dir", path.join(dir, "root"), "--code", "56", "--name", "Tỉnh Thử");
  provision("enroll", "--province", path.join(dir, "root"), "--role", "province", "--unit", "56", "--name", "Tỉnh Thử", "--agency-id", "000.00.00.H56", "--out", path.join(dir, "tinh"));
  provision("enroll", "--province", path.join(dir, "root"), "--role", "commune", "--unit", "26734", "--name", "Xã Thử Một", "--agency-id", "000.21.45.H56", "--out", path.join(dir, "xa"));
  const provinceId = execFileSync(bin, ["id", "--data", path.join(dir, "tinh")]).toString().trim();
  const [tinhHttp, tinhSync, xaHttp] = [await freePort(), await freePort(), await freePort()];
  const env = { ...process.env, MOTCUA_ADMIN_PASSWORD: PASSWORD };
  const tinh = spawn(bin, ["serve", "--data", path.join(dir, "tinh"), "--http", `127.0.0.1:${tinhHttp}`, "--sync", `127.0.0.1:${tinhSync}`], { env, stdio: ["ignore", "ignore", "inherit"] });
  const xa = spawn(bin, ["serve", "--data", path.join(dir, "xa"), "--http", `127.0.0.1:${xaHttp}`, "--sync", "127.0.0.1:0", "--peer", `${provinceId}@127.0.0.1:${tinhSync}`], { env, stdio: ["ignore", "ignore", "inherit"] });
  try {
    const [tinhUrl, xaUrl] = [`http://127.0.0.1:${tinhHttp}`, `http://127.0.0.1:${xaHttp}`];
    await waitHealthy(tinhUrl, tinh);
    await waitHealthy(xaUrl, xa);
    const xaApi = await apiAs("admin", PASSWORD, xaUrl);
    const made = await xaApi("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000815", applicant: APPLICANT, channel: "direct" }) });
    assert.equal(made.status, 201);
    const tinhApi = await apiAs("admin", PASSWORD, tinhUrl);
    for (let i = 0; ; i++) {
      if ((await tinhApi(`/api/v1/dossiers/${made.body.code}`)).status === 200) break;
      assert.ok(i < 300, "the dossier reaches the province");
      await new Promise((r) => setTimeout(r, 100));
    }
    const { page, context, errors } = await loggedIn("admin", PASSWORD, { width: 1366, height: 768 }, tinhUrl);
    await page.click("a[href='#/dashboard']");
    await page.waitForSelector("#by-unit");
    const row = page.locator("#by-unit tbody tr", { hasText: "26734" });
    assert.match(await row.textContent(), /Xã Thử Một/);
    await page.screenshot({ path: path.join(shots, "province-dashboard.png"), fullPage: true });
    await row.locator("a").click();
    await page.waitForFunction(() => location.hash.includes("unit=26734") && document.querySelector("#dashboard h1").textContent.includes("26734"));
    assert.equal(Number(await page.textContent("[data-key=s_received] .n")), 1, "the commune's own figures");
    // A scan attached at the commune reaches the province, whose dossier
    // page shows it arriving and then held (the list polls until it is).
    const scan = pdfBytes("ban quet xa", 2500);
    const xaToken = await tokenOf("admin", PASSWORD, xaUrl);
    const up = await fetch(`${xaUrl}/api/v1/dossiers/${encodeURIComponent(made.body.code)}/attachments?name=${encodeURIComponent("bản quét.pdf")}&kind=component`,
      { method: "POST", headers: { "Content-Type": "application/pdf", Authorization: `Bearer ${xaToken}` }, body: scan });
    assert.equal(up.status, 201, await up.text());
    for (let i = 0; ; i++) {
      if ((await tinhApi(`/api/v1/dossiers/${made.body.code}`)).body.attachments.length === 1) break;
      assert.ok(i < 300, "the attachment's record reaches the province");
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(`${tinhUrl}/#/dossier/${encodeURIComponent(made.body.code)}`);
    const file = page.locator("#files tbody tr", { hasText: "bản quét.pdf" });
    await file.locator(".file-state", { hasText: "Đã có tại đây" }).waitFor();
    assert.equal((await file.locator(".file-state").textContent()).trim(), "Đã có tại đâyĐã lên tỉnh");
    assert.equal(await file.locator("a.file-link").count(), 1, "a held file opens");
    // The fleet view: what the province received of the commune's files.
    await page.click("a[href='#/sync']");
    await page.waitForSelector("#peers");
    const fleetRow = page.locator("#peers tbody tr", { hasText: "26734" });
    assert.match(await fleetRow.textContent(), /Có/, "the commune is connected");
    assert.equal(await page.textContent("#peers thead th:nth-child(7)"), "Tệp đính kèm");
    assert.equal((await fleetRow.locator(".peer-files").textContent()).trim(), `Chờ nhận: 0 BĐã nhận: ${kb(scan.length)}`);
    await page.screenshot({ path: path.join(shots, "province-fleet.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    for (const n of [xa, tinh]) { n.kill("SIGTERM"); await new Promise((r) => n.once("exit", r)); }
  }
});

test("an organization with a representative is received through the form; form 01 names both and prints two-up on A4", async () => {
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/reception`);
  await page.waitForSelector("#reception");
  await page.fill("#procedure-search", "chung thuc ban sao");
  await page.waitForSelector("#procedure-matches li");
  await page.keyboard.press("Enter");
  await page.selectOption("select[name=applicant_kind]", "organization");
  assert.equal(await page.textContent("#id-label"), "Mã số doanh nghiệp/Mã số thuế");
  assert.equal(await page.isVisible("#id-kind"), false, "an organization has only a tax code");
  await page.fill("input[name=name]", "Công ty Thử Mẫu 7");
  // A tax code of 11 digits is caught before anything is sent.
  await page.fill("input[name=id_number]", "90000000071");
  await page.click("#reception button[type=submit]");
  assert.match(await page.textContent("#reception-error"), /10 hoặc 13 chữ số/);
  await page.fill("input[name=id_number]", "9000000007");
  await page.fill("input[name=phone]", "0900000007");
  await page.fill("input[name=address]", "Thôn Thử, xã Thử Nghiệm");
  await page.fill("input[name=rep_name]", "Người Thử Mẫu 8");
  await page.fill("input[name=rep_id_number]", "900000000008");
  await page.fill("input[name=cert-0]", "2");
  await page.selectOption("select[name=collection]", "post");
  await page.click("#reception button[type=submit]");
  await page.waitForSelector("#received");

  await page.emulateMedia({ media: "print" });
  const slip = page.locator("#print .receipt").first();
  assert.equal(await slip.locator(".receipt-holder").textContent(), "Công ty Thử Mẫu 7");
  assert.equal(await slip.locator(".receipt-id").textContent(), "9000000007");
  assert.match(await slip.locator(".receipt-submitter").textContent(), /^Người Thử Mẫu 8 — Số định danh cá nhân: 900000000008/);
  assert.equal(await slip.locator(".receipt-documents tbody tr:first-child td:nth-child(4)").textContent(), "2", "certified copies");
  assert.equal(await slip.locator(".receipt-collection").textContent(), "Qua dịch vụ bưu chính công ích");
  await page.emulateMedia({ media: "screen" });

  // Two copies side by side on one A4 sheet, a cut line between them.
  await page.evaluate(() => { window.print = () => { document.body.dataset.printed = "two-up"; }; });
  await page.click("#print-receipt-two-up");
  await page.waitForSelector("body[data-printed=two-up]");
  await page.emulateMedia({ media: "print" });
  const halves = page.locator("#print #receipt-two-up .receipt.half");
  assert.equal(await halves.count(), 2, "two copies on the sheet");
  assert.equal(await page.locator("#print #receipt-two-up .cut-line").count(), 1, "a cut line");
  const [left, right] = [await halves.nth(0).boundingBox(), await halves.nth(1).boundingBox()];
  assert.ok(right.x >= left.x + left.width && Math.abs(right.y - left.y) < 2, `side by side: ${JSON.stringify([left, right])}`);
  assert.match(await halves.nth(1).textContent(), /Liên 2/);
  await page.waitForFunction(() => [...document.querySelectorAll("#print .qr")].every((i) => i.complete && i.naturalWidth > 0));
  const pdf = await page.pdf({ preferCSSPageSize: true });
  const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert.equal(pages, 1, "one A4 sheet");
  assert.match(pdf.toString("latin1"), /\/MediaBox\s*\[\s*0 0 84[12](\.\d+)? 59[456](\.\d+)?\s*\]/, "A4 landscape");
  await page.screenshot({ path: path.join(shots, "form01-two-up-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a supplement request prints form 02 with its missing items and deadline", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000720", applicant: APPLICANT, channel: "direct" }) });
  assert.equal(made.status, 201);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/dossier/${encodeURIComponent(made.body.code)}`);
  await page.click("#actions button[data-action=request_supplement]");
  await page.fill("form.action input[name=reason]", "Thiếu giấy tờ");
  await page.fill("form.action textarea[name=missing]", "Bản sao hợp đồng thuê nhà\nẢnh chân dung");
  const deadline = new Date(Date.now() + 10 * 24 * 3600 * 1000).toLocaleDateString("en-CA", { timeZone: "Asia/Ho_Chi_Minh" });
  await page.fill("form.action input[name=deadline]", deadline);
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#forms button[data-form=form02]");
  assert.equal((await page.textContent("#state")).trim(), "Yêu cầu bổ sung");
  await page.evaluate(() => { window.print = () => {}; });
  await page.click("#forms button[data-form=form02]");
  await page.emulateMedia({ media: "print" });
  const form = await page.textContent("#print .form");
  assert.match(form, /PHIẾU YÊU CẦU BỔ SUNG/);
  assert.ok(form.includes("Bản sao hợp đồng thuê nhà") && form.includes("Ảnh chân dung"), "the missing items");
  const [y, m, d] = deadline.split("-").map(Number);
  assert.ok(form.includes(`${d}/${m}/${y}`), `the deadline ${d}/${m}/${y} in: ${form}`);
  await page.screenshot({ path: path.join(shots, "form2-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a hand-off starts the workflow step the officer picks, and form 06 judges each step", async () => {
  const admin = await apiAs("admin", PASSWORD);
  // A building permit: three steps (1, 12 and 2 working days).
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "1.009994", applicant: APPLICANT, channel: "direct" }) });
  assert.equal(made.status, 201);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/dossier/${encodeURIComponent(made.body.code)}`);
  await page.click("#actions button[data-action=start_processing]");
  const options = await page.$$eval("form.action select[name=step] option", (os) => os.map((o) => [o.value, o.selected, o.textContent]));
  assert.equal(options.length, 3);
  assert.deepEqual(options.map(([v, selected]) => [v, selected]), [["1", true], ["2", false], ["3", false]], "the next step is preselected");
  assert.match(options[1][2], /Thẩm định, kiểm tra thực địa/);
  await page.selectOption("form.action select[name=step]", "2");
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#dossier p.ok");
  assert.match(await page.textContent("#timeline"), /Bước xử lý 2/);
  const onScreen = await page.textContent("#steps");
  assert.ok(onScreen.includes("2. Thẩm định, kiểm tra thực địa") && onScreen.includes("Đang thực hiện"), onScreen);
  const stored = await admin(`/api/v1/dossiers/${encodeURIComponent(made.body.code)}`);
  assert.equal(stored.body.steps.length, 1);
  assert.equal(stored.body.steps[0].number, 2);
  await page.evaluate(() => { window.print = () => {}; });
  await page.click("#forms button[data-form=form06]");
  await page.waitForSelector("#print #control-steps", { state: "attached" });
  const sheet = await page.textContent("#print #control-steps");
  assert.ok(sheet.includes("2. Thẩm định, kiểm tra thực địa") && sheet.includes("12 ngày làm việc"), sheet);
  assert.ok(sheet.includes("Đang thực hiện"), `a running step: ${sheet}`);
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: path.join(shots, "form5-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the queue page prints the logbook of a period with sets, address, phone and receiving officer", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000720", applicant: APPLICANT, channel: "direct", sets: 2 }) });
  assert.equal(made.status, 201);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/queue/all`);
  await page.waitForSelector("#logbook-form");
  await page.evaluate(() => { window.print = () => { document.body.dataset.printed = "yes"; }; });
  await page.click("#logbook-form button[type=submit]");
  await page.waitForSelector("body[data-printed=yes]");
  const row = await page.$$eval("#print #logbook tbody tr", (trs, code) => {
    const tr = trs.find((r) => r.textContent.includes(code));
    return tr ? [...tr.children].map((td) => td.textContent) : null;
  }, made.body.code);
  assert.ok(row, "the dossier is in today's book");
  assert.equal(row[0], String(made.body.logbook.number), "the number that runs through the year");
  assert.equal(row[3], "2", "sets");
  assert.deepEqual(row.slice(4, 7), [APPLICANT.name, APPLICANT.address, APPLICANT.phone]);
  assert.equal(row[12], "admin", "receiving officer");
  const heads = await page.$$eval("#print #logbook thead th", (ths) => ths.map((th) => th.textContent));
  assert.deepEqual(heads, ["Số thứ tự", "Mã hồ sơ", "Trích yếu (thủ tục)", "Số bộ", "Tên chủ hồ sơ", "Địa chỉ", "Số điện thoại", "Ngày nhận",
    "Ngày hẹn trả", "Chuyển cơ quan giải quyết", "Có kết quả", "Ngày trả kết quả", "Cán bộ tiếp nhận", "Ký nhận kết quả", "Ghi chú"], "form 07's columns");
  assert.match(await page.textContent("#print .form"), /SỔ THEO DÕI HỒ SƠ/);
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: path.join(shots, "form6-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  // A period the node refuses is explained, not printed.
  await page.fill("#logbook-form input[name=from]", "2026-02-02");
  await page.fill("#logbook-form input[name=to]", "2026-02-01");
  await page.click("#logbook-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#logbook-form .error").textContent.length > 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a transfer sent to the wrong agency is recalled from the dossier page", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000720", applicant: APPLICANT, channel: "direct" }) });
  const code = encodeURIComponent(made.body.code);
  assert.equal((await admin(`/api/v1/dossiers/${code}/actions`, { method: "POST", body: JSON.stringify({ action: "transfer", to_unit: "000.00.12.H99" }) })).status, 200);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/dossier/${code}`);
  await page.click("#actions button[data-action=recall]");
  assert.match(await page.textContent("form.action h3"), /Thu hồi hồ sơ đã chuyển/);
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#dossier p.ok");
  assert.match(await page.textContent("#timeline"), /Thu hồi hồ sơ đã chuyển/);
  const back = await admin(`/api/v1/dossiers/${code}`);
  assert.equal(back.body.holder_unit, back.body.receiving_unit, "the commune holds it again");
  assert.ok(!(await page.$("#actions button[data-action=recall]")), "nothing left to recall");
  assert.deepEqual(errors, []);
  await context.close();
});

test("an officer changes their own password and an admin resets a forgotten one", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/accounts", { method: "POST", body: JSON.stringify({ username: "doimatkhau", full_name: "Cán bộ Đổi", password: "mat-khau-cu-so-1", roles: ["specialist"] }) });
  assert.equal(made.status, 201);
  const officer = await loggedIn("doimatkhau", "mat-khau-cu-so-1");
  await officer.page.click("a[href='#/password']");
  await officer.page.fill("#password-form input[name=current_password]", "sai-mat-khau");
  await officer.page.fill("#password-form input[name=password]", "mat-khau-moi-so-1");
  await officer.page.click("#password-form button[type=submit]");
  await officer.page.waitForFunction(() => document.querySelector("#password-form .error").textContent.length > 0);
  // A common password is refused, in the page's language, naming the field.
  await officer.page.fill("#password-form input[name=current_password]", "mat-khau-cu-so-1");
  await officer.page.fill("#password-form input[name=password]", "MatKhau123456789");
  await officer.page.click("#password-form button[type=submit]");
  await officer.page.waitForFunction(() => /quá dễ đoán/.test(document.querySelector("#password-form .error").textContent));
  assert.match(await officer.page.textContent("#password-form .error"), /\(password\)/);
  await officer.page.fill("#password-form input[name=password]", "mat-khau-moi-so-1");
  await officer.page.click("#password-form button[type=submit]");
  await officer.page.waitForSelector("#login:not([hidden])");
  assert.match(await officer.page.textContent("#login-error"), /Đã đổi mật khẩu/);
  await apiAs("doimatkhau", "mat-khau-moi-so-1");
  assert.deepEqual(officer.errors, []);
  await officer.context.close();
  // Forgotten: the admin sets a new one from the accounts page.
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/admin`);
  await page.click("#accounts button[data-reset=doimatkhau]");
  await page.fill("#password-reset input[name=password]", "mat-khau-moi-so-2");
  await page.click("#password-reset button[type=submit]");
  await page.waitForSelector("#password-reset p.ok");
  await apiAs("doimatkhau", "mat-khau-moi-so-2");
  assert.deepEqual(errors, []);
  await context.close();
});

test("the officer pages fit a phone's width", async () => {
  const { page, context } = await loggedIn("admin", PASSWORD, { width: 390, height: 844 });
  for (const [hash, selector] of [["#/reception", "#reception"], ["#/queue/all", "#count"], ["#/dashboard", "#dashboard"]]) {
    await page.goto(`${base}/${hash}`);
    await page.waitForSelector(selector);
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width, `${hash}: ${scroll} px wide in a ${width} px screen`);
  }
  await page.goto(`${base}/#/queue/all`);
  await page.waitForSelector("#count");
  await page.screenshot({ path: path.join(shots, "queue-phone.png"), fullPage: true });
  await context.close();
});

// Files as a scanner or signing software makes them: a PDF by its first
// bytes, and PNG bytes (which a file named .pdf may hold).
const pdfBytes = (text, size) => Buffer.concat([Buffer.from(`%PDF-1.7\n% ${text}\n`), Buffer.alloc(size, 0x20), Buffer.from("\n%%EOF\n")]);
const PNG_BYTES = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(600, 7)]);
/** The size as the page writes it in Vietnamese (1024 bytes a KB). */
const kb = (n) => `${(Math.round((n / 1024) * 10) / 10).toString().replace(".", ",")} KB`;

test("files are attached on the dossier page by the file input and by drag and drop, opened, and the result file is picked at processed", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const documents = [{ name: "Tờ khai", original: 1, copies: 0 }, { name: "Bản sao giấy tờ tùy thân", original: 0, copies: 1 }];
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000720", applicant: APPLICANT, channel: "direct", documents }) });
  assert.equal(made.status, 201);
  const code = encodeURIComponent(made.body.code);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/dossier/${code}`);
  // (The reception page, shown first, has a drop box too.)
  await page.waitForSelector("#attachments #dropzone");
  await page.waitForFunction(() => document.querySelector("#files-status").textContent !== "");
  assert.equal((await page.textContent("#files-status")).trim(), "Hồ sơ chưa có tệp đính kèm.");

  // Two files by the file input: a scan of line 1, and PNG bytes declared a PDF.
  const scan = pdfBytes("to khai", 3000);
  await page.setInputFiles("#file-input", [
    { name: "tờ khai.pdf", mimeType: "application/pdf", buffer: scan },
    { name: "ảnh chụp.pdf", mimeType: "application/pdf", buffer: PNG_BYTES },
  ]);
  const uploads = page.locator("#uploads tbody tr");
  assert.equal(await uploads.count(), 2);
  assert.deepEqual(await uploads.nth(0).locator("select[name=line] option").allTextContents(), ["—", "1. Tờ khai", "2. Bản sao giấy tờ tùy thân"]);
  await uploads.nth(0).locator("select[name=line]").selectOption("1");
  await page.click("#send-files");
  await page.waitForFunction(() => [...document.querySelectorAll("#uploads .upload-state")].every((c) => !/Chờ gửi|Đang gửi/.test(c.textContent)));
  assert.equal((await uploads.nth(0).locator(".upload-state").textContent()).trim(), "Đã gửi");
  assert.equal((await uploads.nth(1).locator(".upload-state").textContent()).trim(), "Tệp này không phải tệp PDF: nội dung của tệp không đúng định dạng PDF");
  assert.equal(await uploads.nth(1).locator(".upload-state .error").count(), 1, "shown as an error");

  // Listed as held here, with its size, kind and line; line 1 is now digitized.
  const files = page.locator("#files tbody tr");
  await files.first().waitFor();
  assert.equal(await files.count(), 1, "the refused file is not listed");
  const cells = (await files.first().locator("td").allTextContents()).map((x) => x.trim());
  assert.equal(cells[0], "tờ khai.pdf");
  assert.equal(cells[1], kb(scan.length));
  assert.equal(cells[2], "Thành phần hồ sơ");
  assert.equal(cells[3], "1. Tờ khai");
  assert.match(cells[4], /^admin \(99001\)/);
  assert.equal(cells[5], "Đã có tại đây");
  assert.deepEqual((await page.locator("#documents li").allTextContents()).map((x) => x.includes("đã số hóa")), [true, false]);
  const listed = await admin(`/api/v1/dossiers/${code}/attachments`);
  assert.equal(listed.body.length, 1, "nothing stored of the refused file");
  assert.deepEqual([listed.body[0].size, listed.body[0].line, listed.body[0].held], [scan.length, 1, true]);

  // Its link opens the file in a new tab.
  const link = files.first().locator("a.file-link");
  assert.equal(await link.getAttribute("target"), "_blank");
  const opened = context.waitForEvent("response", (r) => r.url().endsWith(`/attachments/${listed.body[0].hash}`));
  await link.click();
  const response = await opened;
  assert.equal(response.status(), 200);
  assert.equal(response.headers()["content-type"], "application/pdf");
  const bytes = await page.evaluate(async (href) => [...new Uint8Array(await (await fetch(href)).arrayBuffer())], await link.getAttribute("href"));
  assert.ok(Buffer.from(bytes).equals(scan), "the very bytes sent");

  // Two result files dropped on the box.
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    for (const n of [1, 2]) dt.items.add(new File([`%PDF-1.7\n% ket qua ${n}\n%%EOF\n`], `kết quả ${n}.pdf`, { type: "application/pdf" }));
    return dt;
  });
  await page.dispatchEvent("#dropzone", "drop", { dataTransfer: dropped });
  assert.equal(await uploads.count(), 4);
  for (const i of [2, 3]) {
    await uploads.nth(i).locator("select[name=kind]").selectOption("result");
    assert.equal(await uploads.nth(i).locator("select[name=line]").isDisabled(), true, "a result digitizes no line");
  }
  await page.click("#send-files");
  await page.waitForFunction(() => document.querySelectorAll("#files tbody tr").length === 3);
  assert.deepEqual((await uploads.locator(".upload-state").allTextContents()).map((x) => x.trim()).slice(2), ["Đã gửi", "Đã gửi"]);
  assert.deepEqual((await page.locator("#files tbody tr td:nth-child(3)").allTextContents()), ["Thành phần hồ sơ", "Kết quả", "Kết quả"]);
  const results = (await admin(`/api/v1/dossiers/${code}/attachments`)).body.filter((a) => a.kind === "result");
  assert.deepEqual(results.map((a) => a.name), ["kết quả 1.pdf", "kết quả 2.pdf"]);

  // Processed: the last result file is preselected; the officer picks the first.
  assert.equal((await admin(`/api/v1/dossiers/${code}/actions`, { method: "POST", body: JSON.stringify({ action: "start_processing" }) })).status, 200);
  await page.reload();
  await page.click("#actions button[data-action=processed]");
  const options = await page.$$eval("form.action select[name=result_file] option", (os) => os.map((o) => [o.value, o.selected]));
  assert.deepEqual(options, [[results[0].hash, false], [results[1].hash, true]]);
  await page.selectOption("form.action select[name=result_file]", results[0].hash);
  await page.fill("form.action input[name=result]", "Giấy chứng nhận số 01");
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#dossier p.ok");
  assert.equal((await admin(`/api/v1/dossiers/${code}`)).body.result_file, results[0].hash);
  assert.equal((await page.textContent("#result-file")).trim(), `${results[0].hash.slice(0, 12)}…`);
  await page.waitForSelector("#files tbody tr .badge.good >> text=Kết quả đã ký");
  assert.equal(await page.locator("#files tbody tr", { hasText: "Kết quả đã ký" }).locator("a.file-link").textContent(), "kết quả 1.pdf");
  await page.screenshot({ path: path.join(shots, "dossier-files.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("scans picked at reception are sent once the dossier has its code, each to the line it digitizes", async () => {
  const { page, context, errors } = await loggedIn("letan", "receptionist-pass-1");
  await page.fill("#procedure-search", "thanh lap ho kinh doanh");
  await page.waitForSelector("#procedure-matches li");
  await page.keyboard.press("Enter");
  const rows = page.locator("#reception .checklist tbody tr");
  const n = await rows.count();
  assert.ok(n >= 3, "a checklist of three lines or more");
  // The first two lines not handed in: line N of the dossier is the N-th
  // ticked, so the last row is line n - 2.
  for (const i of [0, 1]) await rows.nth(i).locator("input[type=checkbox]").uncheck();
  for (let i = 2; i < n; i++) await rows.nth(i).locator("input[type=checkbox]").check();
  const lastName = (await rows.nth(n - 1).locator("td").nth(1).textContent()).replace(/ \(bắt buộc\)$/, "");
  const scan = pdfBytes("giay to", 1500);
  await page.setInputFiles("#file-input", { name: "bản quét.pdf", mimeType: "application/pdf", buffer: scan });
  const line = page.locator("#uploads tbody tr select[name=line]");
  assert.equal(await line.locator("option").count(), n - 1, "the ticked lines and none");
  await line.selectOption({ label: lastName });
  assert.equal(await page.isVisible("#send-files"), false, "nothing is sent before the dossier exists");
  await page.fill("input[name=name]", APPLICANT.name);
  await page.fill("input[name=id_number]", "000000000418");
  await page.click("#reception button[type=submit]");
  await page.waitForSelector("#received-files");
  await page.waitForSelector("#print-receipt:not([disabled])");
  assert.equal((await page.textContent("#uploads .upload-state")).trim(), "Đã gửi");
  const code = (await page.textContent("#received-code")).trim();
  const admin = await apiAs("admin", PASSWORD);
  const d = (await admin(`/api/v1/dossiers/${encodeURIComponent(code)}`)).body;
  assert.equal(d.documents.length, n - 2);
  assert.equal(d.attachments.length, 1);
  assert.equal(d.attachments[0].document_line, n - 2);
  assert.equal(d.documents[n - 3].name, lastName);
  assert.deepEqual(d.documents.map((x) => x.digitized), d.documents.map((_, i) => i === n - 3));
  // The slip printed now says which line is digitized.
  const slip = await page.$$eval("#print .receipt:first-child .digitized", (es) => es.map((e) => e.textContent));
  assert.deepEqual(slip, d.documents.map((_, i) => (i === n - 3 ? "đã số hóa" : "chưa số hóa")));
  assert.deepEqual(errors, []);
  await context.close();
});

test("the result is recorded as a document, returned by post, and the citizen rates it on the tablet page", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "1.009994", applicant: { ...APPLICANT, id_number: "000000000419" }, channel: "direct" }) });
  assert.equal(made.status, 201);
  const code = made.body.code;
  assert.equal((await admin(`/api/v1/dossiers/${encodeURIComponent(code)}/actions`, { method: "POST", body: JSON.stringify({ action: "start_processing" }) })).status, 200);
  // An officer who both processes and returns.
  const account = await admin("/api/v1/accounts", { method: "POST", body: JSON.stringify({ username: "tra-ket-qua", full_name: "Cán bộ Thử Trả", password: "return-officer-pass-1", roles: ["specialist", "receptionist"] }) });
  assert.equal(account.status, 201);
  const { page, context, errors } = await loggedIn("tra-ket-qua", "return-officer-pass-1");
  await page.goto(`${base}/#/dossier/${encodeURIComponent(code)}`);
  await page.waitForSelector("#dossier");
  await page.click("#actions button[data-action=processed]");
  await page.fill("form.action input[name=result]", "Giấy phép xây dựng");
  for (const [k, v] of [["type", "Giấy phép xây dựng"], ["number", "125/GPXD"], ["signer", "Người Ký Thử"], ["issuer", "UBND Xã Thử Nghiệm"], ["signed_on", "2026-12-01"]]) {
    await page.fill(`form.action input[name=doc_${k}]`, v);
  }
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#timeline li:nth-child(3)");
  assert.match(await page.textContent("#dossier"), /Giấy phép xây dựng số 125\/GPXD — UBND Xã Thử Nghiệm, Người Ký Thử ký ngày 01\/12\/2026/);
  await page.click("#actions button[data-action=return_result]");
  await page.selectOption("form.action select[name=delivery]", "post");
  await page.fill("form.action input[name=waybill]", "EB123456789VN");
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#invite-rating");
  assert.match(await page.textContent("#dossier"), /Trả qua dịch vụ bưu chính công ích — EB123456789VN/);

  // The desk opens the rating page for the citizen, on a tablet.
  const [tablet] = await Promise.all([context.waitForEvent("page"), page.click("#invite-rating")]);
  await tablet.setViewportSize({ width: 800, height: 1280 });
  await tablet.waitForSelector("#rate");
  assert.equal(await tablet.inputValue("input[name=code]"), code);
  await tablet.fill("input[name=id_last4]", "0419");
  assert.equal(await tablet.isVisible("#reasons"), false);
  await tablet.check("input[value=not_satisfied]");
  await tablet.waitForSelector("#reasons:not([hidden])");
  await tablet.click("#rate button[type=submit]");
  assert.equal(await tablet.textContent("#rate-error"), "Xin cho biết lý do chưa hài lòng.");
  await tablet.check("input[value='Giải quyết chậm, trễ hẹn']");
  await tablet.screenshot({ path: path.join(shots, "rate.png"), fullPage: true });
  await tablet.click("#rate button[type=submit]");
  await tablet.waitForSelector("#rate-done:not([hidden])");
  const d = (await admin(`/api/v1/dossiers/${encodeURIComponent(code)}`)).body;
  assert.equal(d.rating.rating, "not_satisfied");
  await page.reload();
  await page.waitForSelector("#rating");
  assert.match(await page.textContent("#rating"), /Không hài lòng/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the counter prints form 02 and form 03 without receiving, and a guidance record starts a reception", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const who = { name: "Người Thử Quầy Mẫu", id_number: "900000000733", phone: "0900000003", address: "Thôn Thử Quầy" };
  const { page, context, errors } = await loggedIn();
  await page.evaluate(() => { window.print = () => {}; });
  const fillReception = async () => {
    // After a slip, the next walk-in starts from its page.
    if (await page.isVisible("#guidance-given")) await page.click("#guidance-given a[href='#/reception']");
    else await page.goto(`${base}/#/reception`);
    await page.waitForSelector("#reception #counter-work");
    await page.fill("#procedure-search", "dang ky ket hon");
    await page.waitForSelector("#procedure-matches li");
    await page.keyboard.press("Enter");
    for (const k of ["name", "id_number", "phone", "address"]) await page.fill(`#reception input[name=${k}]`, who[k]);
  };
  await fillReception();
  // The first checklist row is not brought: it is a missing item.
  const firstDoc = (await page.textContent("#reception .checklist tbody tr td:nth-child(2)")).replace(/\s*\(.*\)$/, "").trim();
  await page.uncheck("#reception .checklist tbody tr input[type=checkbox]");
  await page.fill("#counter-work textarea[name=counter_missing]", "Ảnh chân dung thử; 2");
  await page.fill("#counter-work textarea[name=counter_reasons]", "Hồ sơ chưa đủ thành phần");
  await page.click("#give-form02");
  await page.waitForSelector("#guidance-number");
  const first = (await page.textContent("#guidance-number")).trim();
  assert.match(first, /-HD\d{4}-\d{5}$/);
  await page.evaluate(() => { window.print = () => {}; });
  let form = await page.textContent("#print .form");
  assert.match(form, /PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ/);
  for (const s of [who.name, who.address, who.phone, "Đăng ký kết hôn", `${firstDoc}:`, "Ảnh chân dung thử: 2 bản", "Hồ sơ chưa đủ thành phần", "NGƯỜI HƯỚNG DẪN", first]) {
    assert.ok(form.includes(s), `${s} in form 02: ${form}`);
  }
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: path.join(shots, "form02-counter-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });

  await fillReception();
  await page.fill("#counter-work textarea[name=counter_reasons]", "Thủ tục không thuộc thẩm quyền của xã");
  await page.click("#give-form03");
  await page.waitForSelector("#guidance-number");
  form = await page.textContent("#print .form");
  assert.match(form, /PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ/);
  for (const s of [who.name, who.address, "Đăng ký kết hôn", "Thủ tục không thuộc thẩm quyền của xã", "NGƯỜI NỘP HỒ SƠ", "NGƯỜI TIẾP NHẬN HỒ SƠ"]) {
    assert.ok(form.includes(s), `${s} in form 03: ${form}`);
  }
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: path.join(shots, "form03-counter-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  const dossiers = await admin(`/api/v1/dossiers?q=${who.id_number}`);
  assert.deepEqual(dossiers.body, [], "nothing was received");

  // The citizen comes back: found by id number, a reception pre-filled.
  await page.click("a[href='#/guidance']");
  await page.waitForSelector("#guidance");
  await page.fill("#guidance-search input[name=q]", who.id_number);
  await page.click("#guidance-search button[type=submit]");
  await page.waitForSelector(`#guidance-list tr[data-number='${first}']`);
  assert.equal((await page.$$("#guidance-list tbody tr")).length, 2);
  await page.screenshot({ path: path.join(shots, "guidance-list.png"), fullPage: true });
  await page.click(`#guidance-list tr[data-number='${first}'] a.receive-from`);
  await page.waitForFunction((name) => document.querySelector("#reception input[name=name]")?.value === name, who.name);
  assert.equal(await page.inputValue("#reception input[name=id_number]"), who.id_number);
  assert.match(await page.inputValue("#procedure-search"), /Đăng ký kết hôn/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a stopped dossier prints form 05 with its reasons and legal basis", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: "2.000720", applicant: APPLICANT, channel: "direct" }) });
  assert.equal(made.status, 201);
  const code = encodeURIComponent(made.body.code);
  assert.equal((await admin(`/api/v1/dossiers/${code}/actions`, { method: "POST", body: JSON.stringify({ action: "start_processing" }) })).status, 200);
  const { page, context, errors } = await loggedIn();
  await page.goto(`${base}/#/dossier/${code}`);
  await page.click("#actions button[data-action=stop]");
  await page.fill("form.action input[name=reason]", "Người nộp không cung cấp đủ thông tin xác minh");
  await page.fill("form.action input[name=legal_basis]", "Điều 19 Nghị định 61/2018/NĐ-CP");
  await page.click("form.action button[type=submit]");
  await page.waitForSelector("#forms button[data-form=form05]");
  await page.evaluate(() => { window.print = () => {}; });
  await page.click("#forms button[data-form=form05]");
  const form = await page.textContent("#print .form");
  assert.match(form, /THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ/);
  for (const s of [made.body.code, APPLICANT.name, "Người nộp không cung cấp đủ thông tin xác minh", "Điều 19 Nghị định 61/2018/NĐ-CP", "THỦ TRƯỞNG CƠ QUAN"]) {
    assert.ok(form.includes(s), `${s} in form 05: ${form}`);
  }
  await page.emulateMedia({ media: "print" });
  await page.screenshot({ path: path.join(shots, "form05-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the seven forms of Thông tư 03/2025/TT-VPCP print with their titles and key fields", async () => {
  const admin = await apiAs("admin", PASSWORD);
  const who = { name: "Người Thử Mẫu Bảy", id_number: "900000000777", phone: "0900000077", address: "Thôn Thử Bảy, xã Thử Nghiệm" };
  const make = async (procedure, channel = "direct") => {
    const made = await admin("/api/v1/dossiers", { method: "POST", body: JSON.stringify({ procedure_code: procedure, applicant: who, channel }) });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return made.body;
  };
  const act = async (code, body) => {
    const r = await admin(`/api/v1/dossiers/${encodeURIComponent(code)}/actions`, { method: "POST", body: JSON.stringify(body) });
    assert.equal(r.status, 200, `${body.action}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  // A building permit (three steps): received, step 1 at the desk, a
  // re-appointment (form 04), then handed to the agency (form 06's rows).
  const permit = await make("1.009994");
  await act(permit.code, { action: "start_processing", step: 1 });
  await act(permit.code, { action: "reappoint", new_due_at: "2099-12-30", reason: "Chờ kết quả xác minh thực địa thử" });
  await act(permit.code, { action: "transfer", to_unit: "000.00.12.H56" });
  const supplement = await make("2.000720");
  const deadline = new Date(Date.now() + 10 * 24 * 3600 * 1000).toLocaleDateString("en-CA", { timeZone: "Asia/Ho_Chi_Minh" });
  await act(supplement.code, { action: "request_supplement", reason: "Thiếu giấy tờ thử", missing: ["Bản sao giấy thử mẫu"], deadline });
  const online = await make("2.000720", "online");
  await act(online.code, { action: "refuse", reason: "Hồ sơ trực tuyến không đúng thủ tục thử" });
  const stopped = await make("2.000720");
  await act(stopped.code, { action: "start_processing" });
  await act(stopped.code, { action: "stop", reason: "Lý do dừng thử", legal_basis: "Điều 19 Nghị định 61/2018/NĐ-CP" });

  const { page, context, errors } = await loggedIn();
  const open = async (code) => {
    await page.goto(`${base}/#/dossier/${encodeURIComponent(code)}`);
    await page.waitForFunction((c) => document.querySelector("#dossier h1")?.textContent === c, code);
    await page.evaluate(() => { window.print = () => { document.body.dataset.printed = "yes"; }; });
  };
  // Prints one form by its button, checks the title and key fields, keeps a screenshot.
  const print = async (n, title, fields) => {
    const button = `#forms button[data-form=form${n}]`;
    assert.match(await page.textContent(button), new RegExp(`^Mẫu ${n} — `), `the button names form ${n}`);
    await page.evaluate(() => { delete document.body.dataset.printed; });
    await page.click(button);
    await page.waitForSelector("body[data-printed=yes]");
    await page.emulateMedia({ media: "print" });
    const text = await page.textContent("#print");
    assert.ok(text.includes(title), `form ${n}'s title ${title} in: ${text}`);
    for (const f of fields) assert.ok(text.includes(f), `${f} in form ${n}: ${text}`);
    await page.screenshot({ path: path.join(shots, `form${n}-2025.png`), fullPage: true });
    await page.emulateMedia({ media: "screen" });
    return text;
  };

  await open(permit.code);
  await print("01", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", [permit.code, who.name, `Quyển số ${permit.logbook.volume}, Số thứ tự ${permit.logbook.number}`]);
  const [oldDue, newDue] = await page.evaluate((x) => [day(x), day("2099-12-30T17:00:00+07:00")], permit.due_at);
  const f04 = await print("04", "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
    [`Kính gửi: ${who.name}`, who.address, permit.code, "Chờ kết quả xác minh thực địa thử", "THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ", "Số: ", "Bộ phận Một cửa Xã Thử Nghiệm (demo)"]);
  assert.ok((await page.textContent("#print .form04-old-due")).includes(oldDue), `the original appointment ${oldDue}`);
  assert.ok((await page.textContent("#print .form04-new-due")).includes(newDue), `the new appointment ${newDue}`);
  assert.equal(await page.textContent("#print .form04-issuer"), "XÃ THỬ NGHIỆM (DEMO)", "issued by the unit that re-appointed");
  assert.match(f04, /xin lỗi ông\/bà vì sự chậm trễ/);
  await print("06", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", [permit.code, "Cơ quan, đơn vị chủ trì giải quyết", "Người giao (ký)", "Người nhận (ký)", "Ghi chú"]);
  const rows = await page.$$eval("#print #control-steps tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.equal(rows.length, 2, "one row per hand-off");
  assert.match(rows[0][1], /Nhận: Xã Thử Nghiệm \(demo\)/);
  assert.match(rows[1][1], /Giao: Xã Thử Nghiệm \(demo\).*Nhận: 000\.00\.12\.H56 \(Phòng Kinh tế, Hạ tầng và Đô thị\)/);
  assert.match(rows[0][5], /^(Trước hạn|Đúng hạn)$/, "step 1 ended in time");
  assert.equal(rows[1][5], "Đang thực hiện");
  assert.equal(await page.textContent("#print .form06-lead"), "000.00.12.H56");

  await open(supplement.code);
  const [y, m, d] = deadline.split("-").map(Number);
  await print("02", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", [supplement.code, "Bản sao giấy thử mẫu", "Thiếu giấy tờ thử", `${d}/${m}/${y}`]);
  await open(online.code);
  await print("03", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", [online.code, who.name, "Hồ sơ trực tuyến không đúng thủ tục thử"]);
  await open(stopped.code);
  await print("05", "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ", [stopped.code, "Lý do dừng thử", "Điều 19 Nghị định 61/2018/NĐ-CP"]);
  assert.ok(!(await page.$("#forms button[data-form=form04]")), "no form 04 without a re-appointment");

  // Form 07: the logbook of today, from the queue page.
  await page.goto(`${base}/#/queue/all`);
  await page.waitForSelector("#logbook-form");
  assert.equal(await page.$eval("#logbook-form", (f) => f.previousElementSibling.textContent), "Mẫu 07 — Sổ theo dõi hồ sơ");
  await page.evaluate(() => { window.print = () => { document.body.dataset.printed = "yes"; }; delete document.body.dataset.printed; });
  await page.click("#logbook-form button[type=submit]");
  await page.waitForSelector("body[data-printed=yes]");
  await page.emulateMedia({ media: "print" });
  const book = await page.textContent("#print");
  for (const s of ["SỔ THEO DÕI HỒ SƠ", permit.code, supplement.code, who.address, "Ký nhận kết quả"]) assert.ok(book.includes(s), `${s} in form 07`);
  await page.screenshot({ path: path.join(shots, "form07-2025.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert.deepEqual(errors, []);
  await context.close();
});
