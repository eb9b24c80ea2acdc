package svctest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisHint tells how to install redis-server.
const RedisHint = "install it with: apt-get install redis-server"

// RedisServer is a redis-server on 127.0.0.1 for one test.
type RedisServer struct {
	Bin  string // the redis-server binary
	Addr string // host:port
	URL  string // redis://127.0.0.1:port/0
	Dir  string // working directory (nothing is persisted)

	t    testing.TB
	mu   sync.Mutex
	proc *proc
}

// Redis starts a redis-server for t and returns its URL. It is killed when
// the test ends.
func Redis(t testing.TB) (url string) {
	t.Helper()
	return StartRedis(t).URL
}

// FindRedis returns the path of redis-server, or "" when there is none.
func FindRedis() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// StartRedis starts a redis-server for t, waits until it answers PING
// (10 s at most) and registers its cleanup. Stop and Restart control it
// within the test.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin := FindRedis()
	if bin == "" {
		missing(t, "redis-server", RedisHint)
	}
	s := &RedisServer{Bin: bin, Dir: t.TempDir(), t: t}
	var err error
	for try := 0; try < 3; try++ { // the free port may be taken meanwhile
		port := FreePort(t)
		s.Addr = addr(port)
		s.URL = "redis://" + s.Addr + "/0"
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("svctest: redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *RedisServer) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	p, err := startProc(s.Bin, []string{
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.Dir, "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning",
	}, nil)
	if err != nil {
		return err
	}
	if err := p.waitReady(10*time.Second, func() error { return ping(s.Addr) }); err != nil {
		p.kill(time.Second)
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Stop kills the server; its address then refuses connections. Stopping a
// stopped server does nothing.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill(2 * time.Second)
	}
}

// Restart stops the server if it runs and starts it again on the same
// address, empty.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for try := 0; try < 20; try++ { // the port can linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("svctest: restarting redis-server on %s: %v", s.Addr, err)
}

// Running reports whether the server process is up.
func (s *RedisServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// ping sends PING in the inline protocol and expects +PONG.
func ping(address string) error {
	c, err := net.DialTimeout("tcp", address, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
