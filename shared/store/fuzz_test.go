package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/transcept/transcept/shared/lecture"
)

// FuzzValidateKey: a key that validates is exactly "<id>/<name>" of a valid
// id and name, stays inside its bucket, and is a valid prefix, as is every
// prefix of it; ids and names that validate make keys that do.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{
		"20261127-005212-3f9a1c2e/Lecture 3 (part 2).mp4",
		"lec-1/My Lecture+1.txt",
		"lec-1/transcript.json",
		"../../etc/passwd",
		"lec-1/../x",
		"lec-1/.hidden",
		"/abs/path",
		`lec\1/x`,
		"lec-1/x\x00.txt",
		"lec-1/café.txt",
		"lec-1/ space.txt",
		"a/b/c",
		"-lec/x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		id, name, splitErr := SplitKey(key)
		if (err == nil) != (splitErr == nil) {
			t.Fatalf("ValidateKey(%q) = %v but SplitKey = %v", key, err, splitErr)
		}
		if err != nil {
			if lecture.ErrorCode(err) != lecture.EINVALID {
				t.Fatalf("ValidateKey(%q): code %q", key, lecture.ErrorCode(err))
			}
		} else {
			if Key(id, name) != key || ValidateLectureID(id) != nil || ValidateName(name) != nil {
				t.Fatalf("SplitKey(%q) = %q, %q", key, id, name)
			}
			if len(key) > MaxKeyLen || strings.Count(key, "/") != 1 || strings.ContainsAny(key, "\\\x00") {
				t.Fatalf("ValidateKey accepted %q", key)
			}
			for i := 0; i < len(key); i++ {
				if key[i] < 0x20 || key[i] >= 0x7f {
					t.Fatalf("ValidateKey accepted byte %#x in %q", key[i], key)
				}
			}
			// Inside the bucket: cleaning the path changes nothing.
			if path.Clean("/"+key) != "/"+key || strings.HasPrefix(id, ".") || strings.HasPrefix(name, ".") {
				t.Fatalf("ValidateKey accepted %q, which leaves its folder", key)
			}
			for i := 0; i <= len(key); i++ {
				if err := ValidatePrefix(key[:i]); err != nil {
					t.Fatalf("prefix %q of valid key %q: %v", key[:i], key, err)
				}
			}
		}
		if err := ValidatePrefix(key); err != nil && lecture.ErrorCode(err) != lecture.EINVALID {
			t.Fatalf("ValidatePrefix(%q): code %q", key, lecture.ErrorCode(err))
		}
		// The other way: any split of key into a valid id and name joins
		// into a valid key.
		if a, b, ok := strings.Cut(key, "/"); ok && ValidateLectureID(a) == nil && ValidateName(b) == nil && ValidateKey(Key(a, b)) != nil {
			t.Fatalf("id %q and name %q are valid, key %q is not", a, b, Key(a, b))
		}
		if ValidateBucket(key) == nil && key != lecture.BucketRaw && key != lecture.BucketPreprocessed && key != lecture.BucketModels {
			t.Fatalf("ValidateBucket accepted %q", key)
		}
	})
}

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
