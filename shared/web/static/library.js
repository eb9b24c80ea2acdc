// Library page: lectures newest first, paged with the API's cursor,
// searchable (?q=), with live status of the ones still processing.
"use strict";
(function () {
  const { api, el, clock, date, notice, watch } = window.T;
  const PAGE = 20, LIVE = 6;
  let cursor = "", live = 0;
  const q = new URLSearchParams(location.search).get("q") || "";

  function badge(l) {
    return el("span", { class: "badge s-" + l.status, text: statusText(l) });
  }

  function statusText(l) {
    switch (l.status) {
      case "ready": return "ready";
      case "failed": return "failed";
      case "awaiting_upload": return "waiting for upload";
      default: {
        const st = l.stages || {};
        for (const s of ["transcribe", "segment", "summarize", "index"]) {
          const x = st[s];
          if (x && x.status !== "ready") return s + (x.progress ? " " + Math.round(x.progress * 100) + "%" : "…");
        }
        return "processing…";
      }
    }
  }

  function row(l) {
    const b = badge(l);
    const li = el("li", { class: "lecture", "data-id": l.id },
      el("a", { class: "lt", href: "/l/" + encodeURIComponent(l.id), text: l.title || l.id }),
      el("span", { class: "meta" },
        b,
        el("span", { class: "dur", text: l.seconds ? clock(l.seconds) : "" }),
        el("time", { datetime: l.created_at || "", text: date(l.created_at) })),
      l.status === "failed" && l.error ? el("p", { class: "why", text: "Failed" + (l.stage ? " at the " + l.stage + " stage" : "") + ": " + l.error }) : null);
    const show = (s) => {
      b.className = "badge s-" + s.status;
      b.textContent = statusText(s);
      if (s.seconds && !li.querySelector(".dur").textContent) li.querySelector(".dur").textContent = clock(s.seconds);
    };
    if (l.status !== "ready" && l.status !== "failed") {
      if (live < LIVE) {
        live++; // pushed over server-sent events
        watch(l.id, (s) => { show(s); if (s.status === "ready" || s.status === "failed") live--; });
      } else {
        polled.set(l.id, show); // the rest: polled every few seconds
      }
    }
    return li;
  }

  const polled = new Map();
  async function poll() {
    for (const [id, show] of [...polled].slice(0, 20)) {
      try {
        const s = await api("/lectures/" + encodeURIComponent(id));
        show(s);
        if (s.status === "ready" || s.status === "failed") polled.delete(id);
      } catch (e) {
        if (e.status === 404) polled.delete(id);
      }
    }
    setTimeout(poll, 3000);
  }

  async function more() {
    const status = document.getElementById("lib-status");
    const btn = document.getElementById("more");
    btn.disabled = true;
    const u = new URLSearchParams({ limit: String(PAGE) });
    if (q) u.set("q", q);
    if (cursor) u.set("cursor", cursor);
    try {
      const r = await api("/lectures?" + u);
      const list = document.getElementById("lectures");
      for (const l of r.lectures || []) list.append(row(l));
      cursor = r.next || "";
      btn.hidden = !cursor;
      const n = list.children.length;
      status.textContent = n === 0
        ? (q ? "No lecture matches “" + q + "”." : "No lectures yet. Upload a transcript or a recording to start.")
        : (q ? n + " matching “" + q + "”" : n + (cursor ? "+" : "") + (n === 1 ? " lecture" : " lectures"));
    } catch (e) {
      status.textContent = "";
      notice("The library could not be loaded: " + e.message);
    } finally {
      btn.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("q").value = q;
    document.getElementById("more").addEventListener("click", more);
    more();
    setTimeout(poll, 3000);
  });
})();
