// Browser tests of the approval dashboard (/admin on the approver) in headless
// Chromium (playwright-core, Debian's chromium), against the running test
// stack (tests/run.sh starts it).
//
//   node tests/browser/dashboard.test.mjs
//
// Environment (defaults are the test stack's): PKI_VAR (var/test),
// PKI_GATEWAY_LISTEN (127.0.0.1:28080), PKI_APPROVER_LISTEN (127.0.0.1:28081),
// PKI_CHROMIUM (/usr/bin/chromium). Prints "PASS: name" / "FAIL: name";
// exits 1 when anything failed. Screenshots go to tests/artifacts/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PKI_VAR = resolve(ROOT, process.env.PKI_VAR || "var/test");
const GATEWAY = "http://" + (process.env.PKI_GATEWAY_LISTEN || "127.0.0.1:28080");
const APPROVER = "http://" + (process.env.PKI_APPROVER_LISTEN || "127.0.0.1:28081");
const PAGE = APPROVER + "/admin";
const CHROMIUM = process.env.PKI_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "tests/artifacts");
const STEP_TIMEOUT_MS = 15000;
const QUEUE_TIMEOUT_MS = 30000; // gateway → Kafka → approver → page poll
const ISSUE_TIMEOUT_MS = 60000;
const RUN = Date.now().toString(36) + "-" + process.pid;

const creds = JSON.parse(readFileSync(join(PKI_VAR, "demo/credentials.json"), "utf8"));
const KEY = Object.fromEntries(Object.entries(creds.users).map(([u, v]) => [u, v.token]));
const CA = creds.cas;

let failed = 0;
function pass(name) { console.log("PASS: " + name); }
function fail(name, err) {
  failed++;
  console.log("FAIL: " + name);
  console.log(String(err && err.stack ? err.stack : err).split("\n").slice(0, 8).map((l) => "    " + l).join("\n"));
}
async function test(name, fn) {
  try {
    await fn();
    pass(name);
  } catch (e) {
    fail(name, e);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), "pki-dashboard-"));

/*
 * Submits a fresh CSR for cn (subjectAltName san, openssl's syntax; default
 * DNS:cn) to ca through the gateway API as user; returns the request id.
 */
async function submit(user, ca, cn, san) {
  const base = join(work, cn);
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", base + ".key", "-subj", "/CN=" + cn,
    "-addext", "subjectAltName=" + (san || "DNS:" + cn), "-out", base + ".csr"], { stdio: ["ignore", "ignore", "pipe"] });
  const res = await fetch(GATEWAY + "/csr/process", {
    method: "POST",
    headers: { Authorization: "Bearer " + KEY[user], "Content-Type": "application/json" },
    body: JSON.stringify({ csr_data: readFileSync(base + ".csr", "utf8"), common_name: cn, validity_days: 30, ca_id: ca }),
  });
  const body = await res.json();
  eq(res.status, 202, "submit status (" + JSON.stringify(body) + ")");
  eq(body.status, "pending_approval", "submit state");
  return body.request_id;
}

/* The request as its requester polls it. */
async function poll(user, id, wait) {
  const res = await fetch(GATEWAY + "/csr/requests/" + id + (wait ? "?wait=" + wait : ""),
    { headers: { Authorization: "Bearer " + KEY[user] } });
  return res.json();
}

async function pollUntil(user, id, states, ms) {
  const end = Date.now() + ms;
  let r;
  do {
    r = await poll(user, id, 10);
    if (states.includes(r.status)) return r;
  } while (Date.now() < end);
  throw new Error(`request ${id} is ${r.status}, not ${states.join("|")}`);
}

mkdirSync(ARTIFACTS, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "pki-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
context.setDefaultTimeout(STEP_TIMEOUT_MS);
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push("page error: " + e.message));
let navigations = 0;
page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });

const shot = (name) => page.screenshot({ path: join(ARTIFACTS, "dashboard-" + name + ".png"), fullPage: true });
const state = () => page.evaluate(() => document.body.dataset.state);
const sessionCookie = async () => (await context.cookies(APPROVER)).find((c) => c.name === "pki_admin");
const row = (id) => page.locator(`#queue-body tr[data-id="${id}"]`);

/* Signs in with key by keyboard (Enter in the key field); returns the form post's response. */
async function login(key) {
  await page.goto(PAGE);
  await page.fill("#api_key", key);
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/admin/login")),
    page.press("#api_key", "Enter"),
  ]);
  await page.waitForLoadState("load");
  return res;
}

async function logout() {
  await Promise.all([page.waitForURL(PAGE), page.click("#logout")]);
}

/* Opens the detail of id from its row by keyboard: focus Review, press Enter. */
async function openDetail(id) {
  await row(id).waitFor({ timeout: QUEUE_TIMEOUT_MS });
  await row(id).locator("button.review").focus();
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/admin/api/pending/" + id) && r.status() === 200),
    page.keyboard.press("Enter"),
  ]);
  await page.waitForFunction((want) => document.getElementById("d-id").textContent === want
    && !document.getElementById("detail").hidden, id);
}

