package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// fixture is a tiny random-weight BART folder served as repository
// "test/tiny-bart" at revision "r1", and the Model pinning all its files.
type fixture struct {
	dir string
	m   Model
	srv *httptest.Server
	mu  sync.Mutex
	// requests logs "path range" of every request.
	requests []string
	// cut, when set, is the file whose first full request is cut after half.
	cut     string
	cutDone bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{dir: filepath.Join(t.TempDir(), "src")}
	if err := testmodels.WriteBART(fx.dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	fx.m = Model{Name: "tiny-bart", Repo: "test/tiny-bart", Revision: "r1"}
	err := filepath.WalkDir(fx.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fx.dir, p)
		sum := sha256.Sum256(b)
		fx.m.Files = append(fx.m.Files, File{Path: filepath.ToSlash(rel), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = httptest.NewServer(http.HandlerFunc(fx.serve))
	t.Cleanup(fx.srv.Close)
	return fx
}

func (fx *fixture) serve(w http.ResponseWriter, r *http.Request) {
	rel, ok := strings.CutPrefix(r.URL.Path, "/test/tiny-bart/resolve/r1/")
	fx.mu.Lock()
	fx.requests = append(fx.requests, rel+" "+r.Header.Get("Range"))
	cut := ok && rel == fx.cut && !fx.cutDone && r.Header.Get("Range") == ""
	if cut {
		fx.cutDone = true
	}
	fx.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(fx.dir, filepath.FromSlash(rel)))
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	if cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	http.ServeContent(w, r, rel, time.Time{}, bytes.NewReader(b))
}

func (fx *fixture) puller(t *testing.T, log *bytes.Buffer) *Puller {
	p := &Puller{BaseURL: fx.srv.URL, Dir: filepath.Join(t.TempDir(), "models"), Backoff: 1}
	if log != nil {
		p.Log = log
	}
	return p
}

func TestPullFolder(t *testing.T) {
	fx := newFixture(t)
	var log bytes.Buffer
	p := fx.puller(t, &log)
	dir, err := p.Pull(context.Background(), fx.m)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, f := range fx.m.Files {
		want, _ := os.ReadFile(filepath.Join(fx.dir, f.Path))
		got, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d (%v)", f.Path, len(got), len(want), err)
		}
		if _, err := os.Stat(filepath.Join(dir, f.Path+".part")); err == nil {
			t.Errorf("%s.part left behind", f.Path)
		}
	}
	if _, _, err := optimum.CheckSeq2Seq(dir); err != nil {
		t.Errorf("pulled folder does not check: %v", err)
	}
	if !strings.Contains(log.String(), "tiny-bart/onnx/encoder_model.onnx") || !strings.Contains(log.String(), "B/s") {
		t.Errorf("no progress on the log:\n%s", log.String())
	}
	if strings.Contains(log.String(), "warning") {
		t.Errorf("a pinned model warned:\n%s", log.String())
	}
	// A second pull finds every file in place and requests nothing.
	n := len(fx.requests)
	if _, err := p.Pull(context.Background(), fx.m); err != nil {
		t.Fatal(err)
	}
	if len(fx.requests) != n {
		t.Errorf("second pull made %d requests", len(fx.requests)-n)
	}
}

func TestPullResumesAfterCut(t *testing.T) {
	fx := newFixture(t)
	fx.cut = "onnx/encoder_model.onnx"
	var log bytes.Buffer
	p := fx.puller(t, &log)
	dir, err := p.Pull(context.Background(), fx.m)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	want, _ := os.ReadFile(filepath.Join(fx.dir, fx.cut))
	got, _ := os.ReadFile(filepath.Join(dir, fx.cut))
	if !bytes.Equal(got, want) {
		t.Fatalf("resumed file differs: %d bytes, want %d", len(got), len(want))
	}
	var ranges []string
	for _, r := range fx.requests {
		if strings.HasPrefix(r, fx.cut+" ") {
			ranges = append(ranges, strings.TrimPrefix(r, fx.cut+" "))
		}
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.Itoa(len(want)/2)+"-" {
		t.Errorf("requests for the cut file: %q, want a full one then bytes=%d-", ranges, len(want)/2)
	}
	if !strings.Contains(log.String(), "broke off") {
		t.Errorf("log does not say the transfer broke off:\n%s", log.String())
	}
}

func TestPullResumesPartFile(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t, nil)
	f := fx.m.Files[0]
	want, _ := os.ReadFile(filepath.Join(fx.dir, f.Path))
	dst := filepath.Join(p.Folder(fx.m), f.Path)
	os.MkdirAll(filepath.Dir(dst), 0o755)
	os.WriteFile(dst+".part", want[:3], 0o644) // left by an earlier, interrupted run
	m := fx.m
	m.Files = []File{f}
	if _, err := p.Pull(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(fx.requests) != 1 || fx.requests[0] != f.Path+" bytes=3-" {
		t.Errorf("requests %q", fx.requests)
	}
}

func TestPullVerificationFailure(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		name   string
		change func(*File)
		says   string
	}{
		{"sha256", func(f *File) { f.SHA256 = strings.Repeat("0", 64) }, "sha256"},
		{"size", func(f *File) { f.Size++ }, "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := fx.puller(t, nil)
			m := fx.m
			m.Files = append([]File(nil), fx.m.Files...)
			i := len(m.Files) - 1
			c.change(&m.Files[i])
			_, err := p.Pull(context.Background(), m)
			if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(lecture.ErrorMessage(err), m.Files[i].Path) ||
				!strings.Contains(lecture.ErrorMessage(err), c.says) {
				t.Fatalf("error %v", err)
			}
			dst := filepath.Join(p.Folder(m), m.Files[i].Path)
			for _, left := range []string{dst, dst + ".part"} {
				if _, err := os.Stat(left); err == nil {
					t.Errorf("%s left behind", left)
				}
			}
		})
	}
}

