package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/web"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// chromium finds Debian's chromium (or another Chrome) for the browser
// tests; without one they skip locally and fail in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	svctest.Missing(t, "chromium not found; apt-get install chromium")
	return ""
}

// browser starts headless chromium; the context drives one tab.
func browser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1440, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// Any uncaught JavaScript exception in a page fails the test.
	var mu sync.Mutex
	var thrown []string
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			mu.Lock()
			thrown = append(thrown, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			mu.Unlock()
		}
	}))
	t.Cleanup(func() {
		cancelC()
		cancelA()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range thrown {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// meetingSRT renders the first turns of a QMSum meeting as SRT with
// timestamps paced at 2.5 words a second (QMSum has no times of its own).
func meetingSRT(t *testing.T, name string, turns int) (string, eval.QMSumMeeting) {
	t.Helper()
	m, err := eval.LoadQMSumFile(filepath.Join(eval.DataDir(), "qmsum", "Academic", "val", name))
	if err != nil {
		svctest.Missing(t, "evaluation data not found (%v)", err)
	}
	var b strings.Builder
	at := 0.0
	ts := func(s float64) string {
		ms := int(s * 1000)
		return fmt.Sprintf("%02d:%02d:%02d,%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
	}
	n := 0
	for _, tu := range m.Turns {
		text := strings.Join(strings.Fields(tu.Content), " ")
		if len(strings.Fields(text)) < 4 {
			continue
		}
		d := float64(len(strings.Fields(text))) / 2.5
		n++
		fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", n, ts(at), ts(at+d), text)
		at += d
		if n == turns {
			break
		}
	}
	return b.String(), m
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		// Thrown while the page is still loading or navigating: not yet.
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool]("(() => { try { return !!("+expr+") } catch (e) { return false } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: not within %s (%v); the page says:\n%s", what, d, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func httpText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestWebApp drives the web app in headless chromium against the real
// binary: upload a QMSum meeting through the page, follow its progress to
// ready, read the lecture page, click a summary bullet, ask questions,
// export SRT, and refuse an empty file before anything is sent.
func TestWebApp(t *testing.T) {
	exe := chromium(t)
	srt, _ := meetingSRT(t, "Bed002.json", 400)
	bin := buildBinary(t)
	base := serve(t, bin) // transcripts up to 50 MB
	ctx := browser(t, exe)
	t.Logf("static assets: %d bytes gzipped in all", web.AssetsCompressedSize())

	dir := t.TempDir()
	meeting := filepath.Join(dir, "Bed002.srt")
	empty := filepath.Join(dir, "empty.txt")
	big := filepath.Join(dir, "big.txt")
	for p, body := range map[string]string{meeting: srt, empty: ""} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A 60 MB transcript (sparse: the page refuses it by its size).
	if f, err := os.Create(big); err != nil || f.Truncate(60<<20) != nil || f.Close() != nil {
		t.Fatalf("a 60 MB file: %v", err)
	}

	// Bad input first: nothing may reach the library.
	run(t, ctx, "open the upload page", chromedp.Navigate(base+"/upload"), chromedp.WaitReady(chromedp.ID("drop")))
	run(t, ctx, "choose an empty file", chromedp.SetUploadFiles(chromedp.ID("file"), []string{empty}))
	waitJS(t, ctx, "the empty file is refused", `!document.getElementById("file-error").hidden`, 5*time.Second)
	if msg := evalJS[string](t, ctx, `document.getElementById("file-error").textContent`); !strings.Contains(msg, "empty (0 bytes)") {
		t.Errorf("0-byte file message: %q", msg)
	}
	run(t, ctx, "submit the empty file", chromedp.Click(chromedp.ID("send")))
	if evalJS[bool](t, ctx, `!document.getElementById("progress").hidden`) {
		t.Error("an empty file started an upload")
	}
	run(t, ctx, "choose a file over the limit", chromedp.SetUploadFiles(chromedp.ID("file"), []string{big}))
	waitJS(t, ctx, "the big file is refused", `document.getElementById("file-error").textContent.includes("is 60 MB; transcripts may be at most 50 MB")`, 5*time.Second)
	var list struct {
		Lectures []map[string]any `json:"lectures"`
	}
	getJSON(t, base+"/lectures", &list)
	if len(list.Lectures) != 0 {
		t.Fatalf("refused files reached the library: %v", list.Lectures)
	}

	// Upload the meeting and follow it to ready.
	start := time.Now()
	run(t, ctx, "upload the meeting",
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{meeting}),
		chromedp.SetValue(chromedp.ID("title"), "Bed002 <i>meeting</i>"),
		chromedp.Click(chromedp.ID("send")))
	waitJS(t, ctx, "processing reaches ready", `!document.getElementById("open").hidden`, 60*time.Second)
	t.Logf("upload to ready through the page: %s", time.Since(start).Round(time.Millisecond))
	if v := evalJS[float64](t, ctx, `document.getElementById("up-bar").value`); v != 100 {
		t.Errorf("upload bar at %v, want 100", v)
	}
	if v := evalJS[int](t, ctx, `[...document.querySelectorAll("#stages progress")].filter(p => p.value === 100).length`); v != 4 {
		t.Errorf("%d of 4 stage bars full", v)
	}

	// The lecture page.
	start = time.Now()
	run(t, ctx, "open the lecture", chromedp.Click(chromedp.ID("open")))
	waitJS(t, ctx, "the lecture page loads", `document.body.dataset.loaded === "1"`, 20*time.Second)
	t.Logf("lecture page to interactive: %s", time.Since(start).Round(time.Millisecond))
	id := evalJS[string](t, ctx, `document.getElementById("lecture").dataset.id`)
	nSeg := evalJS[int](t, ctx, `document.querySelectorAll("#transcript li.seg").length`)
	nBul := evalJS[int](t, ctx, `document.querySelectorAll("#summary li.bullet").length`)
	if nSeg < 100 || nBul == 0 {
		t.Fatalf("lecture page shows %d sentences and %d bullets", nSeg, nBul)
	}
	var tr struct {
		Segments []struct{ Start, End float64 } `json:"segments"`
	}
	getJSON(t, base+"/lectures/"+id+"/transcript", &tr)
	sentenceAt := func(s float64) int {
		i := -1
		for j, sg := range tr.Segments {
			if sg.Start <= s+1e-3 {
				i = j
			}
		}
		return i
	}

	// A summary bullet highlights its sentence (no recording: it scrolls
	// there and takes the focus).
	k := evalJS[int](t, ctx, `[...document.querySelectorAll("#summary li.bullet")].findIndex(b => +b.dataset.start > 0)`)
	if k < 0 {
		t.Fatal("no summary bullet with a time")
	}
	bstart := evalJS[float64](t, ctx, fmt.Sprintf(`+document.querySelectorAll("#summary li.bullet")[%d].dataset.start`, k))
	run(t, ctx, "click a bullet", chromedp.Click(chromedp.CSS(fmt.Sprintf("#summary li.bullet:nth-child(%d)", k+1))))
	cur := evalJS[int](t, ctx, `+(document.querySelector("#transcript li.current") || {dataset: {i: -1}}).dataset.i`)
	if want := sentenceAt(bstart); cur != want {
		t.Errorf("bullet at %.1fs highlights sentence %d, want %d", bstart, cur, want)
	}
	if evalJS[int](t, ctx, `document.querySelectorAll("#transcript li.current").length`) != 1 {
		t.Error("more or less than one sentence highlighted")
	}
	// Enter on a focused sentence works like a click.
	run(t, ctx, "Enter on a sentence", chromedp.Focus(chromedp.CSS("#transcript li.seg:nth-child(5) .line")), chromedp.KeyEvent("\r"))
	if cur := evalJS[int](t, ctx, `+document.querySelector("#transcript li.current").dataset.i`); cur != 4 {
		t.Errorf("Enter on sentence 4 highlights %d", cur)
	}
	// The transcript is one tab stop; the arrow keys move within it.
	run(t, ctx, "ArrowDown twice, Enter", chromedp.KeyEvent(kb.ArrowDown+kb.ArrowDown+"\r"))
	if cur := evalJS[int](t, ctx, `+document.querySelector("#transcript li.current").dataset.i`); cur != 6 {
		t.Errorf("two ArrowDowns and Enter from sentence 4 highlight %d, want 6", cur)
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll("#transcript [tabindex='0']").length`); n != 1 {
		t.Errorf("the transcript has %d tab stops, want 1", n)
	}

	// An on-topic question: tokens, then the answer with citation chips.
	ask := func(q string) {
		t.Helper()
		n := evalJS[int](t, ctx, `document.querySelectorAll("#chat .msg.a").length`)
		run(t, ctx, "ask "+q, chromedp.SetValue(chromedp.ID("question"), q), chromedp.Click(chromedp.ID("ask-btn")))
		waitJS(t, ctx, "the answer to "+q, fmt.Sprintf(`document.querySelectorAll("#chat .msg.a").length > %d && document.querySelectorAll("#chat .msg.a")[%d].dataset.final === "1"`, n, n), 30*time.Second)
	}
	// No layout shift while an answer streams: the question is sent by a
	// script (not input, which would excuse shifts) and shifts are summed.
	run(t, ctx, "watch layout shifts", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.shift = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.shift += e.value }).observe({type: "layout-shift"}); true`)(ctx, tg)
		return err
	}))
	run(t, ctx, "ask by script", chromedp.SetValue(chromedp.ID("question"), "What about the intermediate nodes?"), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.getElementById("ask").requestSubmit(); true`)(ctx, tg)
		return err
	}))
	waitJS(t, ctx, "the scripted answer", `[...document.querySelectorAll("#chat .msg.a")].pop().dataset.final === "1"`, 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	if cls := evalJS[float64](t, ctx, `window.shift`); cls > 0.001 {
		t.Errorf("layout shift %.4f while an answer streamed, want 0", cls)
	}
	ask("What is the belief net?")
	last := `[...document.querySelectorAll("#chat .msg.a")].pop()`
	if n := evalJS[string](t, ctx, last+`.dataset.tokensBeforeAnswer`); n == "" || n == "0" {
		t.Errorf("no tokens streamed before the final answer (%q)", n)
	}
	chips := evalJS[int](t, ctx, last+`.querySelectorAll(".chip").length`)
	if chips == 0 {
		t.Fatalf("no citation chips: %s", evalJS[string](t, ctx, last+`.innerText`))
	}
	cstart := evalJS[float64](t, ctx, "+"+last+`.querySelector(".chip").dataset.start`)
	run(t, ctx, "click a citation", chromedp.Click(chromedp.JSPath(last+`.querySelector(".chip")`)))
	if cur := evalJS[int](t, ctx, `+document.querySelector("#transcript li.current").dataset.i`); cur != sentenceAt(cstart) {
		t.Errorf("citation at %.1fs highlights sentence %d, want %d", cstart, cur, sentenceAt(cstart))
	}

	// An off-topic question: the decline, shown as such.
	ask("Who won the football world cup in 1966?")
	if !evalJS[bool](t, ctx, last+`.classList.contains("decline")`) {
		t.Errorf("off-topic answer not shown as a decline: %s", evalJS[string](t, ctx, last+`.innerText`))
	}
	if txt := evalJS[string](t, ctx, last+`.querySelector("p").textContent`); txt != "This lecture does not cover that." {
		t.Errorf("decline text %q", txt)
	}

	screenshot(t, ctx, "lecture-qa-1440-light.png")

	// The Q&A session export: Markdown built in the page as a Blob.
	run(t, ctx, "export the Q&A", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.blobs = []; const create = URL.createObjectURL; URL.createObjectURL = (b) => { window.blobs.push(b); return create(b) }; true`)(ctx, tg)
		return err
	}), chromedp.Click(chromedp.ID("export-qa")))
	md, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.blobs[0].text()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the Q&A export: %v", err)
	}
	if !strings.Contains(md, "## What is the belief net?") || !strings.Contains(md, "## Who won the football world cup in 1966?\n\nThis lecture does not cover that.") || !strings.Contains(md, "- [") {
		t.Errorf("Q&A Markdown:\n%s", md)
	}

	// The SRT export is the API's SRT.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch([...document.querySelectorAll("#exports a")].find(a => a.textContent === "Transcript SRT").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch the SRT export: %v", err)
	}
	if want := httpText(t, base+"/lectures/"+id+"/transcript?format=srt"); got != want {
		t.Errorf("SRT export differs from GET transcript?format=srt (%d vs %d bytes)", len(got), len(want))
	}

	// The library lists it, and its search finds it by a transcript word.
	run(t, ctx, "open the library", chromedp.Navigate(base+"/?q=belief"))
	waitJS(t, ctx, "the library lists the meeting", `document.querySelectorAll("#lectures li").length === 1`, 10*time.Second)
	if title := evalJS[string](t, ctx, `document.querySelector("#lectures li a").textContent`); title != "Bed002 <i>meeting</i>" {
		t.Errorf("library title %q", title)
	}
	if evalJS[int](t, ctx, `document.querySelectorAll("#lectures i").length`) != 0 {
		t.Error("the title's markup became elements")
	}

	axe := axeSource(t)
	for _, scheme := range []string{"light", "dark"} {
		for _, w := range []int64{375, 1440} {
			for _, pg := range []struct{ name, path string }{{"library", "/"}, {"upload", "/upload"}, {"lecture", "/l/" + id}} {
				openPage(t, ctx, base+pg.path, w, scheme)
				if axe != "" {
					checkAxe(t, ctx, axe, fmt.Sprintf("%s at %d px, %s", pg.name, w, scheme))
				}
				screenshot(t, ctx, fmt.Sprintf("%s-%d-%s.png", pg.name, w, scheme))
			}
		}
	}
}

