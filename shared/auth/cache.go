package auth

import (
	"container/list"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
)

// keyCache is a small LRU of live API keys by hash, each kept for at most
// ttl after it was read from the catalogue.
type keyCache struct {
	mu     sync.Mutex
	max    int
	ttl    time.Duration
	order  *list.List // front: most recently used; values *keyEntry
	byHash map[string]*list.Element
}

type keyEntry struct {
	hash    string
	key     catalogue.APIKey
	user    catalogue.User
	loaded  time.Time // when read from the catalogue
	touched time.Time // last LastUsedAt written (or read)
}

func newKeyCache(max int, ttl time.Duration) *keyCache {
	return &keyCache{max: max, ttl: ttl, order: list.New(), byHash: make(map[string]*list.Element)}
}

// get returns a copy of the entry for hash when it is fresh at now.
func (c *keyCache) get(hash string, now time.Time) (keyEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byHash[hash]
	if !ok {
		return keyEntry{}, false
	}
	e := el.Value.(*keyEntry)
	if now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		c.order.Remove(el)
		delete(c.byHash, hash)
		return keyEntry{}, false
	}
	c.order.MoveToFront(el)
	return *e, true
}

func (c *keyCache) put(e keyEntry) {
	if c.max <= 0 || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byHash[e.hash]; ok {
		*el.Value.(*keyEntry) = e
		c.order.MoveToFront(el)
		return
	}
	c.byHash[e.hash] = c.order.PushFront(&e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byHash, last.Value.(*keyEntry).hash)
	}
}

// touch records that LastUsedAt was written at t, when the entry is still
// there; it reports whether a write is due (the last was a minute ago).
func (c *keyCache) touch(hash string, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byHash[hash]
	if !ok {
		return false
	}
	e := el.Value.(*keyEntry)
	if t.Sub(e.touched) < touchEvery {
		return false
	}
	e.touched = t
	return true
}

// remove drops the entries matching f.
func (c *keyCache) remove(f func(*keyEntry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*keyEntry); f(e) {
			c.order.Remove(el)
			delete(c.byHash, e.hash)
		}
		el = next
	}
}
