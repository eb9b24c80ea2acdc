// Package storetest is the conformance suite every lecture.ObjectStore passes.
// Call Run from an adapter's tests with a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// HostileKeys are keys every store must refuse with EINVALID before any I/O.
var HostileKeys = []string{
	"",
	"/",
	"abc",
	"abc/",
	"/abc",
	"../x",
	"..",
	"../../etc/passwd",
	"/etc/passwd",
	"a/../../b",
	"a/b/c",
	"a//b",
	"./a",
	"a/.",
	"a/..",
	"./..",
	"../a/b",
	".hidden/x",
	"-rf/x",
	"a/.meta",
	"a/.tmp-x",
	"a\\b",
	"a/b\\..\\..\\c",
	"..\\x/y",
	"a\x00/b",
	"a/b\x00",
	"a/b\n",
	"a b/c",
	"a/b c ",
	"a/ b",
	"a/b?c",
	"a/b%2f..",
	"a/b*",
	"caf\u00e9/x",
	"a/\u2215etc",    // division slash
	"a\u2044b/c",     // fraction slash
	"a/\uff0e\uff0e", // fullwidth dots
	"a/b\u200b",      // zero-width space
	"\u202ea/b",      // right-to-left override
	"a/\xff\xfe",     // invalid UTF-8
	strings.Repeat("a", 65) + "/x",
	"a/" + strings.Repeat("n", 129),
	strings.Repeat("k", 10<<10),
	strings.Repeat("a/", 5000),
}

// HostilePrefixes are List prefixes every store must refuse with EINVALID.
var HostilePrefixes = []string{"/", "../", "..", "/etc", "a/b/c", "a//", "a\\b", ".", "a/.", "a\x00", "caf\u00e9", strings.Repeat("p", 10<<10)}

// Run runs the conformance suite against s. s must know the buckets of the
// lecture package; Run writes only keys under fresh lecture ids.
func Run(t *testing.T, s lecture.ObjectStore) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, s) })
	t.Run("EmptyAndUnknownSize", func(t *testing.T) { testEmptyAndUnknownSize(t, s) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, s) })
	t.Run("List", func(t *testing.T) { testList(t, s) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, s) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, s) })
	t.Run("Buckets", func(t *testing.T) { testBuckets(t, s) })
	t.Run("HostileKeys", func(t *testing.T) { testHostileKeys(t, s) })
	t.Run("FailingReader", func(t *testing.T) { testFailingReader(t, s) })
	t.Run("SizeMismatch", func(t *testing.T) { testSizeMismatch(t, s) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, s) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrentPuts(t, s) })
	t.Run("Large", func(t *testing.T) { testLarge(t, s) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, s lecture.ObjectStore, bucket, key string, data []byte, contentType string) {
	t.Helper()
	if err := s.Put(ctx(t), bucket, key, bytes.NewReader(data), int64(len(data)), contentType); err != nil {
		t.Fatalf("Put(%s, %s): %v", bucket, key, err)
	}
}

func get(t *testing.T, s lecture.ObjectStore, bucket, key string) []byte {
	t.Helper()
	rc, err := s.Get(ctx(t), bucket, key)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", bucket, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s/%s: %v", bucket, key, err)
	}
	return b
}

func stat(t *testing.T, s lecture.ObjectStore, bucket, key string) lecture.ObjectInfo {
	t.Helper()
	info, err := s.Stat(ctx(t), bucket, key)
	if err != nil {
		t.Fatalf("Stat(%s, %s): %v", bucket, key, err)
	}
	return info
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := lecture.ErrorCode(err); got != code {
		t.Errorf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

// wantAbsent checks that bucket/key is neither readable nor listed.
func wantAbsent(t *testing.T, s lecture.ObjectStore, bucket, key string) {
	t.Helper()
	rc, err := s.Get(ctx(t), bucket, key)
	if err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("Get(%s): want ENOTFOUND, got %d bytes", key, len(b))
	} else {
		wantCode(t, "Get "+key, err, lecture.ENOTFOUND)
	}
	_, err = s.Stat(ctx(t), bucket, key)
	wantCode(t, "Stat "+key, err, lecture.ENOTFOUND)
	id, _, _ := strings.Cut(key, "/")
	list, err := s.List(ctx(t), bucket, id+"/")
	if err != nil {
		t.Fatalf("List(%s/): %v", id, err)
	}
	for _, o := range list {
		if o.Key == key {
			t.Errorf("List(%s/) shows %s (%d bytes), want it absent", id, key, o.Size)
		}
	}
}

func keys(list []lecture.ObjectInfo) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.Key
	}
	return out
}

