// Admin page: users with their usage against quotas.
"use strict";
(function () {
  const { api, el, date, notice } = window.T;
  function num(v, lim) {
    const s = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : "0";
    return lim ? s + " / " + lim : s;
  }
  document.addEventListener("DOMContentLoaded", async () => {
    const status = document.getElementById("admin-status");
    try {
      const r = await api("/admin/users");
      const tb = document.getElementById("users");
      for (const x of r.users || []) {
        const u = x.user || {}, g = x.usage || {}, lim = g.limits || {};
        tb.append(el("tr", null,
          el("td", { text: u.email || u.id }),
          el("td", { text: (u.role || "") + (u.disabled ? " (disabled)" : "") }),
          el("td", { text: date(u.created_at) }),
          el("td", { text: num(g.media_hours_today, lim.media_hours_per_day) }),
          el("td", { text: num(g.uploads_this_hour, lim.uploads_per_hour) }),
          el("td", { text: num(g.jobs_running, lim.jobs) }),
          el("td", { text: num(g.questions_this_minute, lim.questions_per_minute) })));
      }
      status.textContent = (r.users || []).length + " users";
    } catch (e) {
      status.textContent = "";
      notice(e.status === 403 ? "This page is for admins." : "The users could not be loaded: " + e.message);
    }
  });
})();
