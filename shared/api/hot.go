package api

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// hotCache keeps whole responses of recent identical requests in process,
// in front of the shared cache: a popular lecture's /summarize is answered
// without a Redis round trip or a SHA-256 of its body. Entries are found
// by a 64-bit hash of the body and confirmed byte for byte, and the cache
// holds at most maxBytes (oldest out first). Safe for concurrent use.
type hotCache struct {
	seed     maphash.Seed
	mu       sync.Mutex
	entries  map[uint64]*hotEntry
	order    []uint64 // insertion order, for eviction
	size     int
	maxBytes int
}

type hotEntry struct {
	kind, body, resp []byte
}

func newHotCache(maxBytes int) *hotCache {
	return &hotCache{seed: maphash.MakeSeed(), entries: map[uint64]*hotEntry{}, maxBytes: maxBytes}
}

func (h *hotCache) key(kind string, body []byte) uint64 {
	var m maphash.Hash
	m.SetSeed(h.seed)
	m.WriteString(kind)
	m.WriteByte(0)
	m.Write(body)
	return m.Sum64()
}

func (h *hotCache) get(kind string, body []byte) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	k := h.key(kind, body)
	h.mu.Lock()
	e := h.entries[k]
	h.mu.Unlock()
	if e == nil || string(e.kind) != kind || !bytes.Equal(e.body, body) {
		return nil, false
	}
	return e.resp, true
}

func (h *hotCache) put(kind string, body, resp []byte) {
	if h == nil {
		return
	}
	n := len(body) + len(resp)
	if n > h.maxBytes/8 {
		return // one entry never takes more than an eighth
	}
	k := h.key(kind, body)
	e := &hotEntry{kind: []byte(kind), body: bytes.Clone(body), resp: resp}
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := h.entries[k]; old != nil {
		h.size -= len(old.body) + len(old.resp)
	} else {
		h.order = append(h.order, k)
	}
	h.entries[k] = e
	h.size += n
	for h.size > h.maxBytes && len(h.order) > 0 {
		victim := h.order[0]
		h.order = h.order[1:]
		if v := h.entries[victim]; v != nil {
			h.size -= len(v.body) + len(v.resp)
			delete(h.entries, victim)
		}
	}
}
