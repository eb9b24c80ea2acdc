package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// faultClient talks to a server under test.
type faultClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (f *faultClient) post(path, ctype string, body []byte) (int, map[string]any) {
	f.t.Helper()
	resp, err := f.c.Post(f.base+path, ctype, bytes.NewReader(body))
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (f *faultClient) get(path string) (int, map[string]any) {
	f.t.Helper()
	resp, err := f.c.Get(f.base + path)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func errMessage(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		s, _ := e["message"].(string)
		return s
	}
	return ""
}

func (f *faultClient) upload(text string) (int, string, map[string]any) {
	f.t.Helper()
	b, _ := json.Marshal(map[string]string{"text": text, "name": "fault.txt"})
	code, m := f.post("/lectures", "application/json", b)
	id, _ := m["id"].(string)
	return code, id, m
}

// waitStatus polls a lecture until it reaches want or the deadline passes.
func (f *faultClient) waitStatus(id, want string, within time.Duration) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(within)
	var m map[string]any
	for time.Now().Before(deadline) {
		_, m = f.get("/lectures/" + id)
		if m["status"] == want {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("lecture %s: %v after %s, want %s", id, m["status"], within, want)
	return nil
}

func lectureOf(kb int) string {
	var b strings.Builder
	for i := 0; b.Len() < kb<<10; i++ {
		fmt.Fprintf(&b, "Prof: Point %d: entropy of an isolated system never decreases, so heat flows from hot body %d to cold body %d.\n", i, i%7, i%11)
	}
	return b.String()
}

// needRoot mounts need root (CI runs as root; elsewhere this skips).
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		svctest.Missing(t, "root, to mount a small tmpfs as the object store")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		svctest.Missing(t, "mount -t tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// A full disk: uploads answer 503 naming it, /readyz is not ready, a stage
// that cannot write waits instead of failing the lecture, and everything
// resumes once space is freed. Nothing half-written stays.
func TestFaultDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	_ = os.MkdirAll(dir, 0o755)
	mountTmpfs(t, dir, "4m")
	bin := buildBinary(t)
	// The catalogue database on its own disk: these tests break the object store's.
	s := startServer(t, bin, []string{"TRANSCEPT_STORE_DIR=" + dir, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "catalogue.db")})
	defer s.stop(30 * time.Second)
	f := &faultClient{t: t, base: s.base, c: &http.Client{Timeout: 30 * time.Second}}

	// Fill the disk but for about 300 KB: a 200 KB upload fits, its
	// transcript (JSON, larger) does not.
	filler := filepath.Join(dir, "filler")
	fill(t, filler, 4<<20-300<<10)
	code, id, m := f.upload(lectureOf(200))
	if code != 202 {
		t.Fatalf("upload with room for it: %d %v", code, m)
	}
	time.Sleep(500 * time.Millisecond)
	if _, m := f.get("/lectures/" + id); m["status"] != "processing" {
		t.Fatalf("while the disk is full: %v", m["status"])
	}
	fill(t, filler+"2", 1<<30) // now nothing fits
	if code, m := f.get("/readyz"); code != 503 || !strings.Contains(errMessage(m), "full") {
		t.Errorf("/readyz with a full disk: %d %v", code, m)
	}
	code, _, m = f.upload(lectureOf(50))
	if code != 503 || !strings.Contains(errMessage(m), "disk is full") {
		t.Errorf("upload to a full disk: %d %v", code, m)
	}
	_ = os.Remove(filler)
	_ = os.Remove(filler + "2")
	if code, m := f.get("/readyz"); code != 200 {
		t.Errorf("/readyz after freeing space: %d %v", code, m)
	}
	f.waitStatus(id, "ready", 60*time.Second)
	code, id2, _ := f.upload(lectureOf(50))
	if code != 202 {
		t.Fatalf("upload after freeing space: %d", code)
	}
	f.waitStatus(id2, "ready", 30*time.Second)
	assertNoTemp(t, dir)
}

// A read-only store: 503 naming it, not ready; writable again: ready, and
// work goes on.
func TestFaultReadOnlyStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	_ = os.MkdirAll(dir, 0o755)
	mountTmpfs(t, dir, "64m")
	bin := buildBinary(t)
	// The catalogue database on its own disk: these tests break the object store's.
	s := startServer(t, bin, []string{"TRANSCEPT_STORE_DIR=" + dir, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "catalogue.db")})
	defer s.stop(30 * time.Second)
	f := &faultClient{t: t, base: s.base, c: &http.Client{Timeout: 30 * time.Second}}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	code, _, m := f.upload(lectureOf(20))
	if code != 503 || !strings.Contains(errMessage(m), "read-only") {
		t.Errorf("upload to a read-only store: %d %v", code, m)
	}
	if code, m := f.get("/readyz"); code != 503 || !strings.Contains(errMessage(m), "read-only") {
		t.Errorf("/readyz with a read-only store: %d %v", code, m)
	}
	if out, err := exec.Command("mount", "-o", "remount,rw", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount rw: %v %s", err, out)
	}
	if code, _ := f.get("/readyz"); code != 200 {
		t.Errorf("/readyz once writable: %d", code)
	}
	code, id, _ := f.upload(lectureOf(20))
	if code != 202 {
		t.Fatalf("upload once writable: %d", code)
	}
	f.waitStatus(id, "ready", 30*time.Second)
	assertNoTemp(t, dir)
}

