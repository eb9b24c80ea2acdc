// Package store holds what every object-store adapter shares beyond the key
// convention (which is the domain's, in shared/lecture): the content type of
// an object and a reader that enforces a declared size and a size limit.
//
// The adapters live below it: store/fs (a directory tree) and store/minio (an
// S3 server); tests/testkit/storetest is the conformance suite both pass.
package store

import (
	"context"
	"io"
	"mime"
	"path"

	"github.com/transcept/transcept/shared/lecture"
)

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
