package main

import (
	"strings"
	"testing"
)

// TestServeRefusesWithoutAuth: on a non-loopback address sign-in is on,
// and with no account and no identity provider serve refuses to start,
// saying how to fix it; TRANSCEPT_AUTH=on on loopback likewise.
func TestServeRefusesWithoutAuth(t *testing.T) {
	for _, c := range []struct {
		addr string
		env  map[string]string
		want string
	}{
		{"0.0.0.0:0", nil, "is not a loopback address"},
		{":0", nil, "is not a loopback address"},
		{"127.0.0.1:0", map[string]string{"TRANSCEPT_AUTH": "on"}, "TRANSCEPT_AUTH=on"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		code, out, errs := runCLI(t, "", "serve", "--addr", c.addr)
		if code == 0 || out != "" || !strings.Contains(errs, c.want) || !strings.Contains(errs, "transcept users create EMAIL --admin") || !strings.Contains(errs, "TRANSCEPT_OIDC_ISSUER") {
			t.Errorf("serve --addr %s %v: exit %d, stdout %q, stderr %q", c.addr, c.env, code, out, errs)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
}
