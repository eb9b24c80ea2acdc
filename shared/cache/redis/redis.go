// Package redis is a lecture.Cache over Redis (github.com/redis/go-redis/v9).
// Keys are stored under the prefix "transcept:". Timeouts are short, so a
// dead Redis fails fast with an EUNAVAILABLE error instead of stalling the
// request that asked the cache.
package redis

import (
	"context"
	"errors"
	"net/url"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/transcept/transcept/shared/cache"
	"github.com/transcept/transcept/shared/lecture"
)

// The client library prints each failed dial to stderr; those failures
// reach callers as EUNAVAILABLE errors, which are logged and counted there.
func init() { goredis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// KeyPrefix is put before every key.
const KeyPrefix = "transcept:"

// Timeouts used unless the URL sets its own (dial_timeout, read_timeout,
// write_timeout, pool_timeout query parameters).
const (
	DialTimeout  = 300 * time.Millisecond
	ReadTimeout  = 300 * time.Millisecond
	WriteTimeout = 300 * time.Millisecond
	PoolTimeout  = 500 * time.Millisecond
)

// Cache is a Redis-backed cache. It is safe for concurrent use.
type Cache struct {
	rdb  *goredis.Client
	addr string
}

var _ lecture.Cache = (*Cache)(nil)

// New returns a cache for a redis:// (or rediss://) URL such as
// "redis://localhost:6379/0". It does not connect; use Ping to check the
// server. A malformed URL is EINVALID.
func New(rawURL string) (*Cache, error) {
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		// The URL may carry a password: name it only redacted.
		shown := "(unparsable)"
		if u, perr := url.Parse(rawURL); perr == nil {
			shown = u.Redacted()
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message holds the raw URL
		}
		return nil, lecture.Wrap(lecture.EINVALID, err, "invalid Redis URL %s", shown)
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = DialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = ReadTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = WriteTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = PoolTimeout
	}
	// One retry for a broken pooled connection, one dial attempt per try:
	// a refused connection is reported at once.
	opt.MaxRetries = 1
	opt.MinRetryBackoff = 10 * time.Millisecond
	opt.MaxRetryBackoff = 50 * time.Millisecond
	opt.DialerRetries = 1
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &Cache{rdb: goredis.NewClient(opt), addr: opt.Addr}, nil
}

// Name returns "redis".
func (c *Cache) Name() string { return "redis" }

// Addr returns the server's host:port.
func (c *Cache) Addr() string { return c.addr }

// Client returns the underlying go-redis client.
func (c *Cache) Client() *goredis.Client { return c.rdb }

// Close closes the connections.
func (c *Cache) Close() error { return c.rdb.Close() }

// Ping checks that the server answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return c.unavailable(err, "ping")
	}
	return nil
}

// Get returns the value under key; a missing or expired key is (nil, false, nil).
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return nil, false, err
	}
	b, err := c.rdb.Get(ctx, KeyPrefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, c.unavailable(err, "get")
	}
	if b == nil {
		b = []byte{}
	}
	return b, true, nil
}

// Set stores value under key for ttl (0: no expiry; below a second, Redis
// keeps millisecond precision). A negative ttl is EINVALID.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := cache.ValidateKey(key); err != nil {
		return err
	}
	if ttl < 0 {
		return lecture.Errorf(lecture.EINVALID, "negative cache TTL %v", ttl)
	}
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond // go-redis would read it as "no expiry"
	}
	if err := c.rdb.Set(ctx, KeyPrefix+key, value, ttl).Err(); err != nil {
		return c.unavailable(err, "set")
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if err := cache.ValidateKey(key); err != nil {
		return err
	}
	if err := c.rdb.Del(ctx, KeyPrefix+key).Err(); err != nil {
		return c.unavailable(err, "delete")
	}
	return nil
}

func (c *Cache) unavailable(err error, op string) error {
	return lecture.Wrap(lecture.EUNAVAILABLE, err, "redis cache at %s unavailable (%s)", c.addr, op)
}
