// Package cachetest is the conformance suite every lecture.Cache passes.
package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// Run runs the suite against c, using keys under a fresh random prefix.
// It takes about half a second, most of it waiting for TTLs to pass.
func Run(t *testing.T, c lecture.Cache) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "cachetest-" + hex.EncodeToString(b[:]) + ":"
	t.Run("Name", func(t *testing.T) {
		if c.Name() == "" {
			t.Error("Name() is empty")
		}
	})
	t.Run("Miss", func(t *testing.T) { testMiss(t, c, p) })
	t.Run("SetGet", func(t *testing.T) { testSetGet(t, c, p) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, c, p) })
	t.Run("Binary", func(t *testing.T) { testBinary(t, c, p) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, c, p) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, c, p) })
	t.Run("TTL", func(t *testing.T) { testTTL(t, c, p) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, c, p) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Want checks that key holds want (nil: a miss).
func Want(t testing.TB, c lecture.Cache, key string, want []byte) {
	t.Helper()
	got, ok, err := c.Get(context.Background(), key)
	switch {
	case err != nil:
		t.Errorf("Get(%q): %v", key, err)
	case want == nil && (ok || got != nil):
		t.Errorf("Get(%q) = %q, %v; want a miss (nil, false)", key, got, ok)
	case want != nil && (!ok || !bytes.Equal(got, want)):
		t.Errorf("Get(%q) = %.40q, %v; want %.40q, true", key, got, ok, want)
	}
}

func set(t *testing.T, c lecture.Cache, key string, val []byte, ttl time.Duration) {
	t.Helper()
	if err := c.Set(ctx(t), key, val, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func testMiss(t *testing.T, c lecture.Cache, p string) {
	Want(t, c, p+"never-set", nil)
}

func testSetGet(t *testing.T, c lecture.Cache, p string) {
	val := []byte(`{"engine":"extractive","bullets":[]}`)
	set(t, c, p+"summary", val, 0)
	Want(t, c, p+"summary", []byte(`{"engine":"extractive","bullets":[]}`))
	// The cache keeps its own copy: changing the caller's slices after Set
	// or Get changes nothing.
	val[0] = 'X'
	got, _, _ := c.Get(ctx(t), p+"summary")
	if len(got) > 0 {
		got[1] = 'Y'
	}
	Want(t, c, p+"summary", []byte(`{"engine":"extractive","bullets":[]}`))
	Want(t, c, p+"summar", nil)
	Want(t, c, p+"summary2", nil)
}

func testOverwrite(t *testing.T, c lecture.Cache, p string) {
	set(t, c, p+"k", []byte("one, the longer value"), 0)
	set(t, c, p+"k", []byte("two"), 0)
	Want(t, c, p+"k", []byte("two"))
	// An overwrite with a TTL replaces the old entry's lifetime too.
	set(t, c, p+"k", []byte("three"), time.Hour)
	Want(t, c, p+"k", []byte("three"))
}

func testBinary(t *testing.T, c lecture.Cache, p string) {
	bin := make([]byte, 1024)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	bin[0], bin[1], bin[2] = 0, '\r', '\n'
	set(t, c, p+"bin", bin, 0)
	Want(t, c, p+"bin", bin)
	set(t, c, p+"big", bytes.Repeat([]byte{0xff, 0x00}, 256<<10), 0)
	Want(t, c, p+"big", bytes.Repeat([]byte{0xff, 0x00}, 256<<10))
	// An empty value is a hit, not a miss.
	set(t, c, p+"empty", []byte{}, 0)
	got, ok, err := c.Get(ctx(t), p+"empty")
	if err != nil || !ok || len(got) != 0 {
		t.Errorf("Get(empty value) = %q, %v, %v; want \"\", true, nil", got, ok, err)
	}
}

func testKeys(t *testing.T, c lecture.Cache, p string) {
	keys := []string{p + "a b", p + "a:b", p + "a\x00b", p + "ünï", p + "a\nb", p + strings.Repeat("k", 500)}
	for i, k := range keys {
		set(t, c, k, []byte(fmt.Sprint(i)), 0)
	}
	for i, k := range keys {
		Want(t, c, k, []byte(fmt.Sprint(i)))
	}
}

func testInvalid(t *testing.T, c lecture.Cache, p string) {
	if err := c.Set(ctx(t), "", []byte("x"), 0); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Set(empty key) = %v, want EINVALID", err)
	}
	if _, _, err := c.Get(ctx(t), ""); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Get(empty key) = %v, want EINVALID", err)
	}
	if err := c.Set(ctx(t), p+"neg", []byte("x"), -time.Second); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Set(negative TTL) = %v, want EINVALID", err)
	}
	Want(t, c, p+"neg", nil)
	if err := c.Set(ctx(t), strings.Repeat("k", 10<<10), []byte("x"), 0); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("Set(10 kB key) = %v, want EINVALID", err)
	}
}

func testTTL(t *testing.T, c lecture.Cache, p string) {
	set(t, c, p+"short", []byte("brief"), 150*time.Millisecond)
	set(t, c, p+"long", []byte("lasting"), time.Minute)
	set(t, c, p+"forever", []byte("kept"), 0)
	Want(t, c, p+"short", []byte("brief"))
	time.Sleep(400 * time.Millisecond)
	Want(t, c, p+"short", nil)
	Want(t, c, p+"long", []byte("lasting"))
	Want(t, c, p+"forever", []byte("kept"))
	// An expired key can be set again.
	set(t, c, p+"short", []byte("again"), time.Minute)
	Want(t, c, p+"short", []byte("again"))
}

func testConcurrent(t *testing.T, c lecture.Cache, p string) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := fmt.Sprintf("%sc%d-%d", p, g, i%5)
				v := []byte(fmt.Sprintf("g%d-i%d", g, i))
				if err := c.Set(context.Background(), k, v, time.Minute); err != nil {
					t.Errorf("Set: %v", err)
					return
				}
				got, ok, err := c.Get(context.Background(), k)
				if err != nil || !ok || !bytes.Equal(got, v) {
					t.Errorf("Get(%s) right after Set = %q, %v, %v; want %q", k, got, ok, err, v)
					return
				}
			}
		}()
	}
	wg.Wait()
}
