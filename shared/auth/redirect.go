package auth

import (
	"net/url"
	"strings"
)

// maxRedirectLen bounds the redirect targets SafeRedirect keeps.
const maxRedirectLen = 2048

// SafeRedirect returns next when it is a path on this site, "/" otherwise:
// it must start with one "/" (not "//" or "/\", backslashes counting as
// slashes, as browsers do), have no scheme, host or user, no "." or ".."
// segment, no control or non-ASCII bytes, and be at most 2048 bytes. The
// result has backslashes turned into slashes.
func SafeRedirect(next string) string {
	if next == "" || len(next) > maxRedirectLen {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x21 || c >= 0x7f { // controls, space, DEL, non-ASCII
			return "/"
		}
	}
	next = strings.ReplaceAll(next, `\`, "/")
	if next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "/"
		}
	}
	return next
}
