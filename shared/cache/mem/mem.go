// Package mem is an in-memory lecture.Cache: an LRU bounded by a byte budget,
// with a time to live per entry. It is safe for concurrent use.
package mem

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/cache"
	"github.com/transcept/transcept/shared/lecture"
)

// DefaultMaxBytes is the budget New uses when given none.
const DefaultMaxBytes = 64 << 20

// Cache is an LRU cache. An entry costs len(key)+len(value) bytes of the
// budget; when a Set would exceed it, the least recently used entries go
// (expired ones first). A value larger than the whole budget is not kept.
type Cache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List // front: most recently used
	items map[string]*list.Element
	now   func() time.Time
}

type entry struct {
	key string
	val []byte
	exp time.Time // zero: never
}

func (e *entry) cost() int64 { return int64(len(e.key) + len(e.val)) }

var _ lecture.Cache = (*Cache)(nil)

// New returns an empty cache holding at most maxBytes bytes of keys and
// values; maxBytes <= 0 means DefaultMaxBytes.
func New(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{max: maxBytes, ll: list.New(), items: map[string]*list.Element{}, now: time.Now}
}

// Name returns "memory".
func (c *Cache) Name() string { return "memory" }

// Get returns a copy of the value under key; a missing or expired entry is
// (nil, false, nil).
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*entry)
	if !e.exp.IsZero() && !c.now().Before(e.exp) {
		c.remove(el)
		return nil, false, nil
	}
	c.ll.MoveToFront(el)
	return append([]byte{}, e.val...), true, nil
}

// Set stores a copy of value under key for ttl (0: until evicted). A negative
// ttl is EINVALID.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := cache.ValidateKey(key); err != nil {
		return err
	}
	if ttl < 0 {
		return lecture.Errorf(lecture.EINVALID, "negative cache TTL %v", ttl)
	}
	e := &entry{key: key, val: append([]byte{}, value...)}
	if ttl > 0 {
		e.exp = c.now().Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[key]; ok {
		c.remove(old)
	}
	if e.cost() > c.max {
		return nil // would evict everything and still not fit
	}
	c.evict(c.max - e.cost())
	c.items[key] = c.ll.PushFront(e)
	c.used += e.cost()
	return nil
}

// evict removes entries until at most limit bytes are used: expired entries
// first, then from the least recently used end.
func (c *Cache) evict(limit int64) {
	if c.used <= limit {
		return
	}
	now := c.now()
	for el := c.ll.Back(); el != nil && c.used > limit; {
		prev := el.Prev()
		if e := el.Value.(*entry); !e.exp.IsZero() && !now.Before(e.exp) {
			c.remove(el)
		}
		el = prev
	}
	for c.used > limit {
		c.remove(c.ll.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.ll.Remove(el).(*entry)
	delete(c.items, e.key)
	c.used -= e.cost()
}

// Delete removes key; a missing key is not an error.
func (c *Cache) Delete(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	return nil
}

// Len returns the number of entries, expired ones not yet dropped included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Bytes returns the part of the budget in use.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