func newID(t *testing.T) string {
	id := lecture.NewLectureID()
	if err := lecture.ValidateLectureID(id); err != nil {
		t.Fatalf("NewLectureID() = %q is not valid: %v", id, err)
	}
	return id
}

func testRoundTrip(t *testing.T, s lecture.ObjectStore) {
	id := newID(t)
	key := lecture.Key(id, "transcript.json")
	data := []byte(`{"segments":[{"start":0,"end":1.5,"text":"hello"}]}`)
	before := time.Now()
	put(t, s, lecture.BucketPreprocessed, key, data, "application/json")
	if got := get(t, s, lecture.BucketPreprocessed, key); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}
	info := stat(t, s, lecture.BucketPreprocessed, key)
	if info.Key != key || info.Size != int64(len(data)) || info.ContentType != "application/json" {
		t.Errorf("Stat = %+v, want key %s, size %d, content type application/json", info, key, len(data))
	}
	if info.ETag == "" {
		t.Errorf("Stat: empty ETag")
	}
	if info.Modified.Before(before.Add(-time.Minute)) || info.Modified.After(time.Now().Add(time.Minute)) {
		t.Errorf("Stat: Modified = %v, want about %v", info.Modified, before)
	}
	// Same key in another bucket is another object.
	_, err := s.Stat(ctx(t), lecture.BucketRaw, key)
	wantCode(t, "Stat in another bucket", err, lecture.ENOTFOUND)

	// Binary content with every byte value survives.
	bin := make([]byte, 512)
	for i := range bin {
		bin[i] = byte(i)
	}
	bkey := lecture.Key(id, "audio.bin")
	put(t, s, lecture.BucketRaw, bkey, bin, "application/octet-stream")
	if got := get(t, s, lecture.BucketRaw, bkey); !bytes.Equal(got, bin) {
		t.Errorf("binary round trip differs")
	}
}

func testEmptyAndUnknownSize(t *testing.T, s lecture.ObjectStore) {
	id := newID(t)
	empty := lecture.Key(id, "empty")
	put(t, s, lecture.BucketRaw, empty, nil, "")
	if got := get(t, s, lecture.BucketRaw, empty); len(got) != 0 {
		t.Errorf("empty object reads %d bytes", len(got))
	}
	if info := stat(t, s, lecture.BucketRaw, empty); info.Size != 0 || info.ContentType == "" {
		t.Errorf("Stat(empty) = %+v, want size 0 and some content type", info)
	}

	stream := lecture.Key(id, "stream.txt")
	data := bytes.Repeat([]byte("streamed line\n"), 1000)
	// A reader that hides its length, as an HTTP body of unknown length does.
	r := struct{ io.Reader }{bytes.NewReader(data)}
	if err := s.Put(ctx(t), lecture.BucketRaw, stream, r, -1, "text/plain"); err != nil {
		t.Fatalf("Put with size -1: %v", err)
	}
	if got := get(t, s, lecture.BucketRaw, stream); !bytes.Equal(got, data) {
		t.Errorf("size -1 round trip: got %d bytes, want %d", len(got), len(data))
	}
	if info := stat(t, s, lecture.BucketRaw, stream); info.Size != int64(len(data)) {
		t.Errorf("Stat after size -1 put: size %d, want %d", info.Size, len(data))
	}
}

