package lecture

// The object-key convention "<lecture_id>/<name>", its validation, the known
// buckets and lecture ids: the one place that knows them.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits of the key convention.
const (
	MaxLectureIDLen = 64
	MaxNameLen      = 128
	MaxKeyLen       = MaxLectureIDLen + 1 + MaxNameLen
)

// Buckets lists the buckets every store knows, in a fixed order.
var Buckets = []string{BucketRaw, BucketPreprocessed, BucketModels, BucketEval}

// ValidateBucket returns an EINVALID *Error unless bucket is one of Buckets.
func ValidateBucket(bucket string) error {
	for _, b := range Buckets {
		if bucket == b {
			return nil
		}
	}
	return Errorf(EINVALID, "unknown bucket %s (want one of %s)", quote(bucket), strings.Join(Buckets, ", "))
}

// Key joins a lecture id and an object name into a key. It does not validate;
// pass the result to ValidateKey (every store does).
func Key(lectureID, name string) string { return lectureID + "/" + name }

// SplitKey splits a valid key into its lecture id and name.
func SplitKey(key string) (lectureID, name string, err error) {
	if err := ValidateKey(key); err != nil {
		return "", "", err
	}
	i := strings.IndexByte(key, '/')
	return key[:i], key[i+1:], nil
}

// ValidateLectureID checks a lecture id: 1 to 64 characters of [A-Za-z0-9._-]
// that do not start with '.' or '-' (so never "." or "..").
func ValidateLectureID(id string) error {
	if err := checkSegment(id, MaxLectureIDLen, "-"); err != nil {
		return Errorf(EINVALID, "invalid lecture id %s: %s", quote(id), err)
	}
	return nil
}

// nameExtra are the bytes a name may hold beyond an id's: file names that
// people upload ("Lecture 3 (part 2).mp4") are names, never path syntax.
const nameExtra = " +(),@="

// ValidateName checks an object name, the part of a key after the slash: 1 to
// 128 characters of [A-Za-z0-9._-] and " +(),@=", not starting with '.' and
// neither starting nor ending with a space.
func ValidateName(name string) error {
	if err := checkName(name); err != nil {
		return Errorf(EINVALID, "invalid object name %s: %s", quote(name), err)
	}
	return nil
}

// ValidateKey checks an object key: "<lecture_id>/<name>" with exactly one
// slash, a valid lecture id and a valid name. Anything else (absolute or
// relative paths, "..", backslashes, NUL, non-ASCII, overlong keys) is an
// EINVALID *Error.
func ValidateKey(key string) error {
	if key == "" {
		return Errorf(EINVALID, "invalid key: empty (want <lecture_id>/<name>)")
	}
	if len(key) > MaxKeyLen {
		return Errorf(EINVALID, "invalid key %s: %d bytes long, at most %d allowed", quote(key), len(key), MaxKeyLen)
	}
	i := strings.IndexByte(key, '/')
	if i < 0 || strings.IndexByte(key[i+1:], '/') >= 0 {
		return Errorf(EINVALID, "invalid key %s: want exactly one slash, as in <lecture_id>/<name>", quote(key))
	}
	if err := checkSegment(key[:i], MaxLectureIDLen, "-"); err != nil {
		return Errorf(EINVALID, "invalid key %s: lecture id %s", quote(key), err)
	}
	if err := checkName(key[i+1:]); err != nil {
		return Errorf(EINVALID, "invalid key %s: name %s", quote(key), err)
	}
	return nil
}

// ValidatePrefix checks a List prefix: empty, the start of a lecture id, or a
// lecture id, a slash and the start of a name. It admits the same characters
// as keys, so no prefix can reach outside a bucket.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return Errorf(EINVALID, "invalid prefix %s: %d bytes long, at most %d allowed", quote(prefix), len(prefix), MaxKeyLen)
	}
	id, name, hasSlash := strings.Cut(prefix, "/")
	if hasSlash && strings.IndexByte(name, '/') >= 0 {
		return Errorf(EINVALID, "invalid prefix %s: more than one slash", quote(prefix))
	}
	if hasSlash || id != "" {
		if err := checkSegment(id, MaxLectureIDLen, "-"); err != nil {
			return Errorf(EINVALID, "invalid prefix %s: lecture id %s", quote(prefix), err)
		}
	}
	if hasSlash && name != "" {
		if err := checkSegment(name, MaxNameLen, "", nameExtra); err != nil {
			return Errorf(EINVALID, "invalid prefix %s: name %s", quote(prefix), err)
		}
	}
	return nil
}

func checkName(s string) error {
	if strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return errors.New("must not start or end with a space")
	}
	return checkSegment(s, MaxNameLen, "", nameExtra)
}

// checkSegment checks one path segment: 1..max bytes of [A-Za-z0-9._-] and
// the extra bytes, not starting with '.' or any byte of badFirst.
func checkSegment(s string, max int, badFirst string, extra ...string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > max:
		return fmt.Errorf("is %d bytes long, at most %d allowed", len(s), max)
	case s[0] == '.':
		return errors.New("must not start with '.'")
	case strings.IndexByte(badFirst, s[0]) >= 0:
		return fmt.Errorf("must not start with %q", s[0])
	}
	for i := 0; i < len(s); i++ {
		if !segmentByte(s[i]) && (len(extra) == 0 || strings.IndexByte(extra[0], s[i]) < 0) {
			allowed := "A-Z a-z 0-9 . _ -"
			if len(extra) > 0 {
				allowed += " and " + strings.Join(strings.Split(extra[0], ""), " ")
			}
			return fmt.Errorf("has a forbidden character %q at byte %d (allowed: %s)", s[i], i, allowed)
		}
	}
	return nil
}

func segmentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// quote renders a user-supplied string for a message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q… (%d bytes)", s[:64], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// NewLectureID returns a fresh lecture id that sorts by creation time to the
// second: "YYYYMMDD-hhmmss-" in UTC followed by 8 random hex digits, as in
// "20261127-005212-3f9a1c2e".
func NewLectureID() string {
	return newLectureID(time.Now())
}

func newLectureID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}