func TestPullOffline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	fx := newFixture(t)
	p := &Puller{BaseURL: "http://" + addr, Dir: t.TempDir(), Backoff: 1}
	_, err = p.Pull(context.Background(), fx.m)
	msg := lecture.ErrorMessage(err)
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(msg, "cannot reach "+addr) ||
		!strings.Contains(msg, "TRANSCEPT_MODELS_URL") || !strings.Contains(msg, "TRANSCEPT_MODELS_DIR") {
		t.Errorf("offline error: %v", err)
	}
}

func TestPullNotFoundAndUnpinned(t *testing.T) {
	fx := newFixture(t)
	var log bytes.Buffer
	p := fx.puller(t, &log)
	m := fx.m
	m.Files = []File{{Path: "onnx/missing.onnx"}}
	if _, err := p.Pull(context.Background(), m); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "onnx/missing.onnx") {
		t.Errorf("missing file: %v", err)
	}
	// Unpinned: fetched with a warning, and its size and sha256 printed.
	f := fx.m.Files[0]
	m.Files, m.Revision = []File{{Path: f.Path}}, "r1"
	log.Reset()
	if _, err := p.Pull(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "warning: tiny-bart/"+f.Path+": size and sha256 not pinned") ||
		!strings.Contains(log.String(), "pin: test/tiny-bart "+f.Path+" size "+strconv.Itoa(int(f.Size))+" sha256 "+f.SHA256) {
		t.Errorf("log:\n%s", log.String())
	}
	m.Files = []File{{Path: "../escape"}}
	if _, err := p.Pull(context.Background(), m); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("path outside the folder: %v", err)
	}
}

func TestList(t *testing.T) {
	names := map[string]bool{}
	for _, m := range List {
		if names[m.Name] || m.Repo == "" || len(m.Files) == 0 || m.Task == "" {
			t.Errorf("model %+v: duplicate name or missing fields", m)
		}
		names[m.Name] = true
		for _, f := range m.Files {
			if f.SHA256 != "" && len(f.SHA256) != 64 {
				t.Errorf("%s %s: sha256 %q", m.Name, f.Path, f.SHA256)
			}
		}
	}
	for _, want := range []string{"distilbart-cnn-6-6", "bart-large-cnn"} {
		if !names[want] {
			t.Errorf("no %s", want)
		}
	}
	def, _ := Lookup(List)
	if len(def) == 0 || def[0].Name != "distilbart-cnn-6-6" {
		t.Errorf("defaults %v", def)
	}
	got, err := Lookup(List, "Xenova/bart-large-cnn", "whisper-small")
	if err != nil || len(got) != 2 || got[0].Name != "bart-large-cnn" {
		t.Errorf("lookup: %v %v", got, err)
	}
	if _, err := Lookup(List, "gpt-5"); lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "distilbart-cnn-6-6") {
		t.Errorf("unknown: %v", err)
	}
	p := &Puller{}
	if u := p.URL(List[0], List[0].Files[0]); u != HubURL+"/Xenova/distilbart-cnn-6-6/resolve/main/config.json" {
		t.Errorf("URL %s", u)
	}
}

func TestContentRange(t *testing.T) {
	for h, want := range map[string][3]int64{"bytes 10-19/20": {10, 20, 1}, "bytes */20": {0, 20, 1}, "bytes 0-4/*": {0, -1, 1}, "junk": {0, 0, 0}} {
		s, tot, ok := contentRange(h)
		if s != want[0] || tot != want[1] || ok != (want[2] == 1) {
			t.Errorf("%q: %d %d %v", h, s, tot, ok)
		}
	}
}
