package svctest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRedis(t *testing.T) {
	s := StartRedis(t)
	if !strings.HasPrefix(s.URL, "redis://127.0.0.1:") || !strings.HasSuffix(s.URL, "/0") {
		t.Errorf("URL = %q", s.URL)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if !s.Running() {
		t.Error("Running() = false after start")
	}
	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if s.Running() {
		t.Error("Running() = true after Stop")
	}
	if err := ping(s.Addr); err == nil {
		t.Error("PING succeeded after Stop")
	}
	s.Stop() // twice is fine
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	// Nothing is written to the working directory (no RDB, no AOF).
	ents, _ := os.ReadDir(s.Dir)
	for _, e := range ents {
		t.Errorf("redis wrote %s into its directory", e.Name())
	}
}

func TestRedisFunc(t *testing.T) {
	url := Redis(t)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
	if err := ping(host); err != nil {
		t.Fatalf("PING %s: %v", host, err)
	}
}

func TestRedisKilledAtCleanup(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = StartRedis(t).Addr
	})
	if addr == "" {
		t.Skip("redis-server not available")
	}
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Errorf("redis on %s still accepts connections after its test ended", addr)
	}
}

func TestMinIO(t *testing.T) {
	// Extra environment reaches the server and does not break start-up.
	s := StartMinIOEnv(t, "MINIO_API_REQUESTS_MAX=100")
	if len(s.Env) != 1 {
		t.Errorf("Env = %v", s.Env)
	}
	resp, err := http.Get(s.URL() + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %s", resp.Status)
	}
	// An anonymous request is refused: the server has credentials.
	resp, err = http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous ListBuckets: %s, want 403", resp.Status)
	}
	if s.Process() == nil || s.Process().Pid <= 0 {
		t.Error("Process() is nil while running")
	}
	s.Restart()
	resp, err = http.Get(s.URL() + "/minio/health/live")
	if err != nil {
		t.Fatalf("health after restart: %v", err)
	}
	resp.Body.Close()
	s.Stop()
	if s.Process() != nil {
		t.Error("Process() not nil after Stop")
	}
	if _, err := http.Get(s.URL() + "/minio/health/live"); err == nil {
		t.Error("health answered after Stop")
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(MinIOBinEnv, filepath.Join(t.TempDir(), "no-such-minio"))
	if p := FindMinIO(); p != "" {
		t.Fatalf("FindMinIO with a missing %s = %q, want \"\"", MinIOBinEnv, p)
	}
	// Skipping and failing are decided by the environment.
	for _, tc := range []struct {
		env         string
		fail, skips bool
	}{{"", false, true}, {"1", true, false}} {
		t.Setenv(RequireEnv, tc.env)
		ft := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() { // Skipf and Fatalf end the goroutine
			defer close(done)
			StartMinIO(ft)
		}()
		<-done
		if ft.failed != tc.fail || ft.skipped != tc.skips {
			t.Errorf("%s=%q: failed %v, skipped %v; want %v, %v", RequireEnv, tc.env, ft.failed, ft.skipped, tc.fail, tc.skips)
		}
		if !strings.Contains(ft.msg, "go install github.com/minio/minio@") || !strings.Contains(ft.msg, "make minio") {
			t.Errorf("message lacks the install hint: %q", ft.msg)
		}
	}
}

// fakeTB records Skipf and Fatalf instead of ending the real test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestFreePort: the ports are free, never handed out twice, and below the
// kernel's ephemeral range, where port 0 listeners and outgoing connections
// take theirs: a port 0 listener held open meanwhile is never returned.
func TestFreePort(t *testing.T) {
	lo, hi := portWindow()
	window := hi-lo >= 1000 // else ports come from port 0, still never twice
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	seen := map[int]bool{}
	for range 300 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if window && (p < lo || p >= hi) || p == heldPort {
			t.Fatalf("port %d outside [%d, %d) or held by a listener", p, lo, hi)
		}
		l, err := net.Listen("tcp", addr(p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
	if a := FreeAddr(t); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("FreeAddr = %q", a)
	}
}
