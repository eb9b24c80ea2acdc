package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/shared/events"
)

// Broker delivers events to the routes of the Triggers' subscribers.
type Broker struct {
	Config *Config
	Routes map[string]string // Service name -> base URL
	Log    *slog.Logger
	// BackoffScale multiplies every backoff delay (tests use a small one).
	BackoffScale float64
	// Observe, when set, is told each delivery's outcome.
	Observe func(trigger, outcome string)

	client cloudevents.Client
	http   *http.Client
	wg     sync.WaitGroup
}

// New makes a broker over a loaded configuration.
func New(c *Config, routes map[string]string, log *slog.Logger) (*Broker, error) {
	for _, t := range c.Triggers {
		if _, ok := routes[t.Subscriber.Service]; !ok {
			return nil, fmt.Errorf("trigger %s: no route for service %s (give --route %s=URL)", t.Name, t.Subscriber.Service, t.Subscriber.Service)
		}
	}
	cl, err := cloudevents.NewClientHTTP()
	if err != nil {
		return nil, err
	}
	return &Broker{Config: c, Routes: routes, Log: log, BackoffScale: 1, client: cl, http: &http.Client{}}, nil
}

// ServeHTTP accepts an event (binary or structured) and dispatches it.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST CloudEvents here", http.StatusMethodNotAllowed)
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := e.Validate(); err != nil {
		http.Error(w, "invalid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	b.Dispatch(*e)
	w.WriteHeader(http.StatusAccepted)
}

// Dispatch sends e to every matching Trigger's subscriber, asynchronously.
func (b *Broker) Dispatch(e event.Event) {
	for _, t := range b.Config.Triggers {
		if matches(t.Filter, e) {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.deliver(t, e)
			}()
		}
	}
}

// Wait blocks until every delivery, and what its replies caused, is done.
func (b *Broker) Wait() { b.wg.Wait() }

// matches applies a Trigger filter: exact match of each attribute or extension.
func matches(filter map[string]string, e event.Event) bool {
	for k, v := range filter {
		var got string
		switch k {
		case "type":
			got = e.Type()
		case "source":
			got = e.Source()
		case "subject":
			got = e.Subject()
		case "id":
			got = e.ID()
		default:
			if x, ok := e.Extensions()[k]; ok {
				got = fmt.Sprint(x)
			}
		}
		if got != v {
			return false
		}
	}
	return true
}

func (b *Broker) url(d Destination) string {
	base := strings.TrimRight(b.Routes[d.Service], "/")
	if d.URI != "" {
		return base + "/" + strings.TrimLeft(d.URI, "/")
	}
	return base
}

func (b *Broker) deliver(t Trigger, e event.Event) {
	d := b.Config.Delivery
	if t.Delivery != nil {
		d = *t.Delivery
	}
	target := b.url(t.Subscriber)
	var (
		code   int
		reason string
	)
	for attempt := 0; attempt <= d.Retry; attempt++ {
		if attempt > 0 {
			time.Sleep(b.backoff(d, attempt))
		}
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if d.Timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		}
		reply, status, body, err := b.post(ctx, target, e)
		cancel()
		if err == nil && status/100 == 2 {
			b.observe(t.Name, "ok")
			if reply != nil {
				if err := reply.Validate(); err == nil {
					b.Dispatch(*reply)
				} else {
					b.Log.Warn("invalid reply event dropped", "trigger", t.Name, "err", err)
				}
			}
			return
		}
		code, reason = status, strings.TrimSpace(body)
		if err != nil {
			reason = err.Error()
		}
		b.observe(t.Name, "retry")
		b.Log.Warn("delivery failed", "trigger", t.Name, "target", target, "attempt", attempt+1, "code", code, "reason", reason)
	}
	if d.DeadLetter == nil {
		b.observe(t.Name, "dropped")
		b.Log.Error("event dropped: no dead-letter sink", "trigger", t.Name, "id", e.ID())
		return
	}
	dl := e.Clone()
	dl.SetExtension("knativeerrordest", target)
	dl.SetExtension("knativeerrorcode", fmt.Sprint(code))
	dl.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString([]byte(reason)))
	res := b.client.Send(cloudevents.ContextWithTarget(context.Background(), b.url(*d.DeadLetter)), dl)
	if ok, _ := events.Delivered(res); !ok {
		b.Log.Error("dead-letter sink failed", "trigger", t.Name, "id", e.ID(), "err", res)
	}
	b.observe(t.Name, "dead_letter")
}

// post delivers e in binary mode, as Knative's dispatcher does, and returns
// the reply event (if the subscriber sent one), the status and the body.
func (b *Broker) post(ctx context.Context, target string, e event.Event) (*event.Event, int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return nil, 0, "", err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return nil, 0, "", err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, resp.StatusCode, string(body), nil
	}
	if resp.Header.Get("Ce-Id") == "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/cloudevents") {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode, "", nil
	}
	reply, err := cehttp.NewEventFromHTTPResponse(resp)
	if err != nil {
		return nil, resp.StatusCode, "", fmt.Errorf("reply is not a CloudEvent: %w", err)
	}
	return reply, resp.StatusCode, "", nil
}

func (b *Broker) backoff(d Delivery, attempt int) time.Duration {
	delay := d.BackoffDelay
	if d.BackoffPolicy == "linear" {
		delay *= time.Duration(attempt)
	} else {
		delay *= time.Duration(1 << (attempt - 1))
	}
	return time.Duration(float64(delay) * b.BackoffScale)
}

func (b *Broker) observe(trigger, outcome string) {
	if b.Observe != nil {
		b.Observe(trigger, outcome)
	}
}
