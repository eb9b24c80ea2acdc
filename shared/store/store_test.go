package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestCheckReader(t *testing.T) {
	ctx := context.Background()
	read := func(r io.Reader) (int, error) {
		b, err := io.ReadAll(r)
		return len(b), err
	}
	for _, tc := range []struct {
		name      string
		data      int
		size, max int64
		code      string // "" for success
	}{
		{"exact", 10, 10, 0, ""},
		{"unknown", 10, -1, 0, ""},
		{"short", 5, 10, 0, lecture.EINVALID},
		{"long", 11, 10, 0, lecture.EINVALID},
		{"at max", 10, -1, 10, ""},
		{"over max", 11, -1, 10, lecture.ETOOLARGE},
		{"declared over max", 11, 11, 10, lecture.ETOOLARGE},
		{"empty", 0, 0, 0, ""},
		{"empty but declared", 0, 3, 0, lecture.EINVALID},
	} {
		n, err := read(CheckReader(ctx, bytes.NewReader(make([]byte, tc.data)), tc.size, tc.max))
		if lecture.ErrorCode(err) != tc.code {
			t.Errorf("%s: read %d bytes, err %v; want code %q", tc.name, n, err, tc.code)
		}
		if tc.code == "" && n != tc.data {
			t.Errorf("%s: read %d bytes, want %d", tc.name, n, tc.data)
		}
	}

	// A consumer that stops at the declared length still gets the error
	// along with the last bytes.
	r := CheckReader(ctx, strings.NewReader("0123456789"), 4, 0)
	buf := make([]byte, 4)
	n, err := r.Read(buf)
	if n != 4 || lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Read of declared length = %d, %v; want 4, EINVALID", n, err)
	}
	if n, err := r.Read(buf); n != 0 || lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Read after the error = %d, %v; want 0, EINVALID", n, err)
	}

	// The source's own error passes through unchanged.
	boom := errors.New("boom")
	_, err = read(CheckReader(ctx, io.MultiReader(strings.NewReader("ab"), errReader{boom}), -1, 0))
	if !errors.Is(err, boom) {
		t.Errorf("source error = %v, want boom", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = read(CheckReader(cctx, strings.NewReader("x"), 1, 0))
	if !errors.Is(err, context.Canceled) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("cancelled read = %v, want EUNAVAILABLE wrapping context.Canceled", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
