// Browser tests of the /csr/upload page in headless Chromium (playwright-core,
// Debian's chromium), against the running test stack (tests/run.sh starts it).
//
//   node tests/browser/upload.test.mjs
//
// Environment (defaults are the test stack's): PKI_VAR (var/test),
// PKI_GATEWAY_LISTEN (127.0.0.1:28080), PKI_CHROMIUM (/usr/bin/chromium).
// Prints "PASS: name" / "FAIL: name" lines; exits 1 when anything failed.
// A screenshot of each final state goes to tests/artifacts/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PKI_VAR = resolve(ROOT, process.env.PKI_VAR || "var/test");
const GATEWAY = "http://" + (process.env.PKI_GATEWAY_LISTEN || "127.0.0.1:28080");
const PAGE = GATEWAY + "/csr/upload";
const CHROMIUM = process.env.PKI_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "tests/artifacts");
const ISSUE_TIMEOUT_MS = 60000; // submit → issued, through Kafka and a worker
const STEP_TIMEOUT_MS = 15000;
const RUN = Date.now().toString(36) + "-" + process.pid;

const creds = JSON.parse(readFileSync(join(PKI_VAR, "demo/credentials.json"), "utf8"));
const ALICE = creds.users.alice.token;
const CA = creds.cas; // {root, issuing, approval, globex}

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

const work = mkdtempSync(join(tmpdir(), "pki-browser-"));

/* A fresh EC P-256 key and CSR for cn (SAN DNS:cn), as PEM; written under work/. */
function makeCsr(cn) {
  const base = join(work, cn.replace(/[^a-z0-9.-]/gi, "_"));
  execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", base + ".key", "-subj", "/CN=" + cn,
    "-addext", "subjectAltName=DNS:" + cn, "-out", base + ".csr"], { stdio: ["ignore", "ignore", "pipe"] });
  return { path: base + ".csr", pem: readFileSync(base + ".csr", "utf8") };
}

/* The subject CN of a PEM certificate file, via openssl (throws if it is not one). */
function certCn(path) {
  const out = execFileSync("openssl", ["x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const m = /CN=([^,\n]+)/.exec(out);
  return m ? m[1] : null;
}

/* The public key (PEM) of an openssl object: pubkey(["x509", "-in", f]) or ["req", "-in", f]. */
const pubkey = (args) => execFileSync("openssl", [...args, "-noout", "-pubkey"], { encoding: "utf8" });

/* Number of PEM certificates in a file's text. */
const pemCount = (text) => (text.match(/-----BEGIN CERTIFICATE-----/g) || []).length;

mkdirSync(ARTIFACTS, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "pki-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  acceptDownloads: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
context.setDefaultTimeout(STEP_TIMEOUT_MS);
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push("page error: " + e.message));

const shot = (name) => page.screenshot({ path: join(ARTIFACTS, "upload-" + name + ".png"), fullPage: true });
const state = () => page.evaluate(() => document.body.dataset.state);
const sessionCookie = async () => (await context.cookies(GATEWAY)).find((c) => c.name === "pki_session");

/* Signs in through the form with key; returns the response to the form post. */
async function login(key) {
  await page.goto(PAGE);
  await page.fill("#api_key", key);
  // By keyboard: Enter in the key field submits the form.
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/csr/upload/login")),
    page.press("#api_key", "Enter"),
  ]);
  await page.waitForLoadState("load");
  return res;
}

/* Fresh form: reload, wait for the CA list, choose ca. */
async function freshForm(ca) {
  await page.goto(PAGE);
  await page.waitForSelector(`#ca_id option[value="${ca}"]`, { state: "attached" });
  await page.selectOption("#ca_id", ca);
  await page.waitForFunction(() => document.getElementById("ca_id-hint").textContent !== "");
}

/* Pastes pem into the CSR field and waits for the common name to be filled from it. */
async function pasteCsr(pem, cn) {
  await page.fill("#csr_data", pem);
  await page.waitForFunction((want) => document.getElementById("common_name").value === want, cn);
}

async function submit() {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/csr/process") && r.request().method() === "POST"),
    page.click("#submit"),
  ]);
  return res;
}

