package mem

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/tests/testkit/cachetest"
)

func TestConformance(t *testing.T) {
	c := New(8 << 20)
	if c.Name() != "memory" {
		t.Errorf("Name() = %q, want memory", c.Name())
	}
	cachetest.Run(t, c)
}

func TestLRUEviction(t *testing.T) {
	ctx := context.Background()
	c := New(100) // ten entries of 10 bytes: key "k0".."k9" (2) + value (8)
	for i := range 10 {
		c.Set(ctx, fmt.Sprintf("k%d", i), []byte("12345678"), 0)
	}
	if c.Len() != 10 || c.Bytes() != 100 {
		t.Fatalf("after 10 sets: %d entries, %d bytes; want 10, 100", c.Len(), c.Bytes())
	}
	// Touch k0 so that k1 is the least recently used.
	cachetest.Want(t, c, "k0", []byte("12345678"))
	c.Set(ctx, "k10", []byte("1234567"), 0) // 10 bytes
	cachetest.Want(t, c, "k1", nil)
	cachetest.Want(t, c, "k0", []byte("12345678"))
	cachetest.Want(t, c, "k10", []byte("1234567"))
	if c.Bytes() != 100 || c.Len() != 10 {
		t.Errorf("after eviction: %d entries, %d bytes; want 10, 100", c.Len(), c.Bytes())
	}
	// A 30-byte entry evicts the three least recently used: k2, k3, k4.
	c.Set(ctx, "big", bytes.Repeat([]byte("x"), 27), 0)
	for _, k := range []string{"k2", "k3", "k4"} {
		cachetest.Want(t, c, k, nil)
	}
	for _, k := range []string{"k5", "k9", "k0", "k10"} {
		if _, ok, _ := c.Get(ctx, k); !ok {
			t.Errorf("%s evicted, want kept", k)
		}
	}
	if c.Bytes() > 100 {
		t.Errorf("%d bytes used, budget 100", c.Bytes())
	}
	// A value larger than the budget is not kept and evicts nothing.
	n := c.Len()
	c.Set(ctx, "huge", make([]byte, 200), 0)
	cachetest.Want(t, c, "huge", nil)
	if c.Len() != n {
		t.Errorf("oversized Set changed the entry count from %d to %d", n, c.Len())
	}
	// Overwriting with an oversized value drops the old value.
	c.Set(ctx, "k5", make([]byte, 200), 0)
	cachetest.Want(t, c, "k5", nil)
}

func TestExpiredEvictedFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	c := New(30)
	c.now = func() time.Time { return now }
	c.Set(ctx, "a", []byte("123456789"), 0)           // 10, oldest
	c.Set(ctx, "b", []byte("123456789"), time.Second) // 10, expires
	c.Set(ctx, "c", []byte("123456789"), 0)           // 10
	now = now.Add(2 * time.Second)
	c.Set(ctx, "d", []byte("123456789"), 0)
	cachetest.Want(t, c, "a", []byte("123456789"))
	cachetest.Want(t, c, "b", nil)
	cachetest.Want(t, c, "d", []byte("123456789"))
	if c.Bytes() != 30 {
		t.Errorf("%d bytes used, want 30", c.Bytes())
	}
	// Expiry is exact under a fake clock.
	c.Set(ctx, "e", []byte("x"), time.Second)
	now = now.Add(999 * time.Millisecond)
	cachetest.Want(t, c, "e", []byte("x"))
	now = now.Add(time.Millisecond)
	cachetest.Want(t, c, "e", nil)
}

func TestConcurrentBudget(t *testing.T) {
	ctx := context.Background()
	c := New(10_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprintf("g%d-%d", g, i%300)
				c.Set(ctx, k, make([]byte, i%97), time.Minute)
				c.Get(ctx, fmt.Sprintf("g%d-%d", (g+1)%8, i%300))
				if i%100 == 0 {
					c.Delete(ctx, k)
				}
			}
		}()
	}
	wg.Wait()
	if b := c.Bytes(); b > 10_000 || b <= 0 {
		t.Errorf("%d bytes used after concurrent use, budget 10000", b)
	}
	// The accounting matches the entries.
	var sum int64
	for el := c.ll.Front(); el != nil; el = el.Next() {
		sum += el.Value.(*entry).cost()
	}
	if sum != c.Bytes() || c.ll.Len() != len(c.items) {
		t.Errorf("accounting: %d bytes counted, %d summed; %d list entries, %d map entries", c.Bytes(), sum, c.ll.Len(), len(c.items))
	}
}

func TestDefaultBudget(t *testing.T) {
	if c := New(0); c.max != DefaultMaxBytes {
		t.Errorf("New(0) budget %d, want %d", c.max, DefaultMaxBytes)
	}
}
