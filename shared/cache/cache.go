// Package cache holds what the lecture.Cache adapters share. The adapters
// live below it: cache/mem (an in-process LRU) and cache/redis; the
// conformance suite both pass is tests/testkit/cachetest.
package cache

import "github.com/transcept/transcept/shared/lecture"

// MaxKeyLen is the longest key a cache accepts.
const MaxKeyLen = 1024

// ValidateKey returns an EINVALID *lecture.Error for an empty or overlong key.
// Keys are otherwise opaque: any bytes are allowed.
func ValidateKey(key string) error {
	if key == "" {
		return lecture.Errorf(lecture.EINVALID, "cache key is empty")
	}
	if len(key) > MaxKeyLen {
		return lecture.Errorf(lecture.EINVALID, "cache key is %d bytes long, at most %d allowed", len(key), MaxKeyLen)
	}
	return nil
}
