// Package svctest starts real services (Redis, MinIO) on loopback for tests.
// Each server runs in a temporary directory and is killed when the test ends.
//
// When a binary is missing the test is skipped with a hint on how to install
// it, unless TRANSCEPT_REQUIRE_SERVICES=1, in which case it fails.
package svctest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a server the test starts in another process. It is drawn at random from
// below the kernel's ephemeral range (ip_local_port_range), where neither an
// outgoing connection nor another process's listener on port 0 is given a
// port, and it is never one this test process handed out before. (A port
// taken from port 0 and released can be given again to the next caller, or
// to any connection, before the server binds it: a function then failed to
// start with "address already in use" while its route led to another.)
func FreePort(t testing.TB) int {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	try := func(p int) bool {
		if given.ports[p] {
			return false
		}
		l, err := net.Listen("tcp", addr(p))
		if err != nil {
			return false
		}
		l.Close()
		given.ports[p] = true
		return true
	}
	if lo, hi := portWindow(); hi-lo >= 1000 {
		for range 200 {
			if p := lo + rand.IntN(hi-lo); try(p) {
				return p
			}
		}
	}
	for range 100 { // no window below the ephemeral range: port 0, never twice
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("svctest: no free loopback port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if try(p) {
			return p
		}
	}
	t.Fatal("svctest: no free loopback port")
	return 0
}

// FreeAddr is FreePort's port on 127.0.0.1, as host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return addr(FreePort(t))
}

// given holds the ports FreePort handed out.
var given struct {
	sync.Mutex
	ports map[int]bool
}

// portWindow is where FreePort draws from: 10000 up to the start of the
// kernel's ephemeral range (32768 where it cannot be read).
func portWindow() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var start, end int
		if n, _ := fmt.Sscan(string(b), &start, &end); n == 2 {
			hi = start
		}
	}
	return 10000, hi
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
