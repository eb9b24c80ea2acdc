package eventing

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/infra"
	"github.com/transcept/transcept/shared/lecture"
)

func TestISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT1S": time.Second, "PT0.5S": 500 * time.Millisecond, "PT1H": time.Hour, "P1DT2H": 26 * time.Hour, "PT2M30S": 150 * time.Second} {
		if got, err := ISODuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1s", "P", "PT", "PTXS"} {
		if _, err := ISODuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLoadInfraTriggers(t *testing.T) {
	c, err := Load("../../infra")
	if err != nil {
		t.Skipf("infra/ not readable: %v", err)
	}
	if c.Broker != "transcept" || c.Delivery.Retry < 1 || c.Delivery.DeadLetter == nil {
		t.Errorf("broker: %+v", c)
	}
	for _, typ := range lecture.EventTypes {
		found := false
		for _, tr := range c.Triggers {
			found = found || tr.Filter["type"] == typ
		}
		if !found {
			t.Errorf("no trigger for %s", typ)
		}
	}
}

func ev(typ string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("1")
	e.SetSource("/t")
	e.SetType(typ)
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"lecture_id": "x"})
	return e
}

func TestRetriesRepliesAndDeadLetter(t *testing.T) {
	var fails atomic.Int64
	var mu sync.Mutex
	var gotNext, dead []cloudevents.Event
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(1) <= 2 {
			http.Error(w, "busy", 503)
			return
		}
		reply := ev("next")
		_ = cehttp.WriteResponseWriter(r.Context(), binaryMsg(reply), 200, w)
	}))
	defer flaky.Close()
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, _ := cehttp.NewEventFromHTTPRequest(r)
		mu.Lock()
		gotNext = append(gotNext, *e)
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer next.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "poisoned input", 500) }))
	defer broken.Close()
	dls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, _ := cehttp.NewEventFromHTTPRequest(r)
		mu.Lock()
		dead = append(dead, *e)
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer dls.Close()
	d := DeliverySpec{Retry: 3, BackoffDelay: time.Millisecond, DeadLetter: &Destination{Service: "dls", URI: "/dead-letter"}}
	c := &Config{Broker: "b", Delivery: d, Triggers: []TriggerSpec{
		{Name: "a", Filter: map[string]string{"type": "first"}, Subscriber: Destination{Service: "flaky"}},
		{Name: "b", Filter: map[string]string{"type": "next"}, Subscriber: Destination{Service: "next"}},
		{Name: "c", Filter: map[string]string{"type": "poison"}, Subscriber: Destination{Service: "broken"}},
	}}
	b, err := NewBroker(c, map[string]string{"flaky": flaky.URL, "next": next.URL, "broken": broken.URL, "dls": dls.URL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b.Dispatch(ev("first"))
	b.Dispatch(ev("poison"))
	b.Dispatch(ev("unrouted"))
	b.Wait()
	if fails.Load() != 3 || len(gotNext) != 1 {
		t.Errorf("flaky tried %d times, reply delivered %d times", fails.Load(), len(gotNext))
	}
	if len(dead) != 1 || dead[0].Type() != "poison" {
		t.Fatalf("dead letters: %v", dead)
	}
	data, _ := base64.StdEncoding.DecodeString(dead[0].Extensions()["knativeerrordata"].(string))
	if dead[0].Extensions()["knativeerrorcode"] != "500" || string(data) != "poisoned input" {
		t.Errorf("dead letter extensions: %v (%s)", dead[0].Extensions(), data)
	}
}

func TestMissingRouteIsAnError(t *testing.T) {
	c := &Config{Triggers: []TriggerSpec{{Name: "a", Subscriber: Destination{Service: "nowhere"}}}}
	if _, err := NewBroker(c, map[string]string{}, slog.Default()); err == nil {
		t.Error("a trigger without a route was accepted")
	}
}

// The embedded copy of infra/eventing reads as the folder does.
func TestEmbeddedTriggersAreInfras(t *testing.T) {
	dir, err := Load("../../infra")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := Parse(infra.Eventing())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dir, emb) {
		t.Errorf("embedded %+v\nfolder %+v", emb, dir)
	}
}

func TestLinearAndExponentialBackoff(t *testing.T) {
	b := New(1, slog.Default(), EventMeta)
	exp := &Trigger[lecture.Event]{Policy: &Policy{Backoff: time.Second}}
	lin := &Trigger[lecture.Event]{Policy: &Policy{Backoff: time.Second, Linear: true}}
	b.MaxDelay = 0
	for attempt, want := range map[int][2]time.Duration{1: {time.Second, time.Second}, 2: {2 * time.Second, 2 * time.Second}, 3: {4 * time.Second, 3 * time.Second}, 5: {16 * time.Second, 5 * time.Second}} {
		if e, l := b.delay(exp, attempt), b.delay(lin, attempt); e != want[0] || l != want[1] {
			t.Errorf("attempt %d: exponential %v, linear %v; want %v", attempt, e, l, want)
		}
	}
}
