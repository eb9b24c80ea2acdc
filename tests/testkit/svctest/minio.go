package svctest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MinIO binary lookup and install hints.
const (
	MinIOBinEnv = "TRANSCEPT_MINIO_BIN"
	MinIOHint   = "run `make minio`, or: go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c " +
		"(or set " + MinIOBinEnv + " to the binary)"
)

// Credentials of every test MinIO server.
const (
	MinIOAccessKey = "transcept-test"
	MinIOSecretKey = "transcept-test-secret"
)

// MinIOServer is a single-drive MinIO server on 127.0.0.1 for one test.
type MinIOServer struct {
	Bin       string // the minio binary
	Endpoint  string // host:port of the S3 API (no scheme; plain HTTP)
	Console   string // host:port of the (disabled) console listener
	AccessKey string
	SecretKey string
	Dir       string   // data directory
	Env       []string // extra environment, e.g. MINIO_NOTIFY_WEBHOOK_* settings

	t    testing.TB
	mu   sync.Mutex
	proc *proc
}

// MinIO starts a MinIO server for t and returns its endpoint (host:port,
// plain HTTP) and credentials. It is killed when the test ends.
func MinIO(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	s := StartMinIO(t)
	return s.Endpoint, s.AccessKey, s.SecretKey
}

// FindMinIO returns the minio binary: $TRANSCEPT_MINIO_BIN, then minio on
// PATH, then ~/.cache/transcept-bin/minio, then $(go env GOPATH)/bin/minio.
// It returns "" when there is none.
func FindMinIO() string {
	if p := os.Getenv(MinIOBinEnv); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".cache", "transcept-bin", "minio"); isExecutable(p) {
			return p
		}
	}
	var gopaths []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		gopaths = filepath.SplitList(gp)
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopaths = filepath.SplitList(strings.TrimSpace(string(out)))
	}
	for _, gp := range gopaths {
		if p := filepath.Join(gp, "bin", "minio"); gp != "" && isExecutable(p) {
			return p
		}
	}
	return ""
}

// StartMinIO starts a MinIO server for t, waits until /minio/health/live and
// /minio/health/ready answer 200 (30 s at most) and registers its cleanup.
func StartMinIO(t testing.TB) *MinIOServer {
	t.Helper()
	return StartMinIOEnv(t)
}

// StartMinIOEnv is StartMinIO with extra environment variables ("K=V") for
// the server, such as a notification target; Restart keeps them.
func StartMinIOEnv(t testing.TB, env ...string) *MinIOServer {
	t.Helper()
	bin := FindMinIO()
	if bin == "" {
		where := "minio binary"
		if p := os.Getenv(MinIOBinEnv); p != "" {
			where = fmt.Sprintf("minio binary %s (from %s)", p, MinIOBinEnv)
		}
		missing(t, where, MinIOHint)
	}
	s := &MinIOServer{Bin: bin, AccessKey: MinIOAccessKey, SecretKey: MinIOSecretKey, Dir: t.TempDir(), Env: env, t: t}
	var err error
	for try := 0; try < 3; try++ {
		s.Endpoint, s.Console = FreeAddr(t), FreeAddr(t) // two different ports
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("svctest: minio: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *MinIOServer) start() error {
	p, err := startProc(s.Bin, []string{
		"server", s.Dir, "--address", s.Endpoint, "--console-address", s.Console, "--quiet",
	}, append([]string{
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	}, s.Env...))
	if err != nil {
		return err
	}
	// live: the process serves HTTP; ready: the object layer is up (before
	// that, S3 calls answer "Server not initialized yet").
	client := &http.Client{Timeout: time.Second}
	base := "http://" + s.Endpoint + "/minio/health/"
	err = p.waitReady(30*time.Second, func() error {
		for _, probe := range []string{"live", "ready"} {
			resp, err := client.Get(base + probe)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s%s: %s", base, probe, resp.Status)
			}
		}
		// And S3 requests are served: an anonymous ListBuckets is refused
		// (403) rather than answered "not initialized" (503).
		resp, err := client.Get("http://" + s.Endpoint + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("S3 API: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		p.kill(time.Second)
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// URL returns the endpoint as an http:// URL.
func (s *MinIOServer) URL() string { return "http://" + s.Endpoint }

// Process returns the server's process, e.g. to signal it; nil once stopped.
func (s *MinIOServer) Process() *os.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return s.proc.cmd.Process
}

// Output returns the end of the server's log, for diagnosing a test.
func (s *MinIOServer) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.tail()
}

// Stop kills the server; stopping a stopped server does nothing.
func (s *MinIOServer) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill(5 * time.Second)
	}
}

// Restart stops the server and starts it again on the same address and data
// directory, so stored objects and settings (such as bucket notifications)
// survive. It fails the test when the server does not come back.
func (s *MinIOServer) Restart() {
	t := s.t
	t.Helper()
	s.Stop()
	var err error
	for try := 0; try < 20; try++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("svctest: restarting minio on %s: %v", s.Endpoint, err)
}
