// Package prometheus is the rollout analysis's Prometheus adapter: instant
// queries through the HTTP API (client_golang's api/prometheus/v1).
package prometheus

import (
	"context"
	"errors"
	"math"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/transcept/transcept/shared/lecture"
)

// Client queries one Prometheus server.
type Client struct {
	URL     string
	api     v1.API
	timeout time.Duration
}

// New returns a client for the Prometheus at base (http://host:9090).
func New(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "Prometheus URL %q: want http://HOST:PORT (TRANSCEPT_PROMETHEUS_URL or --prometheus)", base)
	}
	c, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "Prometheus URL %q", base)
	}
	return &Client{URL: base, api: v1.NewAPI(c), timeout: 30 * time.Second}, nil
}

// Query runs an instant query that must return at most one value: ok is
// false for an empty result or NaN (no data), and a result of several
// series is an error (the query should aggregate them).
func (c *Client) Query(ctx context.Context, q string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	val, _, _, err := c.api.Query(ctx, q, time.Now(), v1.WithTimeout(c.timeout))
	if err != nil {
		var perr *v1.Error
		if errors.As(err, &perr) && perr.Type == v1.ErrBadData {
			return 0, false, lecture.Wrap(lecture.EINVALID, err, "Prometheus at %s refused the query %s: %s", c.URL, q, perr.Msg)
		}
		return 0, false, lecture.Wrap(lecture.EUNAVAILABLE, err, "Prometheus at %s unreachable or failing (TRANSCEPT_PROMETHEUS_URL): %v", c.URL, err)
	}
	var v float64
	switch r := val.(type) {
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, false, nil
		case 1:
			v = float64(r[0].Value)
		default:
			return 0, false, lecture.Errorf(lecture.EINVALID, "the query %s returns %d series, want one (aggregate them with sum)", q, len(r))
		}
	case *model.Scalar:
		v = float64(r.Value)
	default:
		return 0, false, lecture.Errorf(lecture.EINVALID, "the query %s returns a %s, want an instant vector or a scalar", q, val.Type())
	}
	if math.IsNaN(v) {
		return 0, false, nil
	}
	return v, true, nil
}