func testOverwrite(t *testing.T, s lecture.ObjectStore) {
	key := lecture.Key(newID(t), "summary.json")
	b := lecture.BucketPreprocessed
	put(t, s, b, key, []byte("first version, longer"), "text/plain")
	first := stat(t, s, b, key)
	put(t, s, b, key, []byte("second"), "application/json")
	if got := get(t, s, b, key); string(got) != "second" {
		t.Errorf("after overwrite Get = %q, want %q", got, "second")
	}
	second := stat(t, s, b, key)
	if second.Size != 6 || second.ContentType != "application/json" {
		t.Errorf("after overwrite Stat = %+v, want size 6, application/json", second)
	}
	if second.ETag == first.ETag {
		t.Errorf("ETag unchanged (%s) after the content changed", first.ETag)
	}
	put(t, s, b, key, []byte("first version, longer"), "text/plain")
	if third := stat(t, s, b, key); third.ETag != first.ETag {
		t.Errorf("same content gave ETag %s, earlier %s", third.ETag, first.ETag)
	}
	list, err := s.List(ctx(t), b, key)
	if err != nil || len(list) != 1 {
		t.Errorf("List(%s) after overwrites = %v, %v; want exactly one object", key, keys(list), err)
	}
}

func testList(t *testing.T, s lecture.ObjectStore) {
	b := lecture.BucketPreprocessed
	id := newID(t)
	other := id + "x" // shares id as a prefix
	want := []string{id + "/a", id + "/b-2", id + "/b.txt", id + "/c_1", id + "/z"}
	// Put in an order unlike the sorted one.
	for _, k := range []string{want[4], want[2], other + "/a", want[0], want[3], want[1]} {
		put(t, s, b, k, []byte(k), "text/plain")
	}
	list, err := s.List(ctx(t), b, id+"/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := keys(list); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("List(%s/) = %v, want %v", id, got, want)
	}
	for _, o := range list {
		if o.Size != int64(len(o.Key)) || o.ETag == "" {
			t.Errorf("List entry %+v: want size %d and an ETag", o, len(o.Key))
		}
	}
	list, err = s.List(ctx(t), b, id)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, w := strings.Join(keys(list), ","), strings.Join(append(append([]string{}, want...), other+"/a"), ","); got != w {
		t.Errorf("List(%s) = %v, want %v", id, got, w)
	}
	list, err = s.List(ctx(t), b, id+"/b")
	if got := keys(list); err != nil || strings.Join(got, ",") != id+"/b-2,"+id+"/b.txt" {
		t.Errorf("List(%s/b) = %v, %v; want [%s/b-2 %s/b.txt]", id, got, err, id, id)
	}
	list, err = s.List(ctx(t), b, newID(t)+"/")
	if err != nil || len(list) != 0 {
		t.Errorf("List of an unused id = %v, %v; want empty", keys(list), err)
	}
	list, err = s.List(ctx(t), lecture.BucketModels, id)
	if err != nil || len(list) != 0 {
		t.Errorf("List in another bucket = %v, %v; want empty", keys(list), err)
	}
	list, err = s.List(ctx(t), b, "")
	if err != nil {
		t.Fatalf("List(\"\"): %v", err)
	}
	n := 0
	for i, o := range list {
		if i > 0 && list[i-1].Key >= o.Key {
			t.Errorf("List(\"\") not sorted: %s before %s", list[i-1].Key, o.Key)
		}
		if strings.HasPrefix(o.Key, id) {
			n++
		}
		if lecture.ValidateKey(o.Key) != nil {
			t.Errorf("List(\"\") shows invalid key %q", o.Key)
		}
	}
	if n != len(want)+1 {
		t.Errorf("List(\"\") shows %d of the %d objects put", n, len(want)+1)
	}
}

func testMissing(t *testing.T, s lecture.ObjectStore) {
	key := lecture.Key(newID(t), "nothing")
	for _, b := range lecture.Buckets {
		_, err := s.Get(ctx(t), b, key)
		wantCode(t, "Get missing in "+b, err, lecture.ENOTFOUND)
		_, err = s.Stat(ctx(t), b, key)
		wantCode(t, "Stat missing in "+b, err, lecture.ENOTFOUND)
		if err := s.Delete(ctx(t), b, key); err != nil {
			t.Errorf("Delete missing in %s: %v, want nil", b, err)
		}
	}
	// A name that is missing next to one that exists.
	id := newID(t)
	put(t, s, lecture.BucketRaw, lecture.Key(id, "here"), []byte("x"), "")
	wantAbsent(t, s, lecture.BucketRaw, lecture.Key(id, "her"))
}

