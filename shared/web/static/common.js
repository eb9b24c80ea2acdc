// Transcept web app: helpers shared by every page (window.T).
// All text from the server goes into the page through textContent.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("config").textContent || "{}");
  const params = new URLSearchParams(location.search);
  const share = params.get("share") || "";
  let me = null;

  // withShare adds the page's ?share= token to an API path.
  function withShare(path) {
    if (!share) return path;
    return path + (path.includes("?") ? "&" : "?") + "share=" + encodeURIComponent(share);
  }

  function signinURL() {
    return "/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorOf(resp) {
    let code = "", msg = "";
    try {
      const j = await resp.json();
      if (j && j.error) { code = j.error.code || ""; msg = j.error.message || ""; }
    } catch (_) { /* not JSON */ }
    if (!msg) msg = plainStatus(resp.status);
    return new APIError(resp.status, code, msg);
  }

  function plainStatus(s) {
    if (s === 0) return "The server could not be reached. Check your connection and try again.";
    if (s === 401) return "Please sign in.";
    if (s === 403) return "You are not allowed to do that.";
    if (s === 404) return "Not found.";
    if (s === 413) return "The file is too large for this server.";
    if (s === 429) return "Too many requests: wait a moment and try again.";
    if (s >= 500) return "The server had a problem (" + s + "). Try again in a moment.";
    return "The request failed (" + s + ").";
  }

  // api calls the HTTP API: JSON in and out, the share token on GETs, the
  // CSRF header on state-changing requests, and a 401 sends the person to
  // the sign-in page (unless opts.noRedirect).
  async function api(path, opts) {
    opts = opts || {};
    const method = opts.method || "GET";
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    let body = opts.body;
    if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET" && method !== "HEAD" && cfg.auth) {
      const m = await whoami();
      if (m && m.csrf_token) headers["X-CSRF-Token"] = m.csrf_token;
    }
    let resp;
    try {
      resp = await fetch(method === "GET" || method === "HEAD" ? withShare(path) : path,
        { method, headers, body, credentials: "same-origin", signal: opts.signal });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new APIError(0, "network", plainStatus(0));
    }
    if (resp.status === 401 && !opts.noRedirect && !share) {
      location.assign(signinURL());
      throw new APIError(401, "unauthenticated", "Please sign in.");
    }
    if (!resp.ok) throw await errorOf(resp);
    if (opts.raw) return resp;
    if (resp.status === 204) return null;
    const ct = resp.headers.get("Content-Type") || "";
    return ct.includes("json") ? resp.json() : resp.text();
  }

  // whoami is GET /auth/me, once per page (null when not signed in).
  async function whoami() {
    if (me !== null) return me;
    if (share) return (me = {});
    try {
      const r = await fetch("/auth/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
      me = r.ok ? await r.json() : {};
    } catch (_) { me = {}; }
    return me;
  }

  // el builds an element: el("a", {href: "/", class: "x"}, "text", child...).
  function el(tag, attrs) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : String(v));
    }
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      n.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return n;
  }

  // clock renders seconds as m:ss or h:mm:ss.
  function clock(sec) {
    if (!(sec >= 0)) return "--:--";
    sec = Math.floor(sec);
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const pad = (x) => String(x).padStart(2, "0");
    return h > 0 ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }

  function bytes(n) {
    if (n < 1024) return n + " bytes";
    const u = ["KB", "MB", "GB", "TB"];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return (n >= 10 ? Math.round(n) : n.toFixed(1)) + " " + u[i];
  }

  function date(s) {
    if (!s) return "";
    const d = new Date(s);
    if (isNaN(d)) return "";
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function notice(msg) {
    const n = document.getElementById("notice");
    if (!n) return;
    n.textContent = msg || "";
    n.hidden = !msg;
  }

  // activate makes a non-button element act like one: click, Enter, Space.
  function activate(node, fn) {
    node.setAttribute("role", "button");
    node.tabIndex = 0;
    node.addEventListener("click", fn);
    node.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fn(e); }
    });
  }

  // sse reads a server-sent-event stream from a fetch response, calling
  // on(event, data) for each event.
  async function sse(resp, on) {
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let ev = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) ev = line.slice(6).trim();
          else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).replace(/^ /, "");
        }
        let parsed = data;
        try { parsed = JSON.parse(data); } catch (_) { /* plain text */ }
        on(ev, parsed);
      }
    }
  }

  // watch follows a lecture's status over GET /lectures/{id}/events,
  // falling back to polling; it calls fn(status) until ready or failed.
  function watch(id, fn) {
    let stopped = false, es = null;
    const final = (l) => l && (l.status === "ready" || l.status === "failed");
    const poll = async () => {
      while (!stopped) {
        try {
          const l = await api("/lectures/" + encodeURIComponent(id));
          fn(l);
          if (final(l)) return;
        } catch (e) { if (e.status === 404 || e.status === 403) return; }
        await new Promise((r) => setTimeout(r, 2000));
      }
    };
    if (window.EventSource) {
      es = new EventSource(withShare("/lectures/" + encodeURIComponent(id) + "/events"));
      es.addEventListener("status", (e) => {
        let l;
        try { l = JSON.parse(e.data); } catch (_) { return; }
        fn(l);
        if (final(l)) { es.close(); stopped = true; }
      });
      es.onerror = () => {
        if (stopped) return;
        es.close();
        poll();
      };
    } else {
      poll();
    }
    return () => { stopped = true; if (es) es.close(); };
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type: type || "text/plain" }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // The navigation bar: who is signed in, account and admin links.
  async function nav() {
    if (!cfg.auth || share) return;
    const m = await whoami();
    const signedIn = m && m.user;
    if (!signedIn && document.body.dataset.page !== "signin") {
      location.assign(signinURL()); // every page but sign-in needs an account
      return;
    }
    const who = document.getElementById("who");
    if (signedIn) {
      who.textContent = m.user.email || "";
      document.getElementById("nav-account").hidden = false;
      document.getElementById("nav-admin").hidden = !m.admin;
      const out = document.getElementById("nav-signout");
      out.hidden = false;
      out.addEventListener("click", async () => {
        try { await api("/auth/signout", { method: "POST", noRedirect: true }); } catch (_) { /* signed out anyway */ }
        location.assign("/signin");
      });
    } else if (document.body.dataset.page !== "signin") {
      document.getElementById("nav-signin").hidden = false;
    }
  }

  window.T = { cfg, share, api, whoami, el, clock, bytes, date, notice, activate, sse, watch, withShare, download, signinURL, plainStatus, errorOf, APIError };
  document.addEventListener("DOMContentLoaded", nav);
})();
