// Account page: who you are, usage, API keys (create once-shown, revoke).
"use strict";
(function () {
  const { api, el, date, notice, cfg } = window.T;

  async function keys() {
    const tb = document.getElementById("keys");
    const r = await api("/keys");
    tb.replaceChildren();
    for (const k of r.keys || []) {
      const revoked = k.revoked_at;
      const btn = revoked ? el("span", { class: "muted", text: "revoked" })
        : el("button", { class: "btn danger", type: "button", "aria-label": "Revoke key " + k.name, text: "Revoke", onclick: () => revoke(k) });
      tb.append(el("tr", null,
        el("td", { text: k.name }),
        el("td", null, el("code", { text: k.prefix })),
        el("td", { text: date(k.created_at) }),
        el("td", { text: k.expires_at ? date(k.expires_at) : "never" }),
        el("td", { text: k.last_used_at ? date(k.last_used_at) : "—" }),
        el("td", null, btn)));
    }
    if (!tb.children.length) tb.append(el("tr", null, el("td", { colspan: 6, class: "muted", text: "No keys yet." })));
  }

  async function revoke(k) {
    if (!confirm("Revoke the key “" + k.name + "”? Scripts using it stop working.")) return;
    try { await api("/keys/" + encodeURIComponent(k.id), { method: "DELETE" }); await keys(); }
    catch (e) { notice("The key could not be revoked: " + e.message); }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const meP = document.getElementById("me");
    if (!cfg.auth) {
      meP.textContent = "Sign-in is off on this server (single-user mode): there are no accounts or API keys.";
      document.getElementById("key-form").hidden = true;
      return;
    }
    try {
      const m = await api("/auth/me");
      meP.textContent = m.user ? m.user.email + (m.admin ? " (admin)" : "") : "Signed in";
      const g = await api("/usage");
      const dl = document.getElementById("usage");
      const lim = g.limits || {};
      const add = (k, v, l) => dl.append(el("dt", { text: k }), el("dd", { text: String(typeof v === "number" ? +v.toFixed(2) : v) + (l ? " of " + l : "") }));
      add("Media hours today", g.media_hours_today || 0, lim.media_hours_per_day);
      add("Uploads this hour", g.uploads_this_hour || 0, lim.uploads_per_hour);
      add("Jobs running", g.jobs_running || 0, lim.jobs);
      await keys();
    } catch (e) {
      notice("Your account could not be loaded: " + e.message);
    }
    const form = document.getElementById("key-form");
    const err = document.getElementById("key-error");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.hidden = true;
      const name = document.getElementById("key-name").value.trim();
      if (!name) { err.textContent = "Give the key a name."; err.hidden = false; return; }
      try {
        const k = await api("/keys", { method: "POST", body: { name, expires_in: document.getElementById("key-exp").value } });
        const box = document.getElementById("key-new");
        box.replaceChildren(el("p", { text: "Your new key (shown once: copy it now):" }), el("code", { text: k.key }));
        box.hidden = false;
        form.reset();
        await keys();
      } catch (e2) {
        err.textContent = e2.message;
        err.hidden = false;
      }
    });
  });
})();