func testDelete(t *testing.T, s lecture.ObjectStore) {
	id := newID(t)
	key := lecture.Key(id, "gone")
	keep := lecture.Key(id, "kept")
	put(t, s, lecture.BucketRaw, key, []byte("bye"), "text/plain")
	put(t, s, lecture.BucketRaw, keep, []byte("stay"), "text/plain")
	if err := s.Delete(ctx(t), lecture.BucketRaw, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantAbsent(t, s, lecture.BucketRaw, key)
	if got := get(t, s, lecture.BucketRaw, keep); string(got) != "stay" {
		t.Errorf("neighbour of deleted key reads %q", got)
	}
	if err := s.Delete(ctx(t), lecture.BucketRaw, key); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
	// It can be put again.
	put(t, s, lecture.BucketRaw, key, []byte("back"), "text/plain")
	if got := get(t, s, lecture.BucketRaw, key); string(got) != "back" {
		t.Errorf("after re-put Get = %q", got)
	}
}

func testBuckets(t *testing.T, s lecture.ObjectStore) {
	key := lecture.Key(newID(t), "x")
	for _, b := range []string{"", "other", "../raw-inputs", "raw-inputs/..", "RAW-INPUTS", "raw-inputs/x"} {
		r := &spyReader{}
		wantCode(t, fmt.Sprintf("Put bucket %q", b), s.Put(ctx(t), b, key, r, 1, ""), lecture.EINVALID)
		if r.reads > 0 {
			t.Errorf("Put bucket %q read its content", b)
		}
		_, err := s.Get(ctx(t), b, key)
		wantCode(t, fmt.Sprintf("Get bucket %q", b), err, lecture.EINVALID)
		_, err = s.Stat(ctx(t), b, key)
		wantCode(t, fmt.Sprintf("Stat bucket %q", b), err, lecture.EINVALID)
		_, err = s.List(ctx(t), b, "")
		wantCode(t, fmt.Sprintf("List bucket %q", b), err, lecture.EINVALID)
		wantCode(t, fmt.Sprintf("Delete bucket %q", b), s.Delete(ctx(t), b, key), lecture.EINVALID)
	}
}

// spyReader counts reads; a store must not read content for a refused key.
type spyReader struct{ reads int }

func (r *spyReader) Read(p []byte) (int, error) {
	r.reads++
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = 'x'
	return 1, io.EOF
}

func testHostileKeys(t *testing.T, s lecture.ObjectStore) {
	before, err := s.List(ctx(t), lecture.BucketRaw, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, key := range HostileKeys {
		name := fmt.Sprintf("%.40q", key)
		if lecture.ValidateKey(key) == nil {
			t.Errorf("ValidateKey(%s) = nil", name)
		}
		r := &spyReader{}
		err := s.Put(ctx(t), lecture.BucketRaw, key, r, 1, "text/plain")
		wantCode(t, "Put "+name, err, lecture.EINVALID)
		if r.reads > 0 {
			t.Errorf("Put %s read the content before refusing the key", name)
		}
		if err != nil && lecture.ErrorMessage(err) == "" {
			t.Errorf("Put %s: empty message", name)
		}
		_, err = s.Get(ctx(t), lecture.BucketRaw, key)
		wantCode(t, "Get "+name, err, lecture.EINVALID)
		_, err = s.Stat(ctx(t), lecture.BucketRaw, key)
		wantCode(t, "Stat "+name, err, lecture.EINVALID)
		wantCode(t, "Delete "+name, s.Delete(ctx(t), lecture.BucketRaw, key), lecture.EINVALID)
	}
	for _, p := range HostilePrefixes {
		_, err := s.List(ctx(t), lecture.BucketRaw, p)
		wantCode(t, fmt.Sprintf("List prefix %.40q", p), err, lecture.EINVALID)
	}
	after, err := s.List(ctx(t), lecture.BucketRaw, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(after) != len(before) {
		t.Errorf("hostile keys changed the bucket: %d objects before, %d after", len(before), len(after))
	}
}

// failingReader yields n bytes of 'a' and then fails.
type failingReader struct {
	n   int
	err error
}

var errBroken = errors.New("storetest: connection reset by the uploader")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	r.n -= k
	return k, nil
}

func testFailingReader(t *testing.T, s lecture.ObjectStore) {
	b := lecture.BucketRaw
	for _, tc := range []struct {
		name       string
		size, fail int
	}{
		{"small-known-size", 1000, 300},
		{"small-unknown-size", -1, 300},
		{"1MiB-known-size", 4 << 20, 1 << 20},
		{"1MiB-unknown-size", -1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			key := lecture.Key(id, "upload.wav")
			err := s.Put(ctx(t), b, key, &failingReader{n: tc.fail, err: errBroken}, int64(tc.size), "audio/wav")
			if err == nil {
				t.Fatalf("Put with a failing reader returned nil")
			}
			wantAbsent(t, s, b, key)
			if list, err := s.List(ctx(t), b, id); err != nil || len(list) != 0 {
				t.Errorf("List(%s) after failed put = %v, %v; want empty", id, keys(list), err)
			}

			// A failed overwrite keeps the old object.
			put(t, s, b, key, []byte("old"), "text/plain")
			err = s.Put(ctx(t), b, key, &failingReader{n: tc.fail, err: errBroken}, int64(tc.size), "audio/wav")
			if err == nil {
				t.Fatalf("overwrite with a failing reader returned nil")
			}
			if got := get(t, s, b, key); string(got) != "old" {
				t.Errorf("after failed overwrite Get = %.20q (%d bytes), want %q", got, len(got), "old")
			}
			if info := stat(t, s, b, key); info.Size != 3 || info.ContentType != "text/plain" {
				t.Errorf("after failed overwrite Stat = %+v, want size 3, text/plain", info)
			}
			if list, err := s.List(ctx(t), b, id); err != nil || len(list) != 1 {
				t.Errorf("List(%s) after failed overwrite = %v, %v; want one object", id, keys(list), err)
			}
		})
	}
}

func testSizeMismatch(t *testing.T, s lecture.ObjectStore) {
	b := lecture.BucketRaw
	id := newID(t)
	short := lecture.Key(id, "short")
	err := s.Put(ctx(t), b, short, strings.NewReader("12345"), 10, "")
	if err == nil {
		t.Errorf("Put of 5 bytes declared as 10 returned nil")
	}
	wantAbsent(t, s, b, short)
	long := lecture.Key(id, "long")
	err = s.Put(ctx(t), b, long, strings.NewReader("0123456789"), 5, "")
	if err == nil {
		t.Errorf("Put of 10 bytes declared as 5 returned nil")
	}
	wantCode(t, "Put longer than declared", err, lecture.EINVALID)
	wantAbsent(t, s, b, long)
}

func testCancelled(t *testing.T, s lecture.ObjectStore) {
	key := lecture.Key(newID(t), "late")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(c, lecture.BucketRaw, key, strings.NewReader("x"), 1, ""); err == nil {
		t.Errorf("Put with a cancelled context returned nil")
	}
	wantAbsent(t, s, lecture.BucketRaw, key)
}

func testConcurrentPuts(t *testing.T, s lecture.ObjectStore) {
	const writers, size = 8, 256 << 10
	b := lecture.BucketPreprocessed
	key := lecture.Key(newID(t), "chunks.json")
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	stop := make(chan struct{})
	// A reader that checks every version it sees is whole.
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	go func() {
		defer readerWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rc, err := s.Get(context.Background(), b, key)
			if lecture.ErrorCode(err) == lecture.ENOTFOUND {
				continue
			} else if err != nil {
				errs <- fmt.Errorf("concurrent Get: %w", err)
				return
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				errs <- fmt.Errorf("concurrent read: %w", err)
				return
			}
			if err := uniform(data, size); err != nil {
				errs <- fmt.Errorf("concurrent Get saw a partial object: %w", err)
				return
			}
		}
	}()
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('A' + i)}, size)
			if err := s.Put(context.Background(), b, key, bytes.NewReader(data), size, "application/json"); err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	readerWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data := get(t, s, b, key)
	if err := uniform(data, size); err != nil {
		t.Fatalf("after concurrent puts: %v", err)
	}
	if data[0] < 'A' || data[0] >= 'A'+writers {
		t.Errorf("after concurrent puts the object holds %q, written by nobody", data[0])
	}
	info := stat(t, s, b, key)
	if info.Size != size {
		t.Errorf("Stat size %d, want %d", info.Size, size)
	}
	// The ETag belongs to the surviving value: the same content elsewhere
	// has the same ETag.
	again := lecture.Key(newID(t), "again")
	put(t, s, b, again, data, "application/json")
	if e := stat(t, s, b, again).ETag; e != info.ETag {
		t.Errorf("ETag after concurrent puts %s, but the surviving content has ETag %s", info.ETag, e)
	}
	list, err := s.List(ctx(t), b, key)
	if err != nil || len(list) != 1 || list[0].ETag != info.ETag {
		t.Errorf("List(%s) = %v, %v; want one object with ETag %s", key, keys(list), err, info.ETag)
	}
}

