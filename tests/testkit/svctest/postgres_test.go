package svctest

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestPostgres(t *testing.T) {
	s := StartPostgres(t)
	a, b := s.CreateDatabase(t), s.CreateDatabase(t)
	if a == b || !strings.HasPrefix(a, "postgres://postgres@127.0.0.1:") {
		t.Errorf("CreateDatabase URLs %q and %q: want two postgres:// URLs on loopback", a, b)
	}
	c, err := net.DialTimeout("tcp", addr(s.Port), time.Second)
	if err != nil {
		t.Fatalf("the server does not accept connections: %v", err)
	}
	c.Close()
	s.Stop()
	if c, err := net.DialTimeout("tcp", addr(s.Port), time.Second); err == nil {
		c.Close()
		t.Errorf("the server still accepts connections after Stop")
	}
	s.Stop() // twice is harmless
}
