package auth

import (
	"strings"
	"testing"
)

func TestSafeRedirect(t *testing.T) {
	for _, ok := range []string{"/", "/lectures", "/lectures/lec-1?tab=summary#q3", "/search?q=a%20b", "/a/b/", "/%2e%2ex"} {
		if got := SafeRedirect(ok); got != ok {
			t.Errorf("SafeRedirect(%q) = %q, want it kept", ok, got)
		}
	}
	if got := SafeRedirect(`/lectures\lec-1`); got != "/lectures/lec-1" {
		t.Errorf("backslash: %q", got)
	}
	for _, bad := range []string{
		"", "//evil.example", "///evil.example", `/\evil.example`, `\\evil.example`, `\/evil.example`,
		"https://evil.example", "http:/evil.example", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
		"evil.example", "lectures", "./x", "?next=/", "#x", "/\t/evil.example", "/\n/evil.example", "\x00/x",
		"/%2F%2Fevil.example", "/%2f/evil.example", "/../evil", "/a/../../b", "/./x", "/%2e%2e/x", "/x/%2E",
		" /x", "/x y", "/caf\xc3\xa9", "\u3002/evil", "https:\\\\evil.example", "/" + strings.Repeat("a", 3000),
		"//user@evil.example/", "/\\/evil.example", "%2F%2Fevil.example",
	} {
		if got := SafeRedirect(bad); got != "/" {
			t.Errorf("SafeRedirect(%q) = %q, want /", bad, got)
		}
	}
}
