// Upload page: a transcript or recording with a real upload progress bar
// (XMLHttpRequest upload progress), then per-stage processing progress
// pushed over GET /lectures/{id}/events; a failure shows the stage and the
// reason, with a retry button.
"use strict";
(function () {
  const { cfg, el, bytes, watch, signinURL } = window.T;
  const STAGES = [["transcribe", "Transcribe"], ["segment", "Segment"], ["summarize", "Summarize"], ["index", "Index"]];
  const MEDIA = /\.(wav|mp3|m4a|aac|ogg|oga|opus|flac|webm|mp4|m4v|mov|mkv|avi|wma|amr|3gp)$/i;
  let file = null, stop = null, failedId = "";

  const $ = (id) => document.getElementById(id);

  function isMedia(f) {
    return /^(audio|video)\//.test(f.type) || MEDIA.test(f.name);
  }

  // check says what is wrong with a file before anything is sent.
  function check(f) {
    if (!f) return "Choose a transcript or a recording first.";
    if (f.size === 0) return "“" + f.name + "” is empty (0 bytes). Choose a transcript or recording with content.";
    if (isMedia(f)) {
      if (cfg.max_media_bytes && f.size > cfg.max_media_bytes)
        return "“" + f.name + "” is " + bytes(f.size) + "; recordings may be at most " + bytes(cfg.max_media_bytes) + " on this server.";
    } else if (cfg.max_upload_bytes && f.size > cfg.max_upload_bytes) {
      return "“" + f.name + "” is " + bytes(f.size) + "; transcripts may be at most " + bytes(cfg.max_upload_bytes) + " on this server.";
    }
    return "";
  }

  function choose(f) {
    file = f || null;
    const err = $("file-error");
    const msg = file ? check(file) : "";
    err.textContent = msg;
    err.hidden = !msg;
    $("chosen").textContent = file ? file.name + " · " + bytes(file.size) + (isMedia(file) ? " · recording" : " · transcript") : "No file chosen";
    if (file && !$("title").value) $("title").value = file.name.replace(/\.[^.]+$/, "");
  }

  function stageRows() {
    const box = $("stages");
    box.replaceChildren();
    for (const [k, name] of STAGES) {
      box.append(el("div", { class: "stage", id: "st-" + k },
        el("span", { class: "stage-name", text: name }),
        el("progress", { max: "100", value: "0", "aria-label": name }),
        el("span", { class: "stage-text", text: "waiting" })));
    }
  }

  function showStatus(l) {
    const st = l.stages || {};
    for (const [k] of STAGES) {
      const row = $("st-" + k), s = st[k];
      if (!row || !s) continue;
      const pct = s.status === "ready" ? 100 : Math.round((s.progress || 0) * 100);
      row.querySelector("progress").value = pct;
      row.dataset.status = s.status;
      row.querySelector(".stage-text").textContent = s.status === "ready" ? "done"
        : s.status === "failed" ? "failed" : (s.status || "waiting") + (pct ? " " + pct + "%" : "");
    }
    if (l.status === "ready") {
      $("result").textContent = "Ready: the transcript, summary and Q&A are available.";
      const open = $("open");
      open.href = "/l/" + encodeURIComponent(l.id);
      open.hidden = false;
      open.focus();
    } else if (l.status === "failed") {
      let stage = "";
      for (const [k, name] of STAGES) if (st[k] && st[k].status === "failed") stage = name;
      const why = (l.error && l.error.message) || (stage && st[stage.toLowerCase()].message) || "no reason was given";
      fail((stage ? "Processing failed at the " + stage.toLowerCase() + " stage: " : "Processing failed: ") + why, l.id);
    } else {
      $("result").textContent = "Processing…";
    }
  }

  function fail(msg, id) {
    failedId = id || "";
    $("discard").hidden = !failedId;
    const f = $("failure");
    f.textContent = msg;
    f.hidden = false;
    $("result").textContent = "";
    $("retry").hidden = false;
    $("send").disabled = false;
  }

  async function csrf() {
    if (!cfg.auth) return "";
    const m = await window.T.whoami();
    return (m && m.csrf_token) || "";
  }

  async function send() {
    const msg = check(file);
    if (msg) {
      $("file-error").textContent = msg;
      $("file-error").hidden = false;
      $("drop").focus();
      return;
    }
    if (stop) stop();
    await discard(); // a retry replaces the failed lecture
    $("send").disabled = true;
    $("progress").hidden = false;
    $("failure").hidden = true;
    $("retry").hidden = true;
    $("discard").hidden = true;
    $("open").hidden = true;
    $("result").textContent = "Uploading…";
    stageRows();
    const bar = $("up-bar"), txt = $("up-text");
    bar.value = 0;
    txt.textContent = "0%";
    const fd = new FormData();
    fd.append("title", $("title").value.trim() || file.name); // before the file: a recording streams from it
    fd.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/lectures");
    xhr.setRequestHeader("Accept", "application/json");
    const token = await csrf();
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      bar.value = pct;
      txt.textContent = pct + "% · " + bytes(e.loaded) + " of " + bytes(e.total);
    });
    xhr.addEventListener("error", () => fail("The upload did not reach the server. Check your connection and retry."));
    xhr.addEventListener("load", () => {
      let j = {};
      try { j = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 401) { location.assign(signinURL()); return; }
      if (xhr.status !== 202 && xhr.status !== 200 && xhr.status !== 201) {
        bar.value = 0;
        txt.textContent = "refused";
        fail("The server refused the upload: " + ((j.error && j.error.message) || window.T.plainStatus(xhr.status)));
        return;
      }
      bar.value = 100;
      txt.textContent = "done · " + bytes(file.size);
      $("send").disabled = false;
      if (j.status === "ready" || j.status === "failed") showStatus(j);
      stop = watch(j.id, showStatus);
    });
    xhr.send(fd);
  }

  // discard deletes the failed lecture, so that nothing half-made stays in
  // the library.
  async function discard() {
    if (!failedId) return;
    const id = failedId;
    failedId = "";
    $("discard").hidden = true;
    try {
      await window.T.api("/lectures/" + encodeURIComponent(id), { method: "DELETE" });
      $("result").textContent = "The failed upload was removed.";
    } catch (e) {
      if (e.status !== 404) $("failure").textContent += " (It could not be removed: " + e.message + ")";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("discard").addEventListener("click", async () => { await discard(); $("retry").hidden = true; });
    const lim = [];
    if (cfg.max_upload_bytes) lim.push("transcripts up to " + bytes(cfg.max_upload_bytes));
    if (cfg.max_media_bytes) lim.push("recordings up to " + bytes(cfg.max_media_bytes));
    $("limits").textContent = lim.length ? "Limits on this server: " + lim.join(", ") + "." : "";
    const input = $("file"), drop = $("drop");
    input.addEventListener("change", () => choose(input.files[0]));
    const pick = () => input.click();
    drop.addEventListener("click", pick);
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
    });
    $("upload").addEventListener("submit", (e) => { e.preventDefault(); send(); });
    $("retry").addEventListener("click", send);
  });
})();