// openPage opens a page at a width and colour scheme and waits until its
// data has loaded.
func openPage(t *testing.T, ctx context.Context, url string, width int64, scheme string) {
	t.Helper()
	run(t, ctx, "open "+url,
		chromedp.EmulateViewport(width, 900),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}),
		chromedp.Navigate(url),
		chromedp.WaitReady(chromedp.CSS("body")))
	switch {
	case strings.Contains(url, "/l/"):
		waitJS(t, ctx, "the lecture loads", `document.body.dataset.loaded === "1"`, 20*time.Second)
	case strings.HasSuffix(url, "/"):
		waitJS(t, ctx, "the library loads", `!document.getElementById("lib-status").textContent.startsWith("Loading")`, 10*time.Second)
	}
}

// The pinned axe-core: npm's tarball and its SHA-256.
const (
	axeVersion = "4.11.0"
	axeSHA256  = "39bed7d72308f6d620789c169d699bfd7e8da80f65b545821a6b2215c3e83107"
)

// axeSource is axe.min.js of the pinned axe-core, fetched with `npm pack`
// into the tools cache once and checked against its SHA-256.
func axeSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TRANSCEPT_TOOLS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "transcept-bin")
	}
	dir = filepath.Join(dir, "axe-core")
	tgz := filepath.Join(dir, "axe-core-"+axeVersion+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			svctest.Missing(t, "npm not found to fetch axe-core %s; apt-get install npm", axeVersion)
			return ""
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(npm, "pack", "axe-core@"+axeVersion)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			svctest.Missing(t, "npm pack axe-core@%s: %v\n%s", axeVersion, err, out)
			return ""
		}
	}
	b, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != axeSHA256 {
		_ = os.Remove(tgz)
		t.Fatalf("%s: SHA-256 %x, want %s", tgz, sum, axeSHA256)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("axe.min.js not in %s: %v", tgz, err)
		}
		if h.Name == "package/axe.min.js" {
			src, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(src)
		}
	}
}

