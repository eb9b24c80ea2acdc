package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/transcept/transcept/shared/lecture"
)

// FuzzCheckReader: reading through CheckReader yields exactly the data when
// it fits the declared size and the limit, and otherwise fails with
// EINVALID (size) or ETOOLARGE (limit), however the source splits its reads.
func FuzzCheckReader(f *testing.F) {
	f.Add([]byte("hello"), int64(5), int64(0), uint8(0))
	f.Add([]byte("hello"), int64(4), int64(0), uint8(1))
	f.Add([]byte("hello"), int64(6), int64(10), uint8(2))
	f.Add([]byte("hello"), int64(-1), int64(3), uint8(1))
	f.Add([]byte("hello"), int64(5), int64(3), uint8(0))
	f.Add([]byte(""), int64(0), int64(1), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, size, max int64, how uint8) {
		if size < -1 {
			size = -1
		}
		var src io.Reader = bytes.NewReader(data)
		switch how % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.DataErrReader(src)
		}
		got, err := io.ReadAll(CheckReader(context.Background(), src, size, max))
		n := int64(len(data))
		sizeOK := size < 0 || size == n
		maxOK := max <= 0 || n <= max
		switch {
		case sizeOK && maxOK:
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d max %d: read %d of %d bytes, err %v", size, max, len(got), n, err)
			}
		case err == nil:
			t.Fatalf("size %d max %d: %d bytes accepted", size, max, n)
		default:
			var le *lecture.Error
			if !errors.As(err, &le) {
				t.Fatalf("size %d max %d: error %T %v", size, max, err, err)
			}
			code := lecture.ErrorCode(err)
			if code != lecture.EINVALID && code != lecture.ETOOLARGE {
				t.Fatalf("size %d max %d: code %q (%v)", size, max, code, err)
			}
			if !maxOK && sizeOK && code != lecture.ETOOLARGE {
				t.Fatalf("size %d max %d, %d bytes: code %q, want %q", size, max, n, code, lecture.ETOOLARGE)
			}
			if max > 0 && int64(len(got)) > max {
				t.Fatalf("read %d bytes past the limit %d", len(got), max)
			}
			if size >= 0 && int64(len(got)) > size {
				t.Fatalf("read %d bytes past the declared %d", len(got), size)
			}
		}
	})
}
