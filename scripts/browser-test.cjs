// The dashboard in a real browser (headless Chromium, driven by
// playwright-core): run by scripts/browser-test.sh, which starts startup
// and says where everything is. Two modes:
//
//   node browser-test.cjs live URL OUTDIR
//     loads the live page, waits for its charts to draw, checks that every
//     figure shown is the one /api/run served, takes a screenshot mid-run,
//     waits for the verdict, checks again, takes one more, and writes the
//     final view it was served to OUTDIR/final-view.json.
//   node browser-test.cjs report HTML REPORT_JSON OUTDIR
//     opens the HTML report from disk, waits for its charts, checks every
//     figure against the JSON it embeds, that JSON's final report against
//     startup's --report file and the live page's final view, and takes a
//     screenshot.
//
// Every wait has a deadline; the browser is started with flags that keep
// it from calling out (this machine has no network but loopback).
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const nodeDir = process.env.MC_BROWSER_NODE_DIR;
const { chromium } = require(path.join(nodeDir, "node_modules", "playwright-core"));

const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let failures = 0;
function check(ok, what) {
  if (ok) return true;
  failures++;
  console.log("FAIL: " + what);
  return false;
}

// The value at a dotted path (`final.report.acked`). The page has a twin of
// this; the test keeps its own, so that it never checks the page against
// the page's own code.
function at(obj, p) {
  let v = obj;
  for (const part of p.split(".")) {
    if (v === null || v === undefined) return undefined;
    v = v[part];
  }
  return v;
}

// The text a figure shows, read back, against the value it stands for.
function textMatches(format, value, text) {
  if (value === null || value === undefined) return text === "-" || text === "until Ctrl-C";
  const n = parseFloat(text.replace(/,/g, ""));
  switch (format) {
    case "int": return n === Math.round(value);
    case "f1": return Math.abs(n - value) <= 0.05 + 1e-9;
    case "ratio": return Math.abs(n - value * 100) <= 0.005 + 1e-9;
    case "us": {
      const unit = text.split(" ")[1];
      const scale = { us: 1, ms: 1e3, s: 1e6 }[unit];
      const tolerance = { us: 0.5, ms: 50, s: 5000 }[unit];
      return scale !== undefined && Math.abs(n * scale - value) <= tolerance + 1e-9;
    }
    case "clock": {
      const [h, m, s] = text.split(":").map(Number);
      return h * 3600 + m * 60 + s === Math.floor(Math.max(0, value));
    }
    case "bool": return text === (value ? "yes" : "NO");
    case "flag": return text === (value ? "yes" : "no");
    case "updown": return text === (value ? "up" : "DOWN");
    case "verdict": return text === String(value).toUpperCase();
    case "list": return text === (value.join(", ") || "none");
    case "json": return text === (typeof value === "object" ? JSON.stringify(value) : String(value));
    default: return text === String(value).trim();
  }
}

// What the page shows and the seq of the view it shows, read in one go:
// the page renders a view in one synchronous pass, and a long poll that
// returns between two reads would otherwise pair one view's seq with the
// next one's figures (seen on a starved machine, where the mid-run check
// read "stopping" against the view before it).
async function shownNow(page) {
  return page.evaluate(() => ({
    seq: Number(document.body.dataset.seq),
    fields: [...document.querySelectorAll("[data-field]")].map((el) => ({
      field: el.dataset.field, format: el.dataset.format, value: el.dataset.value, text: el.textContent,
    })),
  }));
}

// Every [data-field] element the page shows against `view`; returns how
// many were checked.
async function compareDom(page, view, label) {
  return compareShown((await shownNow(page)).fields, view, label);
}

// `shown` (from shownNow) against `view`; returns how many were checked.
function compareShown(shown, view, label) {
  let checked = 0;
  for (const f of shown) {
    const want = at(view, f.field);
    const wantJson = want === undefined ? "undefined" : JSON.stringify(want);
    check(f.value === wantJson, `${label}: ${f.field} holds ${f.value}, the JSON has ${wantJson}`);
    check(textMatches(f.format, want, f.text.trim()),
      `${label}: ${f.field} shows "${f.text.trim()}" for ${wantJson} (${f.format})`);
    checked++;
  }
  return checked;
}

async function chartsDrawn(page, minPoints, timeout) {
  await page.waitForFunction((min) => {
    const charts = document.querySelectorAll(".chart");
    return charts.length === 6 && [...charts].every((c) =>
      c.dataset.drawn === "1" && Number(c.dataset.points) >= min && c.querySelector("canvas"));
  }, minPoints, { timeout });
}

async function browser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "mc-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.MC_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 1000 },
  });
  return { context, profile };
}

