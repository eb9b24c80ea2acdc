package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/storetest"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestConformance(t *testing.T) {
	s, root := newStore(t)
	storetest.Run(t, s)
	// Nothing but objects and their sidecars remains: no temporary files,
	// no sidecar without an object, nothing outside the bucket folders.
	var stray []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		switch {
		case rel == ".":
		case d.IsDir() && len(parts) <= 2:
		case !d.IsDir() && len(parts) == 3 && lecture.ValidateName(parts[2]) == nil:
		case !d.IsDir() && len(parts) == 3 && strings.HasPrefix(parts[2], ".") && strings.HasSuffix(parts[2], metaSuffix):
			obj := filepath.Join(filepath.Dir(p), strings.TrimSuffix(strings.TrimPrefix(parts[2], "."), metaSuffix))
			if _, err := os.Stat(obj); err != nil {
				stray = append(stray, rel+" (sidecar without object)")
			}
		default:
			stray = append(stray, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stray) > 0 {
		t.Errorf("stray files after the conformance run: %v", stray)
	}
}

func TestNewCreatesBuckets(t *testing.T) {
	_, root := newStore(t)
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := append([]string{}, lecture.Buckets...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("root holds %v, want %v", got, want)
	}
	if _, err := New(""); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("New(\"\") = %v, want EINVALID", err)
	}
}

func TestLayoutAndETag(t *testing.T) {
	s, root := newStore(t)
	ctx := context.Background()
	data := []byte("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
	if err := s.Put(ctx, lecture.BucketRaw, "L1/input.vtt", bytes.NewReader(data), int64(len(data)), "text/vtt"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, lecture.BucketRaw, "L1", "input.vtt")
	onDisk, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("file %s = %q, %v; want the content", p, onDisk, err)
	}
	if got, err := s.Path(lecture.BucketRaw, "L1/input.vtt"); err != nil || got != p {
		t.Errorf("Path = %q, %v; want %q", got, err, p)
	}
	if _, err := s.Path(lecture.BucketRaw, "../x"); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Path(../x) = %v, want EINVALID", err)
	}
	sum := sha256.Sum256(data)
	info, err := s.Stat(ctx, lecture.BucketRaw, "L1/input.vtt")
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != hex.EncodeToString(sum[:]) || info.ContentType != "text/vtt" {
		t.Errorf("Stat = %+v, want ETag %x, text/vtt", info, sum)
	}

	// A file replaced behind the store's back: the stale sidecar is noticed.
	repl := []byte("replaced by hand, longer than before")
	if err := os.WriteFile(p, repl, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err = s.Stat(ctx, lecture.BucketRaw, "L1/input.vtt")
	sum = sha256.Sum256(repl)
	if err != nil || info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(len(repl)) {
		t.Errorf("Stat after replacement = %+v, %v; want ETag %x, size %d", info, err, sum, len(repl))
	}
	// No sidecar at all: the type comes from the extension.
	os.Remove(metaPath(p))
	info, err = s.Stat(ctx, lecture.BucketRaw, "L1/input.vtt")
	if err != nil || info.ETag != hex.EncodeToString(sum[:]) || info.ContentType != "text/vtt; charset=utf-8" && info.ContentType != "text/vtt" {
		t.Errorf("Stat without sidecar = %+v, %v", info, err)
	}
	// Content type derived from the name when the caller gives none.
	if err := s.Put(ctx, lecture.BucketRaw, "L1/x.json", strings.NewReader("{}"), 2, ""); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Stat(ctx, lecture.BucketRaw, "L1/x.json"); info.ContentType != "application/json" {
		t.Errorf("derived content type %q, want application/json", info.ContentType)
	}
}

func TestHostileKeysTouchNothing(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "data")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range storetest.HostileKeys {
		_ = s.Put(ctx, lecture.BucketRaw, key, strings.NewReader("x"), 1, "")
		_ = s.Delete(ctx, lecture.BucketRaw, key)
	}
	// Only the bucket folders exist, all empty; nothing beside root.
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 || ents[0].Name() != "data" {
		t.Errorf("parent of root holds %d entries, want only data", len(ents))
	}
	for _, b := range lecture.Buckets {
		ents, _ := os.ReadDir(filepath.Join(root, b))
		if len(ents) != 0 {
			t.Errorf("bucket %s holds %d entries after hostile puts, want 0", b, len(ents))
		}
	}
}

func TestMaxObjectSize(t *testing.T) {
	s, root := newStore(t)
	s.MaxObjectSize = 1000
	ctx := context.Background()
	dir := filepath.Join(root, lecture.BucketRaw, "L2")
	for _, tc := range []struct {
		name string
		size int64
		n    int
		code string
	}{
		{"declared too large", 1001, 1001, lecture.ETOOLARGE},
		{"streamed too large", -1, 5000, lecture.ETOOLARGE},
		{"declared ok, sent too much", 1000, 1001, lecture.EINVALID},
	} {
		err := s.Put(ctx, lecture.BucketRaw, "L2/big", bytes.NewReader(make([]byte, tc.n)), tc.size, "")
		if lecture.ErrorCode(err) != tc.code {
			t.Errorf("%s: Put = %v, want %s", tc.name, err, tc.code)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 0 {
			t.Errorf("%s: %d files left in %s", tc.name, len(ents), dir)
		}
	}
	if err := s.Put(ctx, lecture.BucketRaw, "L2/fits", bytes.NewReader(make([]byte, 1000)), -1, ""); err != nil {
		t.Errorf("Put of exactly the limit: %v", err)
	}
}

func TestFailedPutLeavesNoTempFile(t *testing.T) {
	s, root := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{n: 1 << 20, cancel: cancel}
	err := s.Put(ctx, lecture.BucketRaw, "L3/x", r, -1, "")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("Put cancelled midway = %v, want EUNAVAILABLE", err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, lecture.BucketRaw, "L3"))
	if len(ents) != 0 {
		t.Errorf("%d files left after a cancelled put", len(ents))
	}
}

// cancelAfter yields zeros and cancels its context after n bytes.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	k := min(len(p), 4096)
	clear(p[:k])
	c.n -= k
	return k, nil
}

var _ io.Reader = (*cancelAfter)(nil)
