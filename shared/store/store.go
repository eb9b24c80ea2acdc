// Package store holds what every object-store adapter shares: the key
// convention "<lecture_id>/<name>", its validation, the known buckets, lecture
// ids, and a reader that enforces a declared size and a size limit.
//
// The adapters live below it: store/fs (a directory tree) and store/minio (an
// S3 server); store/storetest is the conformance suite both pass.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// Limits of the key convention.
const (
	MaxLectureIDLen = 64
	MaxNameLen      = 128
	MaxKeyLen       = MaxLectureIDLen + 1 + MaxNameLen
)

// Buckets lists the buckets every store knows, in a fixed order.
var Buckets = []string{lecture.BucketRaw, lecture.BucketPreprocessed, lecture.BucketModels}

// ValidateBucket returns an EINVALID *lecture.Error unless bucket is one of Buckets.
func ValidateBucket(bucket string) error {
	for _, b := range Buckets {
		if bucket == b {
			return nil
		}
	}
	return lecture.Errorf(lecture.EINVALID, "unknown bucket %s (want one of %s)", quote(bucket), strings.Join(Buckets, ", "))
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
		return lecture.Errorf(lecture.EINVALID, "invalid lecture id %s: %s", quote(id), err)
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
		return lecture.Errorf(lecture.EINVALID, "invalid object name %s: %s", quote(name), err)
	}
	return nil
}

// ValidateKey checks an object key: "<lecture_id>/<name>" with exactly one
// slash, a valid lecture id and a valid name. Anything else (absolute or
// relative paths, "..", backslashes, NUL, non-ASCII, overlong keys) is an
// EINVALID *lecture.Error.
func ValidateKey(key string) error {
	if key == "" {
		return lecture.Errorf(lecture.EINVALID, "invalid key: empty (want <lecture_id>/<name>)")
	}
	if len(key) > MaxKeyLen {
		return lecture.Errorf(lecture.EINVALID, "invalid key %s: %d bytes long, at most %d allowed", quote(key), len(key), MaxKeyLen)
	}
	i := strings.IndexByte(key, '/')
	if i < 0 || strings.IndexByte(key[i+1:], '/') >= 0 {
		return lecture.Errorf(lecture.EINVALID, "invalid key %s: want exactly one slash, as in <lecture_id>/<name>", quote(key))
	}
	if err := checkSegment(key[:i], MaxLectureIDLen, "-"); err != nil {
		return lecture.Errorf(lecture.EINVALID, "invalid key %s: lecture id %s", quote(key), err)
	}
	if err := checkName(key[i+1:]); err != nil {
		return lecture.Errorf(lecture.EINVALID, "invalid key %s: name %s", quote(key), err)
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
		return lecture.Errorf(lecture.EINVALID, "invalid prefix %s: %d bytes long, at most %d allowed", quote(prefix), len(prefix), MaxKeyLen)
	}
	id, name, hasSlash := strings.Cut(prefix, "/")
	if hasSlash && strings.IndexByte(name, '/') >= 0 {
		return lecture.Errorf(lecture.EINVALID, "invalid prefix %s: more than one slash", quote(prefix))
	}
	if hasSlash || id != "" {
		if err := checkSegment(id, MaxLectureIDLen, "-"); err != nil {
			return lecture.Errorf(lecture.EINVALID, "invalid prefix %s: lecture id %s", quote(prefix), err)
		}
	}
	if hasSlash && name != "" {
		if err := checkSegment(name, MaxNameLen, "", nameExtra); err != nil {
			return lecture.Errorf(lecture.EINVALID, "invalid prefix %s: name %s", quote(prefix), err)
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

// DefaultContentType is the content type of an object of unknown type.
const DefaultContentType = "application/octet-stream"

// ContentType returns contentType when set, or else the type the key's
// extension suggests, or else DefaultContentType.
func ContentType(key, contentType string) string {
	if contentType != "" {
		return contentType
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return DefaultContentType
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

// CheckReader wraps r for a Put: it fails with an EINVALID *lecture.Error when
// size >= 0 and r yields fewer or more than size bytes, with an ETOOLARGE one
// when max > 0 and r yields more than max bytes, and with the context's error
// once ctx is done. It reads at most one byte past the expected end.
func CheckReader(ctx context.Context, r io.Reader, size, max int64) io.Reader {
	return &checkReader{ctx: ctx, r: r, size: size, max: max}
}

type checkReader struct {
	ctx       context.Context
	r         io.Reader
	size, max int64
	n         int64
	err       error
}

func (c *checkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = lecture.Wrap(lecture.EUNAVAILABLE, err, "upload cancelled")
		return 0, c.err
	}
	limit := int64(-1) // bytes still allowed, -1: unbounded
	if c.size >= 0 {
		limit = c.size - c.n
	}
	if c.max > 0 && (limit < 0 || c.max-c.n < limit) {
		limit = c.max - c.n
	}
	if limit == 0 {
		// At the allowed end: the source must be exhausted too.
		c.err = c.probeEnd()
		return 0, c.err
	}
	if limit > 0 && int64(len(p)) > limit {
		p = p[:limit]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	switch {
	case err == io.EOF:
		if c.size >= 0 && c.n != c.size {
			c.err = lecture.Errorf(lecture.EINVALID, "upload ended after %d bytes, %d declared", c.n, c.size)
			return n, c.err
		}
		c.err = io.EOF
		return n, io.EOF
	case err != nil:
		c.err = err
		return n, err
	}
	if limit > 0 && int64(n) == limit {
		// Reached the allowed end: find out now whether more follows, so
		// that a consumer that stops reading at the declared size (an HTTP
		// body of known length) still sees the error.
		e := c.probeEnd()
		c.err = e // io.EOF: the next Read reports the end
		if e != io.EOF {
			return n, e
		}
	}
	return n, nil
}

// probeEnd reads one byte past the allowed end: io.EOF when there is none.
func (c *checkReader) probeEnd() error {
	var one [1]byte
	for range 100 {
		n, err := c.r.Read(one[:])
		if n > 0 {
			if c.size >= 0 && (c.max <= 0 || c.size <= c.max) {
				return lecture.Errorf(lecture.EINVALID, "upload longer than the %d bytes declared", c.size)
			}
			return lecture.Errorf(lecture.ETOOLARGE, "upload larger than the limit of %d bytes", c.max)
		}
		if err == io.EOF {
			if c.size >= 0 && c.n != c.size {
				return lecture.Errorf(lecture.EINVALID, "upload ended after %d bytes, %d declared", c.n, c.size)
			}
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
