// Lecture page: player (when there is a recording), transcript with
// follow-along highlighting and click-to-seek, summary bullets whose
// [mm:ss] seek, Q&A streamed token by token with citation chips, exports,
// and share links for the owner.
"use strict";
(function () {
  const { api, el, clock, notice, activate, sse, watch, withShare, download, share, signinURL } = window.T;
  const $ = (x) => document.getElementById(x);
  let id = "", title = "", player = null, segs = [], starts = [], sorted = [], order = [], items = [], current = -1;
  const session = []; // the Q&A of this visit, for the Markdown export

  // at is the index of the sentence playing at t: the last one starting at
  // or before t (binary search over the sorted start times).
  function at(t) {
    let lo = 0, hi = sorted.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] <= t + 1e-3) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans < 0 ? -1 : order[ans];
  }

  // highlight marks sentence i (class and aria-current only: no layout
  // shift) and scrolls the transcript box, not the page, to it.
  function highlight(i, scroll) {
    if (i === current) { if (scroll) reveal(i); return; }
    if (current >= 0 && items[current]) {
      items[current].classList.remove("current");
      items[current].removeAttribute("aria-current");
    }
    current = i;
    if (i >= 0 && items[i]) {
      items[i].classList.add("current");
      items[i].setAttribute("aria-current", "true");
      rove(i);
      if (scroll) reveal(i);
    }
  }

  let stop = 0; // the sentence that takes the transcript's one tab stop
  function rove(i) {
    if (!items[i] || i === stop) return;
    if (items[stop]) items[stop].firstChild.tabIndex = -1;
    items[i].firstChild.tabIndex = 0;
    stop = i;
  }

  function reveal(i) {
    const box = $("transcript"), li = items[i];
    if (!li) return;
    const top = li.offsetTop, bottom = top + li.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, top - box.clientHeight / 3);
    }
  }

  // seek moves the player to t (or, without a recording, scrolls to the
  // sentence) and highlights the sentence there.
  function seek(t) {
    const i = at(t);
    if (player) {
      player.currentTime = t;
    }
    highlight(i, true);
    if (!player && items[i]) items[i].firstChild.focus({ preventScroll: true });
  }

  function renderTranscript(tr) {
    segs = (tr.segments || []).filter((s) => s.text);
    starts = segs.map((s) => (s.start >= 0 ? s.start : 0));
    // Sentences come in time order; sorting keeps the search right if not.
    order = starts.map((_, i) => i).sort((a, b) => starts[a] - starts[b] || a - b);
    sorted = order.map((i) => starts[i]);
    const ol = $("transcript");
    const frag = document.createDocumentFragment();
    items = segs.map((s, i) => {
      const line = el("div", { class: "line", role: "button", tabindex: i === 0 ? "0" : "-1",
        "aria-label": (s.start >= 0 ? "At " + clock(s.start) + ": " : "") + s.text },
      el("span", { class: "ts", text: s.start >= 0 ? clock(s.start) : "" }),
      el("span", { class: "tx", text: (s.speaker ? s.speaker + ": " : "") + s.text }));
      const li = el("li", { class: "seg", "data-i": i, "data-start": s.start }, line);
      frag.append(li);
      return li;
    });
    ol.replaceChildren(frag);
    // One listener for all sentences (a 3-hour lecture has thousands).
    const go = (e) => {
      const li = e.target.closest("li.seg");
      if (li) seek(starts[+li.dataset.i]);
    };
    ol.addEventListener("click", go);
    // One tab stop for the whole transcript (roving tabindex): the arrow
    // keys, Home and End move between sentences.
    ol.addEventListener("keydown", (e) => {
      if (!e.target.matches(".line")) return;
      const i = +e.target.parentNode.dataset.i;
      let j = -1;
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(e); return; }
      if (e.key === "ArrowDown") j = Math.min(items.length - 1, i + 1);
      else if (e.key === "ArrowUp") j = Math.max(0, i - 1);
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = items.length - 1;
      if (j < 0) return;
      e.preventDefault();
      rove(j);
      items[j].firstChild.focus();
    });
    if (!items.length) ol.append(el("li", { class: "muted", text: "The transcript is empty." }));
  }

  function renderSummary(sum) {
    const ul = $("summary");
    ul.replaceChildren();
    for (const b of sum.bullets || []) {
      const start = b.span && b.span.start >= 0 ? b.span.start : -1;
      const inner = el("div", { class: "line" },
        start >= 0 ? el("span", { class: "ts", text: "[" + clock(start) + "]" }) : null,
        el("span", { text: b.text }));
      if (start >= 0) {
        inner.setAttribute("aria-label", "[" + clock(start) + "] " + b.text + (player ? " (play from here)" : " (show in transcript)"));
        activate(inner, () => seek(start));
      }
      ul.append(el("li", { class: "bullet", "data-start": start }, inner));
    }
    if (!ul.children.length) ul.append(el("li", { class: "muted", text: "No summary." }));
  }

  // Q&A: the answer streams token by token from GET /lectures/{id}/qa.
  async function ask(q) {
    const chat = $("chat");
    const btn = $("ask-btn");
    btn.disabled = true;
    chat.append(el("div", { class: "msg q" }, el("span", { class: "who", text: "You" }), el("p", { text: q })));
    const text = el("p", { class: "stream", "aria-busy": "true" });
    const ans = el("div", { class: "msg a" }, el("span", { class: "who", text: "Transcept" }), text);
    chat.append(ans);
    chat.scrollTop = chat.scrollHeight;
    const entry = { q, answer: "", covered: true, citations: [] };
    try {
      const resp = await fetch(withShare("/lectures/" + encodeURIComponent(id) + "/qa?stream=1&q=" + encodeURIComponent(q)),
        { headers: { Accept: "text/event-stream" }, credentials: "same-origin" });
      if (resp.status === 401 && !share) { location.assign(signinURL()); return; }
      if (!resp.ok) throw await window.T.errorOf(resp);
      let tokens = 0;
      await sse(resp, (ev, d) => {
        if (ev === "token") {
          tokens++;
          text.textContent += d.token || "";
          ans.dataset.tokens = String(tokens);
          chat.scrollTop = chat.scrollHeight;
        } else if (ev === "answer") {
          entry.answer = d.answer || "";
          entry.covered = d.covered !== false;
          entry.citations = d.citations || [];
          text.textContent = entry.answer;
          ans.dataset.final = "1";
          ans.dataset.tokensBeforeAnswer = String(tokens);
          if (!entry.covered) {
            ans.classList.add("decline");
            ans.prepend(el("span", { class: "tag", text: "Not in this lecture" }));
          }
          if (entry.citations.length) {
            const chips = el("div", { class: "chips", role: "list", "aria-label": "Citations" });
            for (const c of entry.citations) {
              const s = c.span && c.span.start >= 0 ? c.span.start : -1;
              const chip = el("button", { type: "button", class: "chip", "data-start": s,
                "aria-label": "Cited at " + clock(s) + ": " + (c.quote || "") },
              el("span", { class: "ts", text: s >= 0 ? clock(s) : "" }), el("span", { class: "quote", text: "“" + (c.quote || "") + "”" }));
              chip.addEventListener("click", () => { if (s >= 0) seek(s); });
              chips.append(el("span", { role: "listitem" }, chip));
            }
            ans.append(chips);
          }
        } else if (ev === "error") {
          throw new Error((d && d.message) || "the answer failed");
        }
      });
      if (!ans.dataset.final) throw new Error("the answer was cut off");
      session.push(entry);
    } catch (e) {
      ans.classList.add("err");
      text.textContent = "No answer: " + e.message;
    } finally {
      text.removeAttribute("aria-busy");
      btn.disabled = false;
      chat.scrollTop = chat.scrollHeight;
    }
  }

  function sessionMarkdown() {
    let md = "# Q&A: " + (title || id) + "\n\n";
    for (const e of session) {
      md += "## " + e.q + "\n\n" + e.answer + "\n\n";
      for (const c of e.citations) {
        md += "- [" + clock(c.span ? c.span.start : -1) + "] " + (c.quote || "") + "\n";
      }
      if (e.citations.length) md += "\n";
    }
    return md;
  }

  function exports() {
    const box = $("exports");
    const base = "/lectures/" + encodeURIComponent(id);
    const name = (title || id).replace(/[^\w.-]+/g, "_");
    const link = (label, path, file) => el("a", { class: "btn", href: withShare(path), download: file, text: label });
    box.replaceChildren(
      link("Transcript SRT", base + "/transcript?format=srt", name + ".srt"),
      link("VTT", base + "/transcript?format=vtt", name + ".vtt"),
      link("TXT", base + "/transcript?format=text", name + ".txt"),
      link("JSON", base + "/transcript?format=json", name + ".json"),
      link("Summary Markdown", base + "/summary?format=md", name + "-summary.md"),
      el("button", { class: "btn", type: "button", id: "export-qa", text: "Q&A Markdown",
        onclick: () => {
          if (!session.length) { notice("Ask a question first: the Q&A export holds this visit's questions and answers."); return; }
          notice("");
          download(name + "-qa.md", sessionMarkdown(), "text/markdown");
        } }));
  }

  async function shares() {
    if (share) return;
    let r;
    try { r = await api("/lectures/" + encodeURIComponent(id) + "/shares", { noRedirect: true }); } catch (_) { return; }
    $("shares-card").hidden = false;
    const ul = $("shares");
    ul.replaceChildren();
    const now = Date.now();
    for (const s of r.shares || []) {
      if (s.revoked_at || (s.expires_at && Date.parse(s.expires_at) < now)) continue;
      ul.append(el("li", null,
        el("span", { text: "Link " + s.id + " · expires " + window.T.date(s.expires_at) + " " }),
        el("button", { type: "button", class: "btn danger", text: "Revoke", "aria-label": "Revoke share link " + s.id,
          onclick: async () => {
            try { await api("/lectures/" + encodeURIComponent(id) + "/shares/" + encodeURIComponent(s.id), { method: "DELETE" }); shares(); }
            catch (e) { notice("The link could not be revoked: " + e.message); }
          } })));
    }
    if (!ul.children.length) ul.append(el("li", { class: "muted", text: "No live share links." }));
  }

  async function mountPlayer() {
    let r;
    try { r = await api("/lectures/" + encodeURIComponent(id) + "/media", { method: "HEAD", raw: true, noRedirect: true }); } catch (_) { return; }
    const ct = (r.headers.get("Content-Type") || "").toLowerCase();
    const tag = ct.startsWith("video/") ? "video" : "audio";
    player = el(tag, { id: "player", controls: true, preload: "metadata", src: withShare("/lectures/" + encodeURIComponent(id) + "/media"),
      "aria-label": "Recording of " + (title || "the lecture") });
    const region = $("player-region");
    region.replaceChildren(player);
    region.hidden = false;
    // Follow-along: one binary search and at most two class changes per
    // timeupdate.
    player.addEventListener("timeupdate", () => highlight(at(player.currentTime), true));
    player.addEventListener("seeked", () => highlight(at(player.currentTime), true));
  }

  async function load() {
    const base = "/lectures/" + encodeURIComponent(id);
    let l;
    try { l = await api(base); } catch (e) {
      notice(e.status === 404 ? "This lecture does not exist, or you may not open it." : "The lecture could not be loaded: " + e.message);
      return;
    }
    title = l.title || l.id;
    $("title").textContent = title;
    document.title = title + " · Transcept";
    const state = $("state");
    if (l.status !== "ready") {
      state.textContent = l.status;
      const p = $("processing");
      p.hidden = false;
      if (l.status === "failed") {
        p.textContent = "Processing failed: " + ((l.error && l.error.message) || "no reason was given") + ". Upload it again from the upload page.";
        return;
      }
      p.textContent = "Still processing… this page fills in when it is ready.";
      watch(id, (s) => {
        state.textContent = s.status;
        if (s.status === "ready") location.reload();
        if (s.status === "failed") p.textContent = "Processing failed: " + ((s.error && s.error.message) || "no reason was given") + ".";
      });
      return;
    }
    state.hidden = true;
    exports();
    await mountPlayer();
    try {
      const [tr, sum] = await Promise.all([api(base + "/transcript?format=json"), api(base + "/summary")]);
      renderTranscript(tr);
      renderSummary(sum);
      document.body.dataset.loaded = "1";
    } catch (e) {
      notice("The transcript or summary could not be loaded: " + e.message);
    }
    shares();
  }

  // follow is what a timeupdate does, for measuring (tests call it).
  window.T.follow = (t) => highlight(at(t), true);

  document.addEventListener("DOMContentLoaded", () => {
    id = $("lecture").dataset.id;
    $("ask").addEventListener("submit", (e) => {
      e.preventDefault();
      const q = $("question").value.trim();
      if (!q) return;
      $("question").value = "";
      ask(q);
    });
    $("share-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const s = await api("/lectures/" + encodeURIComponent(id) + "/shares", { method: "POST", body: { expires_in: $("share-exp").value } });
        const url = location.origin + "/l/" + encodeURIComponent(id) + "?share=" + encodeURIComponent(s.token);
        const box = $("share-new");
        box.replaceChildren(el("span", { text: "New link (shown once): " }), el("code", { text: url }));
        box.hidden = false;
        shares();
      } catch (e2) { notice("The share link could not be created: " + e2.message); }
    });
    load();
  });
})();