// checkAxe runs axe-core in the page: no serious or critical violations.
func checkAxe(t *testing.T, ctx context.Context, src, what string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+";true")); err != nil {
		t.Fatalf("inject axe-core: %v", err)
	}
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run on %s: %v", what, err)
	}
	for _, v := range bad {
		t.Errorf("axe on %s: %s", what, v)
	}
}

// screenshot writes the viewport as a PNG to $TRANSCEPT_SCREENSHOTS
// (docs/screenshots holds a committed set); without it, nothing.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TRANSCEPT_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWebAppNumbers measures the web app (TRANSCEPT_WEB_NUMBERS=1; the
// README quotes its log): the library page with 1,000 lectures (server
// time and bytes), a 3-hour lecture's page to interactive, and the cost of
// follow-along highlighting per timeupdate.
func TestWebAppNumbers(t *testing.T) {
	if os.Getenv("TRANSCEPT_WEB_NUMBERS") != "1" {
		t.Skip("set TRANSCEPT_WEB_NUMBERS=1 to measure the web app")
	}
	exe := chromium(t)
	bin := buildBinary(t)
	base := serve(t, bin, "TRANSCEPT_QUOTA_UPLOADS=0")
	ctx := browser(t, exe)

	// A 3-hour lecture: 2,700 cues of 4 s.
	var b strings.Builder
	for i := 0; i < 2700; i++ {
		s := i * 4
		fmt.Fprintf(&b, "%d\n%02d:%02d:%02d,000 --> %02d:%02d:%02d,000\nSentence %d of the long lecture about entropy, heat engines and the arrow of time number %d.\n\n",
			i+1, s/3600, s/60%60, s%60, (s+4)/3600, (s+4)/60%60, (s+4)%60, i, i%97)
	}
	long := webPost(t, base+"/lectures?name=long.srt&title=Three+hours", "text/plain", b.String())
	webWaitReady(t, base, long)
	// The 3-hour lecture.
	run(t, ctx, "open the long lecture", chromedp.Navigate(base+"/l/"+long))
	waitJS(t, ctx, "the long lecture loads", `document.body.dataset.loaded === "1"`, 30*time.Second)
	ms := evalJS[float64](t, ctx, `performance.now()`)
	per := evalJS[float64](t, ctx, `(() => { const n = 2000, t0 = performance.now(); for (let i = 0; i < n; i++) T.follow(Math.random() * 10800); void document.body.offsetHeight; return (performance.now() - t0) / n; })()`)
	t.Logf("3-hour lecture (2,700 sentences): interactive after %.0f ms; follow-along %.3f ms per timeupdate", ms, per)
	if per > 2 {
		t.Errorf("follow-along costs %.3f ms per timeupdate; the budget is 2 ms", per)
	}
	// 1,000 more lectures, 16 at a time.
	start := time.Now()
	sem := make(chan struct{}, 16)
	errs := make(chan error, 1000)
	for i := 0; i < 1000; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			body := fmt.Sprintf("Lecture %d. Entropy of an isolated system never decreases. Heat flows from hot to cold.", i)
			resp, err := http.Post(fmt.Sprintf("%s/lectures?name=l%d.txt&title=Lecture+%d", base, i, i), "text/plain", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 202 {
					err = fmt.Errorf("upload %d: %d", i, resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 1000; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("1,000 uploads in %s", time.Since(start).Round(time.Millisecond))

	// The library: page shell and its first page of data, server time.
	timeGET := func(path string, accept string) (time.Duration, int) {
		var best time.Duration
		n := 0
		for i := 0; i < 20; i++ {
			req, _ := http.NewRequest("GET", base+path, nil)
			req.Header.Set("Accept", accept)
			req.Header.Set("Accept-Encoding", "gzip")
			t0 := time.Now()
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(t0)
			if i == 0 || d < best {
				best = d
			}
			n = len(body)
		}
		return best, n
	}
	dShell, nShell := timeGET("/", "text/html")
	dList, nList := timeGET("/lectures?limit=20", "application/json")
	t.Logf("library with 1,001 lectures: shell %s (%d bytes gzipped), GET /lectures?limit=20 %s (%d bytes), assets %d bytes gzipped",
		dShell.Round(10*time.Microsecond), nShell, dList.Round(10*time.Microsecond), nList, web.AssetsCompressedSize())
	run(t, ctx, "open the library", chromedp.Navigate(base+"/"))
	waitJS(t, ctx, "the library lists", `document.querySelectorAll("#lectures li").length === 20`, 20*time.Second)
	ms = evalJS[float64](t, ctx, `performance.now()`)
	bytes := evalJS[float64](t, ctx, `performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation")).reduce((a, e) => a + (e.transferSize || 0), 0)`)
	t.Logf("library page in chromium: listed after %.0f ms, %.0f bytes transferred; %d of 20 still processing", ms, bytes,
		evalJS[int](t, ctx, `[...document.querySelectorAll("#lectures .badge")].filter(b => b.textContent !== "ready").length`))
	// Live status: every listed lecture turns ready without a reload.
	waitJS(t, ctx, "the listed lectures turn ready", `[...document.querySelectorAll("#lectures .badge")].every(b => b.textContent === "ready")`, 3*time.Minute)
	// Paging with the cursor: the next 20, older, none twice.
	run(t, ctx, "show older lectures", chromedp.Click(chromedp.ID("more")))
	waitJS(t, ctx, "40 listed", `document.querySelectorAll("#lectures li").length === 40`, 10*time.Second)
	if n := evalJS[int](t, ctx, `new Set([...document.querySelectorAll("#lectures li")].map(l => l.dataset.id)).size`); n != 40 {
		t.Errorf("%d distinct lectures in 40 rows", n)
	}

}

func webPost(t *testing.T, url, ctype, body string) string {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ ID string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 || json.Unmarshal(b, &m) != nil {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return m.ID
}

func webWaitReady(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var l struct{ Status string }
		getJSON(t, base+"/lectures/"+id, &l)
		if l.Status == "ready" {
			return
		}
		if l.Status == "failed" {
			t.Fatalf("lecture %s failed", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("lecture %s not ready", id)
}

// TestWebAppSignIn: with sign-in on, a page sends the person to sign in
// and back; the account page creates and revokes an API key; the admin
// page lists users; an upload through the page carries the CSRF token; a
// share link opens the lecture read-only in a browser that is not signed
// in.
func TestWebAppSignIn(t *testing.T) {
	exe := chromium(t)
	bin := buildBinary(t)
	store := t.TempDir()
	cmd := exec.Command(bin, "users", "create", "admin@example.edu", "--admin")
	cmd.Env = append(os.Environ(), "TRANSCEPT_STORE_DIR="+store)
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	base := serve(t, bin, "TRANSCEPT_STORE_DIR="+store, "TRANSCEPT_AUTH=on")
	ctx := browser(t, exe)
	srt := filepath.Join(t.TempDir(), "entropy.srt")
	if err := os.WriteFile(srt, []byte(entropySRT), 0o644); err != nil {
		t.Fatal(err)
	}

	run(t, ctx, "open the account page", chromedp.Navigate(base+"/account"))
	waitJS(t, ctx, "sent to sign in", `location.pathname === "/signin" && new URLSearchParams(location.search).get("next") === "/account"`, 10*time.Second)
	run(t, ctx, "a wrong password",
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SetValue(chromedp.ID("email"), "admin@example.edu"),
		chromedp.SetValue(chromedp.ID("password"), "wrong password"),
		chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
	waitJS(t, ctx, "the wrong password is refused", `!document.getElementById("signin-error").hidden`, 10*time.Second)
	run(t, ctx, "the right password",
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
	waitJS(t, ctx, "back on the account page", `location.pathname === "/account" && document.getElementById("me").textContent.includes("admin@example.edu")`, 10*time.Second)

	// An API key: shown once, listed, revoked.
	run(t, ctx, "create a key",
		chromedp.SetValue(chromedp.ID("key-name"), "laptop"),
		chromedp.Click(chromedp.CSS("#key-form button[type=submit]")))
	waitJS(t, ctx, "the key is shown once", `!document.getElementById("key-new").hidden`, 10*time.Second)
	key := evalJS[string](t, ctx, `document.querySelector("#key-new code").textContent`)
	req, _ := http.NewRequest("GET", base+"/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the new key does not work: %v %v", resp, err)
	}
	run(t, ctx, "revoke it",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.confirm = () => true; true`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS("#keys button.danger")))
	waitJS(t, ctx, "the key is revoked", `document.querySelector("#keys").textContent.includes("revoked")`, 10*time.Second)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("the revoked key still works: %v %v", resp, err)
	}

	// The admin page lists the user.
	run(t, ctx, "open the admin page", chromedp.Navigate(base+"/admin"))
	waitJS(t, ctx, "users listed", `document.querySelector("#users") && document.querySelector("#users").textContent.includes("admin@example.edu")`, 10*time.Second)

	// An upload through the page (session cookie + CSRF token).
	run(t, ctx, "upload", chromedp.Navigate(base+"/upload"), chromedp.WaitReady(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{srt}),
		chromedp.Click(chromedp.ID("send")))
	waitJS(t, ctx, "processing reaches ready", `!document.getElementById("open").hidden`, 60*time.Second)
	run(t, ctx, "open the lecture", chromedp.Click(chromedp.ID("open")))
	waitJS(t, ctx, "the lecture page loads", `document.body.dataset.loaded === "1"`, 20*time.Second)
	waitJS(t, ctx, "the owner sees share links", `!document.getElementById("shares-card").hidden`, 10*time.Second)
	run(t, ctx, "create a share link", chromedp.Click(chromedp.CSS("#share-form button[type=submit]")))
	waitJS(t, ctx, "the link is shown", `!document.getElementById("share-new").hidden`, 10*time.Second)
	link := evalJS[string](t, ctx, `document.querySelector("#share-new code").textContent`)

	// The link in a browser that is not signed in.
	anon, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(anon); err != nil { // its tab lives as long as this call's context
		t.Fatal(err)
	}
	run(t, anon, "open the share link", chromedp.Navigate(link))
	waitJS(t, anon, "the shared lecture loads", `document.body.dataset.loaded === "1"`, 20*time.Second)
	if n := evalJS[int](t, anon, `document.querySelectorAll("#transcript li.seg").length`); n != 5 {
		t.Errorf("shared lecture shows %d sentences, want 5", n)
	}
	if !evalJS[bool](t, anon, `document.getElementById("shares-card").hidden`) {
		t.Error("a share link shows the share links")
	}
	run(t, anon, "ask through the link", chromedp.SetValue(chromedp.ID("question"), "What does the second law say?"), chromedp.Click(chromedp.ID("ask-btn")))
	waitJS(t, anon, "answered through the link", `document.querySelector("#chat .msg.a") && document.querySelector("#chat .msg.a").dataset.final === "1"`, 20*time.Second)
	run(t, anon, "the library without signing in", chromedp.Navigate(base+"/"))
	waitJS(t, anon, "sent to sign in", `location.pathname === "/signin"`, 10*time.Second)

	// Sign out.
	run(t, ctx, "sign out", chromedp.Click(chromedp.ID("nav-signout")))
	waitJS(t, ctx, "signed out", `location.pathname === "/signin"`, 10*time.Second)
	run(t, ctx, "the library after signing out", chromedp.Navigate(base+"/"))
	waitJS(t, ctx, "sent to sign in again", `location.pathname === "/signin"`, 10*time.Second)
}

const entropySRT = `1
00:00:01,000 --> 00:00:06,000
Today we study entropy and the second law of thermodynamics.

2
00:00:06,000 --> 00:00:12,000
Um, the second law says that the entropy of an isolated system never decreases.

3
00:00:12,000 --> 00:00:20,000
A heat engine converts heat into work, but it can never be perfectly efficient.

4
00:00:20,000 --> 00:00:30,000
The Carnot efficiency depends only on the temperatures of the hot and cold reservoirs.

5
00:00:30,000 --> 00:00:40,000
Living systems keep their order by exporting entropy to their surroundings.
`

// TestWebAppRecording uploads a real recording (jfk.flac) through the page
// to a server with a random-weight Whisper: the lecture page gets a player
// fed by GET /lectures/{id}/media, and a click on a summary bullet (or a
// sentence) moves the player to its start and highlights the sentence.
func TestWebAppRecording(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		svctest.Missing(t, "ONNX Runtime not available (make ort): %v", err)
	}
	clip := filepath.Join(eval.DataDir(), "audio", "jfk.flac")
	if _, err := os.Stat(clip); err != nil {
		svctest.Missing(t, "evaluation data missing: %v", err)
	}
	exe := chromium(t)
	model := filepath.Join(t.TempDir(), "whisper-tiny")
	if err := testmodels.WriteWhisper(model, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	base := serve(t, bin, "TRANSCEPT_WHISPER_MODEL="+model, "TRANSCEPT_LANGUAGE=en")
	ctx := browser(t, exe)

	// A PDF renamed .mp3: a plain refusal, nothing in the library.
	fake := filepath.Join(t.TempDir(), "slides.mp3")
	if err := os.WriteFile(fake, append([]byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), bytes.Repeat([]byte{0xd3, 0x17, 0x42}, 3000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "upload a PDF named .mp3", chromedp.Navigate(base+"/upload"), chromedp.WaitReady(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{fake}),
		chromedp.Click(chromedp.ID("send")))
	waitJS(t, ctx, "the PDF is refused", `!document.getElementById("failure").hidden || !document.getElementById("open").hidden`, 2*time.Minute)
	msg := evalJS[string](t, ctx, `document.getElementById("failure").textContent`)
	t.Logf("a PDF named .mp3: %q", msg)
	if msg == "" {
		t.Fatal("a PDF named .mp3 was accepted")
	}
	if !strings.Contains(msg, "stage") && !strings.Contains(msg, "refused") {
		t.Errorf("the message names neither a stage nor a refusal: %q", msg)
	}
	// ffmpeg may decode such bytes as noise, so the server may have made a
	// failed lecture: the library says why, and the upload page removes it
	// on request.
	if evalJS[bool](t, ctx, `!document.getElementById("discard").hidden`) {
		lib, cancel := chromedp.NewContext(ctx)
		if err := chromedp.Do(lib, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		waitJS(t, lib, "the library says why it failed", `document.querySelector("#lectures .why") && document.querySelector("#lectures .why").textContent.startsWith("Failed at the ")`, 10*time.Second)
		cancel()
		run(t, ctx, "remove the failed upload", chromedp.Click(chromedp.ID("discard")))
		waitJS(t, ctx, "removed", `document.getElementById("result").textContent.includes("removed")`, 10*time.Second)
	}
	var list struct {
		Lectures []map[string]any `json:"lectures"`
	}
	getJSON(t, base+"/lectures", &list)
	for _, l := range list.Lectures {
		t.Errorf("the refused PDF left a lecture behind: %v", l)
	}

	run(t, ctx, "upload the recording", chromedp.Navigate(base+"/upload"), chromedp.WaitReady(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{clip}),
		chromedp.SetValue(chromedp.ID("title"), "JFK"),
		chromedp.Click(chromedp.ID("send")))
	waitJS(t, ctx, "processing reaches ready", `!document.getElementById("open").hidden || !document.getElementById("failure").hidden`, 3*time.Minute)
	if msg := evalJS[string](t, ctx, `document.getElementById("failure").textContent`); msg != "" {
		t.Fatalf("processing failed: %s", msg)
	}
	run(t, ctx, "open the lecture", chromedp.Click(chromedp.ID("open")))
	waitJS(t, ctx, "the lecture page loads", `document.body.dataset.loaded === "1"`, 20*time.Second)
	if tag := evalJS[string](t, ctx, `(document.getElementById("player") || {tagName: ""}).tagName`); tag != "AUDIO" {
		t.Fatalf("player is %q, want AUDIO", tag)
	}
	waitJS(t, ctx, "the player has the recording's metadata", `document.getElementById("player").readyState >= 1`, 20*time.Second)
	if d := evalJS[float64](t, ctx, `document.getElementById("player").duration`); d < 10 || d > 12 {
		t.Errorf("player duration %.2f s, want about 11 s", d)
	}
	// A timed bullet if the random Whisper's words gave one, else a sentence.
	target := `[...document.querySelectorAll("#summary li.bullet")].find(b => +b.dataset.start > 0.5)`
	if !evalJS[bool](t, ctx, "!!"+target) {
		target = `[...document.querySelectorAll("#transcript li.seg")].find(s => +s.dataset.start > 0.5)`
	}
	if !evalJS[bool](t, ctx, "!!"+target) {
		t.Skipf("the random-weight transcript has no timed sentence after 0.5 s: %s", evalJS[string](t, ctx, `document.getElementById("transcript").innerText`))
	}
	start := evalJS[float64](t, ctx, "+"+target+".dataset.start")
	t.Logf("clicking %s at %.2f s", strings.Split(strings.Split(target, `"`)[1], " ")[1], start)
	run(t, ctx, "click it", chromedp.Click(chromedp.JSPath(target+".firstChild")))
	waitJS(t, ctx, "the player seeks", fmt.Sprintf(`Math.abs(document.getElementById("player").currentTime - %f) <= 0.5`, start), 5*time.Second)
	want := evalJS[int](t, ctx, fmt.Sprintf(sentenceAtJS, start))
	if cur := evalJS[int](t, ctx, `+(document.querySelector("#transcript li.current") || {dataset: {i: -1}}).dataset.i`); cur != want {
		t.Errorf("after seeking to %.2f s sentence %d is highlighted, want %d", start, cur, want)
	}
	// Follow-along: the player's own seek moves the highlight.
	to := evalJS[float64](t, ctx, `Math.max(...[...document.querySelectorAll("#transcript li.seg")].map(s => +s.dataset.start)) + 0.2`)
	want = evalJS[int](t, ctx, fmt.Sprintf(sentenceAtJS, to))
	run(t, ctx, "seek the player", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`document.getElementById("player").currentTime = %f; true`, to))(ctx, tg)
		return err
	}))
	waitJS(t, ctx, "the highlight follows", fmt.Sprintf(`+(document.querySelector("#transcript li.current") || {dataset: {i: -1}}).dataset.i === %d`, want), 5*time.Second)
}

// sentenceAtJS is the index of the sentence playing at %f, by a linear
// scan: the latest start at or before it (the last such sentence on ties).
const sentenceAtJS = `((t) => { let best = -1, bs = -Infinity; document.querySelectorAll("#transcript li.seg").forEach((s, i) => { const v = Math.max(0, +s.dataset.start); if (v <= t + 0.001 && v >= bs) { bs = v; best = i } }); return best })(%f)`