try {
  await test("dashboard_login_form_when_signed_out", async () => {
    const res = await page.goto(PAGE);
    eq(res.status(), 200, "GET /admin status");
    eq(await state(), "login", "page state");
    assert(await page.isVisible("#api_key"), "API key input not visible");
    assert(!(await page.isVisible("#queue")), "queue visible before login");
    eq(await page.evaluate(() => document.activeElement && document.activeElement.id), "api_key", "focus");
    eq(await page.getAttribute("label[for=api_key]", "for"), "api_key", "label of the key input");
  });

  await test("dashboard_login_refuses_requester", async () => {
    const res = await login(KEY.alice);
    eq(res.status(), 403, "login status for a requester");
    eq(await state(), "login", "page state");
    assert((await page.textContent("#api_key-error")).includes("not an admin"), "error message");
    eq(await sessionCookie(), undefined, "session cookie after a refused login");
  });

  await test("dashboard_login_admin", async () => {
    const res = await login(KEY.admin);
    eq(res.status(), 303, "login status");
    eq(await state(), "app", "page state");
    const c = await sessionCookie();
    assert(c !== undefined, "no session cookie");
    assert(c.httpOnly, "cookie not HttpOnly");
    eq(c.sameSite, "Strict", "cookie SameSite");
    assert((await page.textContent("#whoami")).includes("admin"), "whoami");
  });

  let A, B;
  await test("dashboard_queue_updates_without_reload", async () => {
    await page.waitForFunction(() => document.getElementById("live").textContent.startsWith("Updated"));
    const before = navigations;
    await page.evaluate(() => { window.__noReload = 1; });
    A = await submit("alice", CA.approval, `approve-${RUN}.acme.example`);
    await row(A).waitFor({ timeout: QUEUE_TIMEOUT_MS });
    eq(navigations, before, "page navigations while waiting");
    eq(await page.evaluate(() => window.__noReload), 1, "page was reloaded");
    assert((await row(A).textContent()).includes(`approve-${RUN}.acme.example`), "row shows the common name");
    assert((await page.textContent("#counts")).includes(CA.approval + ":"), "count per CA");
  });

  await test("dashboard_detail_shows_decoded_csr", async () => {
    await openDetail(A);
    const dl = await page.textContent("#d-fields");
    assert(dl.includes(`CN=approve-${RUN}.acme.example`), "subject");
    assert(dl.includes(`DNS:approve-${RUN}.acme.example`), "SAN");
    assert(dl.includes("EC 256 (P-256)"), "key type and size");
    assert(dl.includes("alice"), "requester");
    assert(dl.includes("30 days"), "validity");
    assert((await page.textContent("#d-approvals")).includes("None yet"), "approvals so far");
    eq(await page.evaluate(() => document.activeElement.id), "detail", "focus moves to the detail");
    await shot("detail");
  });

  await test("dashboard_approve", async () => {
    await page.click("#approve");
    await page.waitForFunction(() => document.getElementById("decision-msg").textContent.startsWith("Approved"));
    await row(A).waitFor({ state: "detached", timeout: QUEUE_TIMEOUT_MS });
    const r = await pollUntil("alice", A, ["issued", "failed"], ISSUE_TIMEOUT_MS);
    eq(r.status, "issued", "requester sees");
    await page.waitForFunction((id) => document.getElementById("recent-body").textContent.includes("approved"), A);
  });

  await test("dashboard_reject_with_reason", async () => {
    B = await submit("alice", CA.approval, `reject-${RUN}.acme.example`);
    await openDetail(B);
    // An empty reason is refused in the page, without a request.
    let posted = false;
    const onReq = (r) => { if (r.url().endsWith("/reject")) posted = true; };
    page.on("request", onReq);
    await page.click("#reject");
    await page.waitForFunction(() => document.getElementById("reason-error").textContent !== "");
    eq(await page.getAttribute("#reason", "aria-invalid"), "true", "reason marked invalid");
    eq(posted, false, "a reject without reason was sent");
    page.off("request", onReq);
    const reason = `Not in the inventory (${RUN})`;
    await page.fill("#reason", reason);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/admin/api/pending/" + B + "/reject")),
      page.press("#reason", "Tab").then(() => page.keyboard.press("Enter")),
    ]);
    eq(res.status(), 200, "reject status");
    eq(res.request().headers()["x-csrf-token"].length, 64, "CSRF header on the POST");
    await page.waitForFunction(() => document.getElementById("decision-msg").textContent.startsWith("Rejected"));
    const r = await poll("alice", B);
    eq(r.status, "rejected", "requester sees");
    eq(r.error.message, reason, "reason shown to the requester");
    await row(B).waitFor({ state: "detached", timeout: QUEUE_TIMEOUT_MS });
  });

  await test("dashboard_filter_by_ca", async () => {
    const C = await submit("alice", CA.approval2, `filter-${RUN}.acme.example`);
    await row(C).waitFor({ timeout: QUEUE_TIMEOUT_MS });
    await page.waitForSelector(`#f-ca option[value="${CA.approval2}"]`, { state: "attached" });
    await page.selectOption("#f-ca", CA.approval2);
    await page.waitForFunction((ca) => {
      const rows = Array.from(document.querySelectorAll("#queue-body tr"));
      return rows.length > 0 && rows.every((r) => r.children[1].textContent === ca);
    }, CA.approval2);
    await page.selectOption("#f-ca", "");
    await shot("queue");
  });

  /* The SANs of a PEM certificate, as openssl prints them ("IP Address:" as "IP:"), sorted. */
  const certSans = (pem) => {
    const f = join(work, "sans.crt");
    writeFileSync(f, pem);
    const out = execFileSync("openssl", ["x509", "-in", f, "-noout", "-ext", "subjectAltName"], { encoding: "utf8" });
    return out.split("\n").slice(1).join(",").split(",").map((x) => x.trim().replace(/^IP Address:/, "IP:"))
      .filter(Boolean).sort();
  };

  // What the admin sees is what is issued: 45 IP addresses, then 100 names of four kinds.
  const ip45 = [`DNS:ip45-${RUN}.acme.example`];
  for (let i = 1; i <= 45; i++) ip45.push(`IP:10.45.0.${i}`);
  const mixed = [`DNS:mixed-${RUN}.acme.example`];
  for (let i = 1; i < 100; i++) {
    mixed.push([`DNS:h${i}-${RUN}.acme.example`, `IP:10.100.0.${i}`, `email:u${i}@acme.example`,
      `URI:https://acme.example/u/${i}`][i % 4]);
  }
  for (const [label, sans] of [["45_ip_sans", ip45], ["100_mixed_sans", mixed]]) {
    await test("dashboard_detail_shows_every_san_" + label, async () => {
      const cn = sans[0].slice(4);
      const id = await submit("alice", CA.approval, cn, sans.join(","));
      await openDetail(id);
      const dd = await page.evaluate(() => {
        for (const dt of document.querySelectorAll("#d-fields dt")) {
          if (dt.textContent === "Subject alternative names") return dt.nextElementSibling.textContent;
        }
        return null;
      });
      assert(dd !== null, "no Subject alternative names field");
      const shown = dd.split(", ").sort();
      eq(shown.length, sans.length, "SANs shown");
      eq(JSON.stringify(shown), JSON.stringify([...sans].sort()), "SANs shown");
      await shot("sans-" + label);
      await page.click("#approve");
      await page.waitForFunction(() => document.getElementById("decision-msg").textContent.startsWith("Approved"));
      const r = await pollUntil("alice", id, ["issued", "failed"], ISSUE_TIMEOUT_MS);
      eq(r.status, "issued", "requester sees (" + JSON.stringify(r.error || null) + ")");
      eq(JSON.stringify(certSans(r.certificate)), JSON.stringify([...sans].sort()), "SANs in the certificate");
    });
  }

  await test("dashboard_two_of_n", async () => {
    const D = await submit("alice", CA.approval2, `dual-${RUN}.acme.example`);
    await openDetail(D);
    await page.click("#approve");
    await page.waitForFunction(() => document.getElementById("decision-msg").textContent.includes("1 of 2"));
    await page.waitForFunction((id) => {
      const r = document.querySelector(`#queue-body tr[data-id="${id}"]`);
      return r && r.children[5].textContent === "1 of 2";
    }, D);
    eq((await poll("alice", D)).status, "pending_approval", "state after one approval");
    await logout();
    const res = await login(KEY.admin2);
    eq(res.status(), 303, "second admin login");
    await openDetail(D);
    assert((await page.textContent("#d-approvals")).includes("admin at"), "first approval listed");
    await page.click("#approve");
    await page.waitForFunction(() => document.getElementById("decision-msg").textContent.startsWith("Approved"));
    const r = await pollUntil("alice", D, ["issued", "failed"], ISSUE_TIMEOUT_MS);
    eq(r.status, "issued", "requester sees after two approvals");
    await page.waitForFunction(() => document.getElementById("recent-body").textContent.includes("admin, admin2"));
    await shot("two-of-n");
  });

  await test("dashboard_logout_ends_session", async () => {
    const before = await sessionCookie();
    assert(before !== undefined, "not signed in before logout");
    await logout();
    eq(await state(), "login", "page state after logout");
    eq(await sessionCookie(), undefined, "cookie still set after logout");
    const api = await fetch(APPROVER + "/admin/api/pending", { headers: { Cookie: "pki_admin=" + before.value } });
    eq(api.status, 401, "admin API with the old session token");
    await shot("logged-out");
  });

  await test("dashboard_no_console_errors", async () => {
    const real = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
    eq(real.join("\n"), "", "console errors");
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
