package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/cachetest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func newCache(t *testing.T, url string) *Cache {
	t.Helper()
	c, err := New(url)
	if err != nil {
		t.Fatalf("New(%s): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	c := newCache(t, svctest.Redis(t))
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Name() != "redis" {
		t.Errorf("Name() = %q, want redis", c.Name())
	}
	cachetest.Run(t, c)
}

func TestKeyPrefixAndTTL(t *testing.T) {
	c := newCache(t, svctest.Redis(t))
	ctx := context.Background()
	if err := c.Set(ctx, "summary:abc", []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Client().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "transcept:summary:abc" {
		t.Errorf("keys in Redis = %v, want [transcept:summary:abc]", keys)
	}
	ttl, err := c.Client().PTTL(ctx, "transcept:summary:abc").Result()
	if err != nil || ttl <= 89*time.Second || ttl > 90*time.Second {
		t.Errorf("PTTL = %v, %v; want just under 90s", ttl, err)
	}
	// A key set without the prefix is not visible to the cache.
	c.Client().Set(ctx, "summary:abc", "other", 0)
	cachetest.Want(t, c, "summary:abc", []byte("v"))
	if err := c.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := c.Client().PTTL(ctx, "transcept:forever").Result(); ttl != -1 {
		t.Errorf("PTTL of a TTL-less entry = %v, want -1 (no expiry)", ttl)
	}
	if err := c.Delete(ctx, "forever"); err != nil {
		t.Fatal(err)
	}
	cachetest.Want(t, c, "forever", nil)
}

func TestStoppedServerFailsFast(t *testing.T) {
	srv := svctest.StartRedis(t)
	c := newCache(t, srv.URL)
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, _, err := c.Get(ctx, "k"); return err }},
		{"Set", func() error { return c.Set(ctx, "k", []byte("v"), time.Minute) }},
		{"Ping", func() error { return c.Ping(ctx) }},
		{"Get again", func() error { _, _, err := c.Get(ctx, "k"); return err }},
	} {
		start := time.Now()
		err := op.do()
		d := time.Since(start)
		if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
			t.Errorf("%s on a stopped server = %v, want EUNAVAILABLE", op.name, err)
		}
		if d > time.Second {
			t.Errorf("%s on a stopped server took %v, want < 1s", op.name, d)
		}
		if err != nil && !strings.Contains(err.Error(), srv.Addr) {
			t.Errorf("error %q does not name the server %s", err, srv.Addr)
		}
	}

	// After a restart the cache works again (empty: nothing is persisted).
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ok, err := c.Get(ctx, "k")
		if err == nil {
			if ok {
				t.Errorf("value survived a restart without persistence")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache still failing 5s after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Set(ctx, "k", []byte("back"), 0); err != nil {
		t.Fatalf("Set after restart: %v", err)
	}
	cachetest.Want(t, c, "k", []byte("back"))
}

func TestUnreachableFailsFast(t *testing.T) {
	// A blackholed address (TEST-NET-1): the dial times out rather than
	// being refused.
	c := newCache(t, "redis://192.0.2.1:6379/0")
	start := time.Now()
	_, _, err := c.Get(context.Background(), "k")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("Get = %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Get on an unreachable server took %v", d)
	}
}

func TestNewInvalidURL(t *testing.T) {
	for _, u := range []string{"", "http://localhost:6379", "redis://user:s3cret@[::1/0", "redis://:s3cret@localhost:6379/notanumber"} {
		c, err := New(u)
		if lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("New(%q) = %v, %v; want EINVALID", u, c, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%q) error shows the password: %v", u, err)
		}
	}
	c, err := New("redis://:pw@127.0.0.1:1/3?dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.Client().Options()
	if o.DialTimeout != time.Second || o.ReadTimeout != ReadTimeout || o.DB != 3 || o.Password != "pw" {
		t.Errorf("options: dial %v read %v db %d; want 1s (from URL), %v, 3", o.DialTimeout, o.ReadTimeout, o.DB, ReadTimeout)
	}
	_, _, err = c.Get(context.Background(), "k")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || strings.Contains(err.Error(), "pw@") {
		t.Errorf("Get on a closed port = %v, want EUNAVAILABLE without the password", err)
	}
}
