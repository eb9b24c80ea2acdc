package eventing

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/shared/tracing"
)

// Broker is a local stand-in for a Knative Broker: it reads the Broker and
// Triggers from infra/ and delivers CloudEvents over HTTP to the functions
// running as separate processes, with the same semantics: exact attribute
// filters, replies fed back into the broker, retries with linear or
// exponential backoff, then the dead-letter sink with Knative's error
// extensions. It lets the suite run end to end without a cluster.
//
// Its deliveries run on a Bus whose triggers post to the subscribers: the
// same delivery loop as the local process's.
type Broker struct {
	Config *Config
	Routes map[string]string // Service name -> base URL
	Log    *slog.Logger
	// BackoffScale multiplies every backoff delay (tests use a small one).
	BackoffScale float64
	// Workers bounds the deliveries in flight at once.
	Workers int

	client sdk.Client
	http   *http.Client
	once   sync.Once
	bus    *Bus[message]
	seq    atomic.Uint64
}

// message is a CloudEvent on the Broker's Bus, numbered so that two
// deliveries never replace each other (a Knative Broker does not coalesce).
type message struct {
	seq uint64
	ce  CloudEvent
}

func messageMeta(m message) Meta {
	return Meta{Type: m.ce.Type(), ID: m.ce.ID(), Key: "event-" + strconv.FormatUint(m.seq, 10)}
}

// NewBroker makes a broker over a loaded configuration.
func NewBroker(c *Config, routes map[string]string, log *slog.Logger) (*Broker, error) {
	for _, t := range c.Triggers {
		if _, ok := routes[t.Subscriber.Service]; !ok {
			return nil, fmt.Errorf("trigger %s: no route for service %s (give --route %s=URL)", t.Name, t.Subscriber.Service, t.Subscriber.Service)
		}
	}
	cl, err := sdk.NewClientHTTP()
	if err != nil {
		return nil, err
	}
	return &Broker{Config: c, Routes: routes, Log: log, BackoffScale: 1, Workers: 256, client: cl, http: &http.Client{}}, nil
}

// start makes the Bus on first use, once the fields are set.
func (b *Broker) start() *Bus[message] {
	b.once.Do(func() {
		bus := New(b.Workers, b.Log, messageMeta)
		bus.MaxDelay = 0 // Knative's backoff has no cap
		for _, t := range b.Config.Triggers {
			d := b.Config.Delivery
			if t.Delivery != nil {
				d = *t.Delivery
			}
			bus.AddTrigger(Trigger[message]{
				Name:    t.Name,
				Match:   func(m message) bool { return matches(t.Filter, m.ce) },
				Handler: b.deliver(t),
				Policy: &Policy{Retries: d.Retry, Linear: d.BackoffPolicy == "linear", Timeout: d.Timeout,
					Backoff: time.Duration(float64(d.BackoffDelay) * b.BackoffScale)},
				DeadLetter: b.deadLetter(t, d),
			})
		}
		b.bus = bus
	})
	return b.bus
}

// ServeHTTP accepts an event (binary or structured) and dispatches it.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST CloudEvents here", http.StatusMethodNotAllowed)
		return
	}
	e, ok := ReadHTTP(w, r)
	if !ok {
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
func (b *Broker) Dispatch(e CloudEvent) {
	_ = b.start().Publish(b.message(e)) // no journal, never closed: it cannot fail
}

func (b *Broker) message(e CloudEvent) message { return message{seq: b.seq.Add(1), ce: e} }

// Wait blocks until every delivery, and what its replies caused, is done.
func (b *Broker) Wait() { b.start().Wait() }

// matches applies a Trigger filter: exact match of each attribute or extension.
func matches(filter map[string]string, e CloudEvent) bool {
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

// failure is a delivery the subscriber did not accept: its status (0 when
// there was no response) and the reason, which the dead letter carries.
type failure struct {
	target string
	code   int
	reason string
}

func (f *failure) Error() string {
	if f.code == 0 {
		return fmt.Sprintf("delivery to %s failed: %s", f.target, f.reason)
	}
	return fmt.Sprintf("delivery to %s failed: HTTP %d: %s", f.target, f.code, f.reason)
}

// deliver is a trigger's handler: one delivery to its subscriber, whose
// reply event, if any, the Bus publishes.
func (b *Broker) deliver(t TriggerSpec) Handler[message] {
	target := b.url(t.Subscriber)
	return func(ctx context.Context, m message) (_ []message, ferr error) {
		ce := m.ce
		if tracing.On() { // a span per delivery, the parent of the subscriber's
			tp, ts := TraceContext(ce)
			var end tracing.End
			ctx, end = tracing.StartClient(tracing.Extract(ctx, tp, ts), "deliver "+t.Name,
				tracing.String("transcept.trigger", t.Name), tracing.String("transcept.subscriber", t.Subscriber.Service),
				tracing.String("cloudevents.event_type", ce.Type()), tracing.String("cloudevents.event_id", ce.ID()))
			defer func() { end(ferr) }()
			ce = ce.Clone()
			SetTraceContext(ctx, &ce)
		}
		reply, status, body, err := b.post(ctx, target, ce)
		if err == nil && status/100 == 2 {
			if reply == nil {
				return nil, nil
			}
			if err := reply.Validate(); err != nil {
				b.Log.Warn("invalid reply event dropped", "trigger", t.Name, "err", err)
				return nil, nil
			}
			return []message{b.message(*reply)}, nil
		}
		f := &failure{target: target, code: status, reason: strings.TrimSpace(body)}
		if err != nil {
			f.reason = err.Error()
		}
		return nil, f
	}
}

// deadLetter sends an event that exhausted its deliveries to the trigger's
// dead-letter sink with Knative's error extensions, or drops it when there
// is none. A sink that fails is logged, not retried (as Knative does).
func (b *Broker) deadLetter(t TriggerSpec, d DeliverySpec) DeadLetter[message] {
	target := b.url(t.Subscriber)
	return func(_ context.Context, m message, err error) error {
		if d.DeadLetter == nil {
			b.Log.Error("event dropped: no dead-letter sink", "trigger", t.Name, "id", m.ce.ID())
			return nil
		}
		code, reason := 0, err.Error()
		var f *failure
		if errors.As(err, &f) {
			code, reason = f.code, f.reason
		}
		dl := m.ce.Clone()
		dl.SetExtension("knativeerrordest", target)
		dl.SetExtension("knativeerrorcode", fmt.Sprint(code))
		dl.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString([]byte(reason)))
		res := b.client.Send(sdk.ContextWithTarget(context.Background(), b.url(*d.DeadLetter)), dl)
		if !deliveredOK(res) {
			b.Log.Error("dead-letter sink failed", "trigger", t.Name, "id", m.ce.ID(), "err", res)
		}
		return nil
	}
}

// post delivers e in binary mode, as Knative's dispatcher does, and returns
// the reply event (if the subscriber sent one), the status and the body.
func (b *Broker) post(ctx context.Context, target string, e CloudEvent) (*CloudEvent, int, string, error) {
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