async function live(url, outdir) {
  const { context, profile } = await browser();
  const page = context.pages()[0] || await context.newPage();
  const served = new Map(); // seq -> the view /api/run sent the page
  page.on("response", async (r) => {
    if (!r.url().includes("/api/run")) return;
    try { const v = await r.json(); served.set(v.seq, v); } catch (e) { /* a page closing */ }
  });
  page.on("pageerror", (e) => check(false, "the page threw: " + e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-phase="running"]', { timeout: 60000 });
  await chartsDrawn(page, 2, 60000);
  console.log("live: the page is running and its 6 charts are drawn");

  // Mid-run: the DOM against the view it last rendered, as /api/run sent it.
  const shown = await shownNow(page);
  const seq = shown.seq;
  let view = served.get(seq);
  for (let i = 0; i < 50 && !view; i++) { await page.waitForTimeout(100); view = served.get(seq); }
  if (check(view, `live: the page shows seq ${seq}, which /api/run never served it`)) {
    const n = compareShown(shown.fields, view, "live mid-run");
    console.log(`live: ${n} figures shown equal /api/run's (seq ${seq}, phase ${view.phase}, ${view.series.t_s.length} points)`);
  }
  // And /api/run asked from outside the page: the same run.
  const direct = await (await fetch(url + "api/run")).json();
  check(direct.seq >= seq, "live: /api/run went back in time");
  for (const field of ["layout", "config", "version", "started_utc", "host_role", "duration_s"]) {
    check(JSON.stringify(direct[field]) === JSON.stringify(view && view[field]),
      `live: ${field} differs between the page and /api/run`);
  }
  await page.screenshot({ path: path.join(outdir, "dashboard-live.png"), fullPage: true });
  console.log("live: screenshot " + path.join(outdir, "dashboard-live.png"));

  // The end: the verdict on the page, as /api/run sent it.
  await page.waitForSelector('body[data-phase="done"]', { timeout: 120000 });
  await chartsDrawn(page, 2, 10000);
  const last = Number(await page.evaluate(() => document.body.dataset.seq));
  const final = served.get(last);
  if (check(final && final.final, "live: the page shows a final state /api/run never served")) {
    const n = await compareDom(page, final, "live final");
    console.log(`live: ${n} figures shown at the end equal /api/run's final view (verdict ${final.final.report.verdict})`);
    fs.writeFileSync(path.join(outdir, "final-view.json"), JSON.stringify(final));
  }
  await page.screenshot({ path: path.join(outdir, "dashboard-final.png"), fullPage: true });
  console.log("live: screenshot " + path.join(outdir, "dashboard-final.png"));
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

async function report(html, reportJson, outdir) {
  const written = JSON.parse(fs.readFileSync(reportJson, "utf8"));
  delete written.client_keys;
  delete written.server_dumps;
  const finalView = JSON.parse(fs.readFileSync(path.join(outdir, "final-view.json"), "utf8"));
  check(JSON.stringify(sorted(finalView.final.report)) === JSON.stringify(sorted(written)),
    "the live page's final report differs from startup's --report");

  const { context, profile } = await browser();
  const page = context.pages()[0] || await context.newPage();
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
  page.on("pageerror", (e) => check(false, "the report threw: " + e.message));
  await page.goto("file://" + path.resolve(html));
  await page.waitForSelector('body[data-phase="done"]', { timeout: 30000 });
  await chartsDrawn(page, 2, 30000);
  const embedded = JSON.parse(await page.$eval("#run-data", (el) => el.textContent));
  const n = await compareDom(page, embedded, "HTML report");
  console.log(`report: ${n} figures shown equal the JSON the file carries`);
  check(JSON.stringify(sorted(embedded.final.report)) === JSON.stringify(sorted(written)),
    "the HTML report's final report differs from startup's --report");
  check(JSON.stringify(embedded.series) === JSON.stringify(finalView.series),
    "the HTML report's charts differ from the live page's at the end");
  check(requests.length === 0, "the HTML report fetched " + requests.join(", "));
  console.log(`report: its final report equals --report's; its ${embedded.series.t_s.length} points equal the live page's; it fetched nothing`);
  await page.screenshot({ path: path.join(outdir, "html-report.png"), fullPage: true });
  console.log("report: screenshot " + path.join(outdir, "html-report.png"));
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

// JSON with object keys sorted, so that key order does not count.
function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  }
  return v;
}

(async () => {
  const [mode, ...args] = process.argv.slice(2);
  try {
    if (mode === "live") await live(args[0], args[1]);
    else if (mode === "report") await report(args[0], args[1], args[2]);
    else throw new Error("usage: browser-test.cjs live URL OUTDIR | report HTML REPORT_JSON OUTDIR");
  } catch (e) {
    check(false, e.stack || String(e));
  }
  console.log(failures ? `${mode}: ${failures} check(s) failed` : `${mode}: every check passed`);
  process.exit(failures ? 1 : 0);
})();
