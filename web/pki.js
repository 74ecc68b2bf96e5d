/* Shared functions of the browser pages: API calls with the CSRF token, error display, downloads. */
"use strict";

const PKI = (() => {
  const csrf = () => {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };

  /* Calls the API with the session cookie (body: an object as JSON, or FormData); unsafe methods carry X-CSRF-Token. extra: more headers. */
  async function api(method, url, body, extra) {
    const headers = { Accept: "application/json", ...(extra || {}) };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
    if (body instanceof FormData) {
      init.body = body; /* multipart/form-data: the browser writes the boundary */
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      return { status: 0, data: { error: { code: "network", message: "The server could not be reached: " + e.message } }, headers: new Headers() };
    }
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { code: "bad_response", message: text.slice(0, 300) } }; }
    return { status: res.status, data, headers: res.headers };
  }

  /* Removes every error message and aria-invalid mark inside form. */
  function clearErrors(form) {
    form.querySelectorAll(".field-error, .form-error").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  /*
   * Shows an API error answer {error: {code, message, field}, violations: [...]}:
   * each violation next to the input it names (element id FIELD-error), the rest
   * in the form's .form-error. Returns the first input marked invalid, if any.
   */
  function showErrors(form, data) {
    const general = form.querySelector(".form-error");
    const items = [];
    if (data && Array.isArray(data.violations) && data.violations.length > 0) items.push(...data.violations);
    else if (data && data.error) items.push(data.error);
    else items.push({ message: "Unexpected answer from the server." });
    let first = null;
    const seen = new Set();
    for (const v of items) {
      const msg = v.message || v.code || "invalid";
      const slot = v.field ? form.querySelector("#" + CSS.escape(v.field) + "-error") : null;
      const target = slot || general;
      const key = (v.field || "") + "\u0000" + msg;
      if (seen.has(key)) continue;
      seen.add(key);
      target.textContent = target.textContent ? target.textContent + "\n" + msg : msg;
      const input = v.field ? form.querySelector("#" + CSS.escape(v.field)) : null;
      if (slot && input) {
        input.setAttribute("aria-invalid", "true");
        if (!first) first = input;
      }
    }
    return first;
  }

  /* Points link at a download of text as file name (replacing an earlier Blob URL). */
  function download(link, name, text, type) {
    if (link.dataset.url) URL.revokeObjectURL(link.dataset.url);
    const url = URL.createObjectURL(new Blob([text], { type: type || "application/x-pem-file" }));
    link.dataset.url = url;
    link.href = url;
    link.download = name;
  }

  /* A random hex string of n bytes. */
  function randomHex(n) {
    const b = new Uint8Array(n);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  return { csrf, api, clearErrors, showErrors, download, randomHex };
})();