// MinIO stopped while a lecture is processing and while uploading: 503s
// that name the object store, not ready; restarted: the lecture finishes.
// Redis stopped: summaries are computed without the cache; restarted: the
// cache serves again.
func TestFaultMinIOAndRedisRestart(t *testing.T) {
	mi := svctest.StartMinIO(t)
	rd := svctest.StartRedis(t)
	bin := buildBinary(t)
	s := startServer(t, bin, []string{"MINIO_ENDPOINT=" + mi.Endpoint, "MINIO_ACCESS_KEY=" + mi.AccessKey, "MINIO_SECRET_KEY=" + mi.SecretKey,
		"REDIS_URL=" + rd.URL, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_STORE_DIR=" + t.TempDir()})
	defer s.stop(30 * time.Second)
	f := &faultClient{t: t, base: s.base, c: &http.Client{Timeout: 60 * time.Second}}

	code, id, _ := f.upload(lectureOf(1500)) // big enough to be mid-pipeline at the stop
	if code != 202 {
		t.Fatalf("upload: %d", code)
	}
	mi.Stop()
	code, _, m := f.upload(lectureOf(5))
	if code != 503 || !strings.Contains(strings.ToLower(errMessage(m)), "object store") {
		t.Errorf("upload with MinIO stopped: %d %v", code, m)
	}
	if code, _ := f.get("/readyz"); code != 503 {
		t.Errorf("/readyz with MinIO stopped: %d", code)
	}
	time.Sleep(2 * time.Second) // stages meet the outage and wait
	mi.Restart()
	waitFor200(t, f, "/readyz", 30*time.Second)
	f.waitStatus(id, "ready", 90*time.Second)

	body, _ := json.Marshal(map[string]string{"text": lectureOf(8)})
	rd.Stop()
	if code, m := f.post("/summarize", "application/json", body); code != 200 || m["cached"] != false {
		t.Errorf("/summarize with Redis stopped: %d cached=%v", code, m["cached"])
	}
	rd.Restart()
	for i := range 2 {
		resp, err := f.c.Post(f.base+"/summarize", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i == 1 && resp.Header.Get("X-Transcept-Cache") != "hit" {
			t.Errorf("no cache hit after Redis came back: %d", resp.StatusCode)
		}
	}
}

// Timeouts: a body that stalls after the headers is cut off with 408 after
// TRANSCEPT_BODY_TIMEOUT; an idle keep-alive connection is closed after
// TRANSCEPT_IDLE_TIMEOUT; SIGTERM stops within the grace period, leaving
// queued work for the next start, which finishes it.
func TestTimeoutsAndGracefulStop(t *testing.T) {
	bin := buildBinary(t)
	store := t.TempDir()
	env := []string{"TRANSCEPT_STORE_DIR=" + store, "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_BODY_TIMEOUT=1s",
		"TRANSCEPT_IDLE_TIMEOUT=1s", "TRANSCEPT_SHUTDOWN_GRACE=2s", "TRANSCEPT_WORKERS=1", "TRANSCEPT_SMALL_JOB_BYTES=0"}
	s := startServer(t, bin, env)
	host := strings.TrimPrefix(s.base, "http://")

	for _, req := range []string{
		"POST /summarize HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nEntropy grows",
		"POST /lectures HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n",
		"POST /lectures?name=a.wav HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 100000\r\n\r\nRIFF",
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, _ = conn.Write([]byte(req))
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, _ := io.ReadAll(conn)
		conn.Close()
		status := strings.SplitN(string(resp), "\r\n", 2)[0]
		held := time.Since(t0)
		if held > 10*time.Second {
			t.Errorf("stalled %q held %s", firstLine(req), held)
		}
		// The recording without a model is refused at once (503); the
		// others wait for their body and give up with 408.
		if !strings.Contains(status, "408") && !strings.Contains(status, "503") {
			t.Errorf("stalled %q: %q after %s", firstLine(req), status, held)
		}
		t.Logf("stalled %s: %s after %s", firstLine(req), status, held.Round(10*time.Millisecond))
	}

	// Idle keep-alive: closed by the server.
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(buf); err != io.EOF {
		t.Errorf("idle connection: %v after %s, want the server to close it", err, time.Since(t0))
	}
	conn.Close()

	// Graceful stop with work queued: lectures big enough to take a while.
	f := &faultClient{t: t, base: s.base, c: &http.Client{Timeout: 30 * time.Second}}
	var ids []string
	for range 6 {
		code, id, _ := f.upload(lectureOf(1200))
		if code != 202 {
			t.Fatalf("upload: %d", code)
		}
		ids = append(ids, id)
	}
	if d := s.stop(30 * time.Second); d > 2*time.Second+5*time.Second {
		t.Errorf("SIGTERM took %s with a 2 s grace period", d)
	} else {
		t.Logf("SIGTERM with 6 lectures queued: stopped in %s", d.Round(10*time.Millisecond))
	}
	s2 := startServer(t, bin, env)
	defer s2.stop(30 * time.Second)
	f.base = s2.base
	for _, id := range ids {
		f.waitStatus(id, string(lecture.StatusReady), 120*time.Second)
	}
	assertNoTemp(t, store)
}

func firstLine(s string) string { return strings.SplitN(s, "\r\n", 2)[0] }

func waitFor200(t *testing.T, f *faultClient, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := f.c.Get(f.base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within %s", path, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fill writes up to n bytes (stopping quietly when the disk is full).
func fill(t *testing.T, path string, n int) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	chunk := make([]byte, 64<<10)
	for written := 0; written < n; written += len(chunk) {
		if _, err := fh.Write(chunk[:min(len(chunk), n-written)]); err != nil {
			return
		}
	}
}

func assertNoTemp(t *testing.T, root string) {
	t.Helper()
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
