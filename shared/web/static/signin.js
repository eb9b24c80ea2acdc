// Sign-in page: password form (JSON to /auth/signin) and the identity
// provider's button where configured.
"use strict";
(function () {
  const { cfg } = window.T;
  function safeNext(n) {
    return n && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/\\") ? n : "/";
  }
  document.addEventListener("DOMContentLoaded", () => {
    const next = safeNext(new URLSearchParams(location.search).get("next"));
    if (!cfg.auth) { document.getElementById("off").hidden = false; return; }
    const form = document.getElementById("signin");
    document.getElementById("next").value = next;
    if (cfg.password) form.hidden = false;
    if (cfg.oidc) {
      document.getElementById("oidc-wrap").hidden = false;
      document.getElementById("oidc").href = "/auth/oidc/start?next=" + encodeURIComponent(next);
    }
    const err = document.getElementById("signin-error");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.hidden = true;
      const body = JSON.stringify({ email: form.email.value.trim(), password: form.password.value, next });
      let resp;
      try {
        resp = await fetch("/auth/signin", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body, credentials: "same-origin" });
      } catch (_) {
        err.textContent = window.T.plainStatus(0);
        err.hidden = false;
        return;
      }
      if (resp.ok) { location.assign(next); return; }
      const e2 = await window.T.errorOf(resp);
      err.textContent = resp.status === 401 ? "The e-mail or password is wrong." : e2.message;
      err.hidden = false;
      form.password.focus();
    });
  });
})();