try {
  await test("upload_login_form_when_signed_out", async () => {
    const res = await page.goto(PAGE);
    eq(res.status(), 200, "GET /csr/upload status");
    eq(await state(), "login", "page state");
    assert(await page.isVisible("#api_key"), "API key input not visible");
    assert(!(await page.isVisible("#csr-form")), "request form visible before login");
    eq(await page.evaluate(() => document.activeElement && document.activeElement.id), "api_key",
      "focus on the API key input");
  });

  await test("upload_wrong_key_refused", async () => {
    const res = await login("pki_not-a-real-key-" + RUN);
    eq(res.status(), 401, "login status");
    eq(await state(), "login", "page state after a wrong key");
    const msg = await page.textContent("#api_key-error");
    assert(/not recognized/i.test(msg), "error next to the API key field: " + JSON.stringify(msg));
    assert((await sessionCookie()) === undefined, "a session cookie was set for a wrong key");
  });

  await test("upload_login_sets_session_cookie", async () => {
    const res = await login(ALICE);
    eq(res.status(), 303, "login status");
    eq(await state(), "app", "page state after login");
    assert(/alice/.test(await page.textContent("#whoami")), "user name not shown");
    const c = await sessionCookie();
    assert(c !== undefined, "no pki_session cookie");
    eq(c.httpOnly, true, "cookie HttpOnly");
    eq(c.sameSite, "Strict", "cookie SameSite");
    eq(c.path, "/", "cookie Path");
    eq(c.secure, false, "cookie Secure on plain loopback http");
    eq(await page.evaluate(() => document.cookie.includes("pki_session")), false,
      "cookie readable from JavaScript");
  });

  await test("upload_lists_only_usable_intermediates", async () => {
    await freshForm(CA.issuing);
    const ids = await page.$$eval("#ca_id option", (os) => os.map((o) => o.value));
    assert(ids.includes(CA.issuing), "issuing CA missing from " + ids);
    assert(ids.includes(CA.approval), "approval CA missing from " + ids);
    assert(!ids.includes(CA.root), "root CA listed: " + ids);
    assert(!ids.includes(CA.globex), "another tenant's CA listed: " + ids);
  });

  await test("upload_inputs_have_labels", async () => {
    const unlabeled = await page.$$eval("#csr-form input, #csr-form select, #csr-form textarea",
      (els) => els.filter((e) => e.type !== "hidden" && e.labels.length === 0).map((e) => e.id || e.name));
    eq(unlabeled.join(","), "", "inputs without a label");
  });

  await test("upload_csr_file_fills_common_name", async () => {
    const cn = "file-" + RUN + ".acme.example";
    const csr = makeCsr(cn);
    await page.setInputFiles("#csr_file", csr.path);
    await page.waitForFunction((want) => document.getElementById("common_name").value === want, cn);
    eq((await page.inputValue("#csr_data")).trim(), csr.pem.trim(), "CSR text from the file");
    assert((await page.textContent("#csr_data-hint")).includes("CN=" + cn), "subject not shown");
  });

  await test("upload_der_file_sent_as_multipart_and_issued", async () => {
    const cn = "der-" + RUN + ".acme.example";
    await freshForm(CA.issuing);
    const csr = makeCsr(cn);
    const der = csr.path.replace(/\.csr$/, ".der");
    execFileSync("openssl", ["req", "-in", csr.path, "-outform", "DER", "-out", der]);
    await page.setInputFiles("#csr_file", der);
    await page.waitForFunction((want) => document.getElementById("common_name").value === want, cn);
    eq(await page.inputValue("#csr_data"), "", "text box left empty for a DER file");
    assert((await page.textContent("#csr_data-hint")).includes("DER file"), "DER file not named in the hint");
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/csr/process") && r.request().method() === "POST"),
      page.click("#submit"),
    ]);
    const sent = res.request();
    assert((sent.headers()["content-type"] || "").startsWith("multipart/form-data"),
      "submitted as " + sent.headers()["content-type"]);
    eq(res.status(), 201, "POST /csr/process status (" + (await res.text()).slice(0, 300) + ")");
    await page.waitForFunction(() => /^(Issued|Failed|Rejected|Expired)/.test(document.getElementById("status").textContent),
      null, { timeout: ISSUE_TIMEOUT_MS });
    const status = await page.textContent("#status");
    assert(status.startsWith("Issued"), "final status: " + status);
    const file = join(work, "der-issued.crt");
    writeFileSync(file, await page.inputValue("#cert-pem"));
    eq(certCn(file), cn, "CN of the certificate");
    eq(pubkey(["x509", "-in", file]), pubkey(["req", "-in", csr.path]), "certificate key = CSR key");
    await shot("der-issued");
    // Typing into the text box drops the file: the text is what is sent then.
    await page.fill("#csr_data", csr.pem);
    await page.waitForFunction(() => !document.getElementById("csr_data-hint").textContent.includes("DER file") &&
      document.getElementById("csr_data-hint").textContent !== "");
  });

  await test("upload_bad_csr_error_next_to_csr_field", async () => {
    await freshForm(CA.issuing);
    await page.fill("#csr_data", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
    await page.waitForFunction(() => document.getElementById("csr_data-error").textContent !== "");
    eq(await page.getAttribute("#csr_data", "aria-invalid"), "true", "CSR field marked invalid");
  });

  await test("upload_happy_path_issued_and_downloaded", async () => {
    const cn = "web-" + RUN + ".acme.example";
    await freshForm(CA.issuing);
    const csr = makeCsr(cn);
    await pasteCsr(csr.pem, cn);
    await page.fill("#validity_days", "30");
    // One call: the submit asks to wait (Prefer: wait) and its 201 carries the certificate; no poll.
    let polls = 0;
    const countPolls = (r) => { if (r.url().includes("/csr/requests/")) polls++; };
    page.on("request", countPolls);
    const res = await submit();
    eq(res.status(), 201, "POST /csr/process status (" + (await res.text()).slice(0, 300) + ")");
    assert(/^wait=[1-9][0-9]*$/.test(res.request().headers()["prefer"] || ""),
      "Prefer header of the submit: " + res.request().headers()["prefer"]);
    eq(res.headers()["preference-applied"], res.request().headers()["prefer"], "Preference-Applied");
    await page.waitForFunction(() => /^(Issued|Failed|Rejected|Expired)/.test(document.getElementById("status").textContent),
      null, { timeout: ISSUE_TIMEOUT_MS });
    const status = await page.textContent("#status");
    assert(status.startsWith("Issued"), "final status: " + status);
    page.off("request", countPolls);
    eq(polls, 0, "GET /csr/requests calls after a 201");
    await shot("issued");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-cert")]);
    eq(dl.suggestedFilename(), cn + ".crt", "download file name");
    const file = join(work, "downloaded.crt");
    await dl.saveAs(file);
    const text = readFileSync(file, "utf8");
    eq(pemCount(text), 1, "certificates in the download");
    eq(certCn(file), cn, "CN of the downloaded certificate");
    eq(pubkey(["x509", "-in", file]), pubkey(["req", "-in", csr.path]), "certificate key = CSR key");
    const [dc] = await Promise.all([page.waitForEvent("download"), page.click("#download-chain")]);
    eq(dc.suggestedFilename(), cn + "-chain.crt", "chain file name");
    const chainFile = join(work, "chain.crt");
    await dc.saveAs(chainFile);
    assert(pemCount(readFileSync(chainFile, "utf8")) >= 1, "chain download holds no certificate");
    // The certificate verifies against the chain (intermediate, then root as trust anchor).
    const chain = readFileSync(chainFile, "utf8").split(/(?<=-----END CERTIFICATE-----\n?)/).filter((s) => s.includes("BEGIN"));
    writeFileSync(join(work, "root.pem"), chain[chain.length - 1]);
    writeFileSync(join(work, "untrusted.pem"), chain.slice(0, -1).join("") || chain[0]);
    execFileSync("openssl", ["verify", "-CAfile", join(work, "root.pem"), "-untrusted", join(work, "untrusted.pem"), file],
      { stdio: ["ignore", "pipe", "pipe"] });
  });

  await test("upload_cn_mismatch_shown_next_to_common_name", async () => {
    const cn = "mismatch-" + RUN + ".acme.example";
    await freshForm(CA.issuing);
    await pasteCsr(makeCsr(cn).pem, cn);
    await page.fill("#common_name", "other-" + RUN + ".acme.example");
    const res = await submit();
    eq(res.status(), 422, "POST /csr/process status");
    await page.waitForFunction(() => document.getElementById("common_name-error").textContent !== "");
    eq(await page.getAttribute("#common_name", "aria-invalid"), "true", "common name marked invalid");
    assert(await page.isHidden("#result"), "a result shown for a refused request");
    const body = await res.json();
    assert((body.violations || [body.error]).some((v) => v.field === "common_name"),
      "API answer names no common_name violation: " + JSON.stringify(body));
    await shot("cn-mismatch");
  });

  await test("upload_approval_ca_without_password_pending", async () => {
    const cn = "pending-" + RUN + ".acme.example";
    await freshForm(CA.approval);
    assert(await page.isVisible("#approval_password"), "approval password field hidden for an approval CA");
    await pasteCsr(makeCsr(cn).pem, cn);
    const t0 = Date.now();
    const res = await submit();
    // Waiting for an administrator: answered at once although the submit asked to wait.
    eq(res.status(), 202, "POST /csr/process status (" + (await res.text()).slice(0, 300) + ")");
    assert(Date.now() - t0 < 5000, "pending answer took " + (Date.now() - t0) + " ms");
    eq(res.headers()["preference-applied"], undefined, "Preference-Applied on a pending answer");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Pending approval"));
    assert(await page.isHidden("#downloads"), "downloads offered for a pending request");
    await shot("pending");
  });

  await test("upload_approval_ca_with_password_issued", async () => {
    const cn = "approved-" + RUN + ".acme.example";
    await freshForm(CA.approval);
    await pasteCsr(makeCsr(cn).pem, cn);
    await page.fill("#approval_password", creds.approval_password);
    const res = await submit();
    eq(res.status(), 202, "POST /csr/process status (" + (await res.text()).slice(0, 300) + ")");
    // Pending first: the approver checks the password, then grants at once.
    await page.waitForFunction(() => /^(Issued|Failed|Rejected|Expired)/.test(document.getElementById("status").textContent),
      null, { timeout: ISSUE_TIMEOUT_MS });
    const status = await page.textContent("#status");
    assert(status.startsWith("Issued"), "final status: " + status);
    assert(await page.isVisible("#download-cert"), "no certificate download");
  });

  await test("upload_approval_field_hidden_for_plain_ca", async () => {
    await freshForm(CA.issuing);
    assert(await page.isHidden("#approval_password"), "approval password shown for a CA without approval");
  });

  await test("upload_csrf_missing_or_wrong_token_403", async () => {
    const results = await page.evaluate(async () => {
      const body = JSON.stringify({ csr_data: "x", common_name: "x", validity_days: 1 });
      const out = [];
      for (const h of [{}, { "X-CSRF-Token": "0".repeat(64) }]) {
        for (const url of ["/csr/process", "/csr/upload/inspect"]) {
          const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...h }, body });
          const j = await r.json().catch(() => null);
          out.push({ url, token: Object.keys(h).length > 0, status: r.status, code: j && j.error && j.error.code });
        }
      }
      return out;
    });
    for (const r of results) {
      eq(r.status, 403, `${r.url} ${r.token ? "wrong" : "missing"} token status`);
      eq(r.code, "csrf_failed", `${r.url} ${r.token ? "wrong" : "missing"} token code`);
    }
    // Logout is a state change too; refused without the token, and the session lives on.
    const out = await page.evaluate(async () => {
      const r = await fetch("/csr/upload/logout", { method: "POST", body: new URLSearchParams({ csrf_token: "x" }), redirect: "manual" });
      const after = await fetch("/cas");
      return { status: r.status, after: after.status };
    });
    eq(out.status, 403, "logout without the CSRF token");
    eq(out.after, 200, "GET /cas after the refused logout");
  });

  await test("upload_login_from_other_origin_refused", async () => {
    const res = await fetch(PAGE + "/login", {
      method: "POST", redirect: "manual",
      headers: { Origin: "http://attacker.example", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ api_key: ALICE }),
    });
    eq(res.status, 403, "login posted from another origin");
    eq(res.headers.get("set-cookie"), null, "cookie set for a cross-origin login");
  });

  await test("upload_logout_ends_session", async () => {
    const before = await sessionCookie();
    assert(before !== undefined, "not signed in before logout");
    await page.goto(PAGE);
    await Promise.all([page.waitForURL(PAGE), page.click("#logout")]);
    eq(await state(), "login", "page state after logout");
    assert((await sessionCookie()) === undefined, "cookie still set after logout");
    // The old token is dead on the server too, not only forgotten by the browser.
    const res = await fetch(PAGE, { headers: { Cookie: "pki_session=" + before.value } });
    assert((await res.text()).includes('data-state="login"'), "old session token still signed in");
    const api = await fetch(GATEWAY + "/cas", { headers: { Cookie: "pki_session=" + before.value } });
    eq(api.status, 401, "GET /cas with the old session token");
    await shot("logged-out");
  });

  await test("upload_no_console_errors", async () => {
    // Refusals the tests provoke (401, 403, 422) are logged by Chromium as failed
    // loads; anything else (script errors, CSP violations, 5xx) counts.
    const real = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
    eq(real.join("\n"), "", "console errors");
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed > 0 ? 1 : 0);
