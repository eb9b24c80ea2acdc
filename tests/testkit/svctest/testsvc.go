// Package svctest starts real services (Redis, MinIO) on loopback for tests.
// Each server runs in a temporary directory and is killed when the test ends.
//
// When a binary is missing the test is skipped with a hint on how to install
// it, unless TRANSCEPT_REQUIRE_SERVICES=1, in which case it fails.
package svctest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the variable that turns a missing service into a failure.
const RequireEnv = "TRANSCEPT_REQUIRE_SERVICES"

// missing skips or fails t because a binary is not installed.
func missing(t testing.TB, what, hint string) {
	t.Helper()
	Missing(t, "svctest: %s not found; %s", what, hint)
}

// Missing skips t, saying what is missing, or fails it when
// TRANSCEPT_REQUIRE_SERVICES=1 (as CI sets: there nothing may be skipped).
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, RequireEnv)
	}
	t.Skipf("%s (or set %s=1 to fail instead of skipping)", msg, RequireEnv)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("svctest: no free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// proc is a running server process and its output.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

func startProc(bin string, args, env []string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a Ctrl-C of the test run does not
	// race the cleanup, and the group can be killed together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the process (SIGTERM, then SIGKILL after grace) and waits.
func (p *proc) kill(grace time.Duration) {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// tail returns the last lines of the process output, for error messages.
func (p *proc) tail() string {
	b := p.out.Bytes()
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady polls ready until it returns nil, the process exits, or the
// deadline passes.
func (p *proc) waitReady(deadline time.Duration, ready func() error) error {
	end := time.Now().Add(deadline)
	var err error
	for time.Now().Before(end) {
		if p.exited() {
			return fmt.Errorf("exited early (%v); output:\n%s", p.err, p.tail())
		}
		if err = ready(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v (last error: %v); output:\n%s", deadline, err, p.tail())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep memory bounded for chatty servers
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte{}, s.b.Bytes()...)
}