// uniform checks data is size copies of one byte.
func uniform(data []byte, size int) error {
	if len(data) != size {
		return fmt.Errorf("%d bytes, want %d", len(data), size)
	}
	if size > 0 && bytes.Count(data, data[:1]) != size {
		return fmt.Errorf("mixed content: byte 0 is %q but not all are", data[0])
	}
	return nil
}

func testLarge(t *testing.T, s lecture.ObjectStore) {
	if testing.Short() {
		t.Skip("large object test skipped in -short mode")
	}
	const size = 20 << 20
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	want := sha256.Sum256(data)
	b := lecture.BucketRaw
	id := newID(t)
	for _, tc := range []struct {
		name string
		size int64
		r    io.Reader
	}{
		{"known-size", size, bytes.NewReader(data)},
		{"unknown-size", -1, struct{ io.Reader }{bytes.NewReader(data)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := lecture.Key(id, "lecture-"+tc.name+".mp4")
			start := time.Now()
			if err := s.Put(ctx(t), b, key, tc.r, tc.size, "video/mp4"); err != nil {
				t.Fatalf("Put 20 MiB: %v", err)
			}
			rc, err := s.Get(ctx(t), b, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			rc.Close()
			if err != nil || n != size {
				t.Fatalf("read back %d bytes, %v; want %d", n, err, size)
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("20 MiB round trip: content differs")
			}
			if info := stat(t, s, b, key); info.Size != size {
				t.Errorf("Stat size %d, want %d", info.Size, size)
			}
			t.Logf("20 MiB put+get in %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// Creator is a store with a create-only put (the model registry's alias
// log needs one).
type Creator interface {
	lecture.ObjectStore
	PutIfAbsent(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error
}

// PutIfAbsent checks a store's create-only put, what the model registry's alias log relies on: the first
// create wins, a second is ECONFLICT and leaves the object as it was, and
// of many concurrent creates of one key exactly one succeeds.
func PutIfAbsent(t *testing.T, s Creator) {
	t.Helper()
	ctx := context.Background()
	b := lecture.BucketModels
	put := func(key, body string) error {
		return s.PutIfAbsent(ctx, b, key, strings.NewReader(body), int64(len(body)), "application/json")
	}
	if err := put("m/a.json", "first"); err != nil {
		t.Fatalf("PutIfAbsent on a new key: %v", err)
	}
	if err := put("m/a.json", "second"); lecture.ErrorCode(err) != lecture.ECONFLICT {
		t.Fatalf("PutIfAbsent on an existing key: %v, want ECONFLICT", err)
	}
	read := func(key string) string {
		rc, err := s.Get(ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, _ := io.ReadAll(rc)
		return string(got)
	}
	if got := read("m/a.json"); got != "first" {
		t.Fatalf("object after a refused PutIfAbsent = %q, want %q", got, "first")
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = put("m/race.json", fmt.Sprintf("writer %d", i))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case lecture.ErrorCode(err) != lecture.ECONFLICT:
			t.Fatalf("writer %d: %v, want ECONFLICT", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the key")
	}
	if got, want := read("m/race.json"), fmt.Sprintf("writer %d", winner); got != want {
		t.Fatalf("object = %q, want the winner's %q", got, want)
	}
}
