// Page-load benchmark of the web UI (issue 5: queue and dashboard at
// 100,000 dossiers in <= 300 ms). Drives Debian's chromium against a
// running node; each load is a full navigation (HTML, scripts, session,
// API calls) until the page's content is on screen.
//
//   node bench.js --base http://127.0.0.1:8080 --password PASS [--runs 10]
// (scripts/ui-bench builds a node with 100,000 dossiers and runs this.)
import { chromium } from "playwright-core";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const base = args.base || "http://127.0.0.1:8080";
const runs = Number(args.runs || 10);
const password = args.password || process.env.MOTCUA_ADMIN_PASSWORD;

const pages = [
  ["queue: all, first page", "#/queue/all", "#queue tbody tr"],
  ["queue: all, page 1,000", "#/queue/all?page=1000", "#queue tbody tr"],
  ["queue: result ready", "#/queue/ready", "#queue tbody tr"],
  ["queue: overdue", "#/queue/overdue", "#count"],
  ["queue: search by name", "#/queue/all?q=nguyen", "#count"],
  ["dashboard: all time", "#/dashboard?range=period", "#dashboard .figure"],
  ["dashboard: this month", "#/dashboard?range=month", "#dashboard .figure"],
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
const page = await context.newPage();
await page.goto(base);
await page.fill("input[name=username]", "admin");
await page.fill("input[name=password]", password);
await page.click("#login button[type=submit]");
await page.waitForSelector("#reception");
const total = await page.evaluate(async () => (await fetch("/api/v1/dossiers?limit=1")).headers.get("X-Total-Count"));

console.log(`${total} dossiers on the node; ${runs} loads per page (after one warm-up), 1366×768`);
console.log("| page | median ms | min–max ms |");
console.log("|---|---|---|");
for (const [name, hash, selector] of pages) {
  const times = [];
  for (let i = 0; i <= runs; i++) {
    await page.goto("about:blank");
    const t0 = Date.now();
    await page.goto(`${base}/${hash}`);
    await page.waitForSelector(selector);
    if (i > 0) times.push(Date.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${times[Math.floor(times.length / 2)]} | ${times[0]}–${times[times.length - 1]} |`);
}
await browser.close();
