/* The certificate request page: CA list, CSR intake, submit, progress, result. */
"use strict";

(() => {
  if (document.body.dataset.state !== "app") {
    const key = document.getElementById("api_key");
    if (key) key.focus();
    return;
  }

  const $ = (id) => document.getElementById(id);
  const form = $("csr-form");
  const caSelect = $("ca_id");
  const csrText = $("csr_data");
  const cnInput = $("common_name");
  const daysInput = $("validity_days");
  const pwField = $("approval-field");
  const pwInput = $("approval_password");
  const submitBtn = $("submit");
  const result = $("result");
  const statusEl = $("status");
  const details = $("details");
  const POLL_WAIT_S = 25;
  const SUBMIT_WAIT_S = 20;  /* Prefer: wait on the submit: the certificate in the same answer */
  const RETRY_MS = 2000;
  const INSPECT_DELAY_MS = 300;
  const TERMINAL = new Set(["issued", "failed", "rejected", "expired"]);
  let cnAuto = "";       /* the common name last filled in from a CSR */
  let csrFile = null;    /* a binary (DER) CSR file, sent as it is instead of the text */
  const csrPlaceholder = csrText.placeholder;
  let inspectTimer = null;
  let inspectSeq = 0;
  let pollSeq = 0;

  const sessionGone = (r) => {
    if (r.status === 401) { location.reload(); return true; }
    return false;
  };

  function fieldError(field, msg) {
    const slot = $(field + "-error");
    slot.textContent = msg;
    const input = $(field);
    if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }

  async function loadCAs() {
    const r = await PKI.api("GET", "/cas");
    if (sessionGone(r)) return;
    caSelect.textContent = "";
    if (r.status !== 200 || !r.data || !Array.isArray(r.data.cas)) {
      caSelect.append(new Option("(not available)", ""));
      fieldError("ca_id", (r.data && r.data.error && r.data.error.message) || "Could not load the CA list.");
      return;
    }
    if (r.data.cas.length === 0) {
      caSelect.append(new Option("(none)", ""));
      fieldError("ca_id", "No certificate authority is available to you.");
      return;
    }
    for (const ca of r.data.cas) caSelect.append(new Option(ca.name + " (" + ca.id + ")", ca.id));
    await loadTemplate();
  }

  async function loadTemplate() {
    const id = caSelect.value;
    fieldError("ca_id", "");
    $("ca_id-hint").textContent = "";
    pwField.hidden = true;
    if (!id) return;
    const r = await PKI.api("GET", "/csr/ca-template/" + encodeURIComponent(id));
    if (sessionGone(r) || id !== caSelect.value) return;
    if (r.status !== 200) {
      fieldError("ca_id", (r.data && r.data.error && r.data.error.message) || "Could not load the CA's template.");
      return;
    }
    const t = r.data;
    const parts = [];
    if (t.allowed_key_types && t.allowed_key_types.length) parts.push("keys: " + t.allowed_key_types.join(", "));
    if (t.allowed_key_sizes && t.allowed_key_sizes.length) parts.push("RSA sizes: " + t.allowed_key_sizes.join(", "));
    if (t.allowed_curves && t.allowed_curves.length) parts.push("curves: " + t.allowed_curves.join(", "));
    if (t.requires_manual_approval) parts.push("requires manual approval");
    $("ca_id-hint").textContent = [t.common_name, t.organization].filter(Boolean).join(", ") +
      (parts.length ? " — " + parts.join("; ") : "");
    if (t.max_validity_days) {
      daysInput.max = String(t.max_validity_days);
      $("validity_days-hint").textContent = "At most " + t.max_validity_days + " days for this CA.";
    }
    pwField.hidden = !t.requires_manual_approval;
    if (pwField.hidden) pwInput.value = "";
  }

  /* The CSR field of a request: the DER file when one is chosen, else the text. */
  function csrBody() {
    if (!csrFile) return { csr_data: csrText.value };
    const fd = new FormData();
    fd.append("csr_data", csrFile, csrFile.name);
    return fd;
  }

  /* Asks the server to parse the CSR; fills the common name from its subject. */
  async function inspect() {
    const seq = ++inspectSeq;
    fieldError("csr_data", "");
    $("csr_data-hint").textContent = "";
    if (!csrFile && !csrText.value.trim()) return;
    const r = await PKI.api("POST", "/csr/upload/inspect", csrBody());
    if (sessionGone(r) || seq !== inspectSeq) return;
    if (r.status !== 200) {
      const vs = (r.data && r.data.violations) || [];
      const msgs = vs.length ? vs.map((v) => v.message) : [(r.data && r.data.error && r.data.error.message) || "The CSR could not be read."];
      fieldError("csr_data", msgs.join("\n"));
      return;
    }
    const d = r.data;
    const key = d.key_type + (d.curve ? " " + d.curve : d.key_bits ? " " + d.key_bits : "");
    $("csr_data-hint").textContent = (csrFile ? "DER file " + csrFile.name + " — " : "") +
      "Subject: " + (d.subject || "(empty)") + " — key: " + key +
      (d.sans && d.sans.length ? " — SANs: " + d.sans.join(", ") : "");
    if (d.common_name && (cnInput.value === "" || cnInput.value === cnAuto)) {
      cnInput.value = d.common_name;
      cnAuto = d.common_name;
      fieldError("common_name", "");
    }
  }

  function scheduleInspect() {
    clearTimeout(inspectTimer);
    inspectTimer = setTimeout(inspect, INSPECT_DELAY_MS);
  }

  /* Keeps a DER file to send (null: the text box is what is sent). */
  function keepFile(file, size) {
    csrFile = file;
    csrText.placeholder = file ? "DER file " + file.name + " (" + size + " bytes) will be sent as it is"
      : csrPlaceholder;
  }

  /* A CSR file: text (PEM, base64) into the text box; binary (DER) kept and sent as the file. */
  function readFile(file) {
    const reader = new FileReader();
    reader.onload = () => {
      const bytes = new Uint8Array(reader.result);
      if (bytes.includes(0)) {
        keepFile(file, bytes.length);
        csrText.value = "";
      } else {
        keepFile(null);
        csrText.value = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
      }
      inspect();
    };
    reader.onerror = () => fieldError("csr_data", "Could not read " + file.name + ": " + reader.error);
    reader.readAsArrayBuffer(file);
  }

  const fileName = (cn) => (cn || "certificate").replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");

  function addDetail(name, value) {
    if (value === undefined || value === null || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = Array.isArray(value) ? value.join(", ") : String(value);
    details.append(dt, dd);
  }

  function setStatus(text, cls) {
    statusEl.textContent = text;
    statusEl.className = "status " + (cls || "");
  }

  /* Shows the result box empty: no details, no downloads. */
  function clearResult() {
    result.hidden = false;
    details.textContent = "";
    $("downloads").hidden = true;
    $("cert-pem").hidden = $("cert-pem-label").hidden = true;
  }

  /* Shows one answer of GET /csr/requests/{id}. */
  function render(d) {
    clearResult();
    addDetail("Request", d.request_id);
    addDetail("CA", d.ca_id);
    addDetail("Common name", d.common_name);
    if (d.status !== "issued") addDetail("Subject to be issued", d.subject);
    (d.warnings || []).forEach((w) => addDetail("Warning", w.message));
    switch (d.status) {
      case "issued": {
        setStatus("Issued", "issued");
        addDetail("Serial", d.serial);
        addDetail("Subject", d.subject);
        addDetail("Valid from", d.not_before);
        addDetail("Valid until", d.not_after);
        addDetail("Key", [d.key_type, d.key_size].filter(Boolean).join(" "));
        const name = fileName(d.common_name);
        const cert = d.certificate || "";
        const chain = d.chain || "";
        PKI.download($("download-cert"), name + ".crt", cert);
        PKI.download($("download-chain"), name + "-chain.crt", chain);
        PKI.download($("download-fullchain"), name + "-fullchain.crt", cert + chain);
        $("download-chain").hidden = $("download-fullchain").hidden = chain === "";
        $("downloads").hidden = false;
        $("cert-pem").value = cert;
        $("cert-pem").hidden = $("cert-pem-label").hidden = false;
        break;
      }
      case "pending_approval":
        setStatus("Pending approval: an administrator must approve this request before it is issued. " +
          "This page keeps watching it.", "pending");
        break;
      case "failed":
      case "rejected":
      case "expired": {
        const e = d.error || {};
        setStatus((d.status === "failed" ? "Failed" : d.status === "rejected" ? "Rejected" : "Expired") +
          (e.message ? ": " + e.message : ""), "failed");
        if (d.violations && d.violations.length) PKI.showErrors(form, d);
        break;
      }
      default:
        setStatus("In progress: " + d.status.replace(/_/g, " ") + "…", "");
    }
  }

  async function poll(url, seq) {
    const sep = url.includes("?") ? "&" : "?";
    while (seq === pollSeq) {
      const r = await PKI.api("GET", url + sep + "wait=" + POLL_WAIT_S);
      if (seq !== pollSeq || sessionGone(r)) return;
      if (r.status === 200 && r.data) {
        render(r.data);
        if (TERMINAL.has(r.data.status)) return;
        continue;
      }
      if (r.status >= 400 && r.status < 500) {
        setStatus("Could not read the request: " + ((r.data && r.data.error && r.data.error.message) || r.status), "failed");
        return;
      }
      setStatus("Waiting for the server (" + ((r.data && r.data.error && r.data.error.message) || "HTTP " + r.status) + ")…", "");
      await new Promise((ok) => setTimeout(ok, RETRY_MS));
    }
  }

  async function submit(ev) {
    ev.preventDefault();
    PKI.clearErrors(form);
    pollSeq++;
    const body = csrBody();
    const set = (k, v) => { if (body instanceof FormData) body.append(k, v); else body[k] = v; };
    set("common_name", cnInput.value.trim());
    set("ca_id", caSelect.value);
    const days = daysInput.value.trim();
    set("validity_days", /^[0-9]+$/.test(days) && !csrFile ? Number(days) : days);
    if (!pwField.hidden && pwInput.value !== "") set("approval_password", pwInput.value);
    submitBtn.disabled = true;
    clearResult();
    setStatus("Submitted: waiting up to " + SUBMIT_WAIT_S + " s for the certificate…", "");
    try {
      /* One call: 201 issued, the request's failure, or 202 (pending, or not done yet) and then poll. */
      const r = await PKI.api("POST", "/csr/process", body, { Prefer: "wait=" + SUBMIT_WAIT_S });
      if (sessionGone(r)) return;
      if (!r.data || !r.data.request_id || !r.data.status) {
        result.hidden = true;
        const first = PKI.showErrors(form, r.data);
        if (first) first.focus();
        return;
      }
      render(r.data);
      if (!TERMINAL.has(r.data.status))
        poll(r.data.poll_url || "/csr/requests/" + encodeURIComponent(r.data.request_id), pollSeq);
      result.scrollIntoView({ block: "nearest" });
    } finally {
      submitBtn.disabled = false;
    }
  }

  caSelect.addEventListener("change", loadTemplate);
  csrText.addEventListener("input", () => {
    if (csrFile) { keepFile(null); $("csr_file").value = ""; }
    scheduleInspect();
  });
  $("csr_file").addEventListener("change", (e) => { if (e.target.files.length) readFile(e.target.files[0]); });
  cnInput.addEventListener("input", () => { if (cnInput.value !== cnAuto) cnAuto = ""; });
  form.addEventListener("submit", submit);
  loadCAs();
})();
