/* The approval dashboard: live queue (polled), detail of one request, approve and reject. */
"use strict";

(() => {
  if (document.body.dataset.state !== "app") {
    const key = document.getElementById("api_key");
    if (key) key.focus();
    return;
  }
  const REFRESH_MS = 1500; /* the queue is re-read this often */
  const PAGE = 50; /* rows per page */
  const $ = (id) => document.getElementById(id);
  const state = { ca: "", tenant: "", requester: "", offset: 0, selected: null, timer: null, busy: false };

  const fmtTime = (s) => {
    if (!s) return "—";
    const d = typeof s === "number" ? new Date(s * 1000) : new Date(s);
    return isNaN(d) ? String(s) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  };

  /* A table cell with text (never HTML). */
  const cell = (tr, text) => {
    const td = document.createElement("td");
    td.textContent = text == null ? "—" : String(text);
    tr.appendChild(td);
    return td;
  };

  function query() {
    const q = new URLSearchParams();
    if (state.ca) q.set("ca", state.ca);
    if (state.tenant) q.set("tenant", state.tenant);
    if (state.requester) q.set("requester", state.requester);
    q.set("limit", String(PAGE));
    q.set("offset", String(state.offset));
    return q.toString();
  }

  function renderCounts(counts) {
    const ul = $("counts");
    const sel = $("f-ca");
    ul.replaceChildren();
    const ids = Object.keys(counts || {}).sort();
    for (const ca of ids) {
      const li = document.createElement("li");
      li.textContent = ca + ": " + counts[ca];
      li.dataset.ca = ca;
      ul.appendChild(li);
    }
    if (ids.length === 0) {
      const li = document.createElement("li");
      li.textContent = "No pending requests in your scope";
      ul.appendChild(li);
    }
    /* Keep the CA filter's options in step without losing the choice. */
    const have = new Set(Array.from(sel.options).map((o) => o.value));
    for (const ca of ids) {
      if (!have.has(ca)) {
        const o = document.createElement("option");
        o.value = ca;
        o.textContent = ca;
        sel.appendChild(o);
      }
    }
  }

  function renderQueue(data) {
    const body = $("queue-body");
    body.replaceChildren();
    for (const it of data.items) {
      const tr = document.createElement("tr");
      tr.dataset.id = it.request_id;
      if (it.request_id === state.selected) tr.className = "selected";
      cell(tr, fmtTime(it.submitted_at));
      cell(tr, it.ca_id);
      cell(tr, it.tenant);
      cell(tr, it.requester);
      cell(tr, it.common_name);
      cell(tr, it.approvals.length + " of " + it.approvals_required);
      cell(tr, fmtTime(it.expires_at));
      const td = document.createElement("td");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary review";
      b.textContent = "Review";
      b.setAttribute("aria-label", "Review request for " + (it.common_name || it.request_id));
      b.addEventListener("click", () => openDetail(it.request_id));
      td.appendChild(b);
      tr.appendChild(td);
      body.appendChild(tr);
    }
    $("queue-empty").hidden = data.items.length > 0;
    $("total").textContent = "(" + data.total + ")";
    const pages = Math.max(1, Math.ceil(data.total / PAGE));
    $("page").textContent = "Page " + (Math.floor(state.offset / PAGE) + 1) + " of " + pages;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = data.next_offset == null;
  }

  function renderRecent(data) {
    const body = $("recent-body");
    body.replaceChildren();
    for (const d of data.items) {
      const tr = document.createElement("tr");
      cell(tr, fmtTime(d.time));
      cell(tr, d.decision);
      const by = (d.approvals && d.approvals.length > 0)
        ? d.approvals.map((a) => a.admin).join(", ")
        : d.actor;
      cell(tr, by);
      cell(tr, d.ca_id);
      cell(tr, d.requester);
      cell(tr, d.common_name);
      cell(tr, d.reason || "");
      body.appendChild(tr);
    }
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      const [q, r] = await Promise.all([
        PKI.api("GET", "/admin/api/pending?" + query()),
        PKI.api("GET", "/admin/api/decisions?limit=10"),
      ]);
      if (q.status === 401 || r.status === 401) {
        window.location.assign("/admin");
        return;
      }
      if (q.status !== 200) {
        $("queue-error").textContent = (q.data && q.data.error && q.data.error.message) || "The queue could not be read.";
        return;
      }
      $("queue-error").textContent = "";
      renderCounts(q.data.counts_by_ca);
      renderQueue(q.data);
      if (r.status === 200) renderRecent(r.data);
      $("live").textContent = "Updated " + new Date().toLocaleTimeString();
    } finally {
      state.busy = false;
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  function addField(dl, name, value) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value == null || value === "" ? "—" : String(value);
    dl.append(dt, dd);
  }

  function setMsg(text, ok) {
    const m = $("decision-msg");
    m.textContent = text;
    m.className = ok ? "ok" : "err";
  }

  function setDecisionEnabled(on) {
    $("approve").disabled = !on;
    $("reject").disabled = !on;
    $("reason").disabled = !on;
  }

  async function openDetail(id) {
    const res = await PKI.api("GET", "/admin/api/pending/" + encodeURIComponent(id));
    const sec = $("detail");
    state.selected = id;
    setMsg("", true);
    $("reason-error").textContent = "";
    $("reason").removeAttribute("aria-invalid");
    $("reason").value = "";
    $("d-id").textContent = id;
    const dl = $("d-fields");
    dl.replaceChildren();
    $("d-approvals").replaceChildren();
    $("d-pem").textContent = "";
    sec.hidden = false;
    if (res.status !== 200) {
      setDecisionEnabled(false);
      setMsg((res.data && res.data.error && res.data.error.message) || "The request could not be read.", false);
      sec.focus();
      return;
    }
    const p = res.data;
    const c = p.csr || {};
    addField(dl, "Subject", c.subject);
    addField(dl, "Subject to be issued", c.issued_subject);
    (c.subject_warnings || []).forEach((w) => addField(dl, "Subject warning", w.message));
    addField(dl, "Subject alternative names", (c.sans || []).join(", "));
    addField(dl, "Key", c.key_type ? c.key_type + " " + c.key_size + (c.curve ? " (" + c.curve + ")" : "") : null);
    addField(dl, "Signature algorithm", c.signature_algorithm);
    addField(dl, "Extensions in the CSR", (c.requested_extensions || []).join(", ") || "none");
    addField(dl, "Extensions requested", ((p.requested && p.requested.extensions) || []).join(", ") || "CA default");
    addField(dl, "Validity requested", p.validity_days + " days");
    addField(dl, "CA", p.ca_id);
    addField(dl, "Tenant", p.tenant);
    addField(dl, "Requester", p.requester + (p.email ? " <" + p.email + ">" : ""));
    addField(dl, "Client IP", p.client_ip);
    addField(dl, "Submitted", fmtTime(p.submitted_at));
    addField(dl, "Expires", fmtTime(p.expires_at));
    addField(dl, "Why approval is needed", p.reason);
    addField(dl, "Approvals", p.approvals.length + " of " + p.approvals_required);
    if (p.csr_error) addField(dl, "CSR problem", p.csr_error);
    const ul = $("d-approvals");
    if (p.approvals.length === 0) {
      const li = document.createElement("li");
      li.textContent = "None yet";
      ul.appendChild(li);
    }
    for (const a of p.approvals) {
      const li = document.createElement("li");
      li.textContent = a.admin + " at " + fmtTime(a.time);
      ul.appendChild(li);
    }
    $("d-pem").textContent = p.csr_pem || "";
    setDecisionEnabled(true);
    sec.focus();
    refresh();
  }

  function closeDetail() {
    $("detail").hidden = true;
    state.selected = null;
    refresh();
  }

  async function approve() {
    const id = state.selected;
    if (!id) return;
    setDecisionEnabled(false);
    const res = await PKI.api("POST", "/admin/api/pending/" + encodeURIComponent(id) + "/approve", {});
    if (res.status === 200) {
      const d = res.data;
      if (d.status === "pending_approval") {
        setMsg("Approval recorded: " + d.approvals.length + " of " + d.approvals_required + "; another administrator must approve too.", true);
      } else {
        setMsg("Approved; the request is " + d.status + " for issuance.", true);
      }
    } else {
      setMsg((res.data && res.data.error && res.data.error.message) || "Approval failed.", false);
      if (res.status !== 409 && res.status !== 403) setDecisionEnabled(true);
    }
    refresh();
  }

  async function reject(ev) {
    ev.preventDefault();
    const id = state.selected;
    const reason = $("reason").value.trim();
    $("reason-error").textContent = "";
    $("reason").removeAttribute("aria-invalid");
    if (!id) return;
    if (!reason) {
      $("reason-error").textContent = "Reason: required; it is shown to the requester.";
      $("reason").setAttribute("aria-invalid", "true");
      $("reason").focus();
      return;
    }
    setDecisionEnabled(false);
    const res = await PKI.api("POST", "/admin/api/pending/" + encodeURIComponent(id) + "/reject", { reason });
    if (res.status === 200) {
      setMsg("Rejected. The requester sees: " + res.data.reason, true);
    } else {
      setMsg((res.data && res.data.error && res.data.error.message) || "Rejection failed.", false);
      if (res.status !== 409 && res.status !== 403) setDecisionEnabled(true);
    }
    refresh();
  }

  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.ca = $("f-ca").value;
    state.tenant = $("f-tenant").value.trim();
    state.requester = $("f-requester").value.trim();
    state.offset = 0;
    refresh();
  });
  $("filters").addEventListener("reset", () => {
    state.ca = state.tenant = state.requester = "";
    state.offset = 0;
    setTimeout(refresh, 0);
  });
  $("f-ca").addEventListener("change", () => {
    state.ca = $("f-ca").value;
    state.offset = 0;
    refresh();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    refresh();
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE;
    refresh();
  });
  $("approve").addEventListener("click", approve);
  $("reject-form").addEventListener("submit", reject);
  $("close-detail").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("detail").hidden) closeDetail();
  });

  refresh().then(schedule);
})();
