package tests

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is what the receiver keeps of one span.
type otlpSpan struct {
	service, name     string
	trace, id, parent string
	attrs             map[string]string
}

// otlpReceiver is an OTLP/HTTP trace receiver (POST /v1/traces, protobuf),
// the test's collector.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
	srv   *httptest.Server
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func attrString(v *common.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *common.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *common.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	default:
		return ""
	}
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.Error(w, "POST /v1/traces", http.StatusNotFound)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ex coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &ex); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range ex.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = attrString(a.GetValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := otlpSpan{service: service, name: s.GetName(), trace: hex.EncodeToString(s.GetTraceId()),
					id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()), attrs: map[string]string{}}
				for _, a := range s.GetAttributes() {
					sp.attrs[a.GetKey()] = attrString(a.GetValue())
				}
				r.spans = append(r.spans, sp)
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) all() []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpSpan(nil), r.spans...)
}

// One upload through the functions yields one trace: a span per stage in
// each function's process (service.name transcept-<function>), each stage's
// span a child of the broker's delivery span, itself a child of the stage
// that emitted the event (trace context carried in the CloudEvents'
// traceparent extension).
func TestTracingFunctionsEndToEnd(t *testing.T) {
	text, _ := meetingText(t, "Bed002.json")
	rcv := startOTLPReceiver(t)
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rcv.srv.URL, "OTEL_TRACES_EXPORTER=otlp", "OTEL_BSP_SCHEDULE_DELAY=100"}
	c := startClusterEnv(t, otel, map[string][]string{"broker": otel})

	const id = "traced01"
	c.upload(id, "meeting.txt", []byte(text))
	c.waitArtifact(id, "summary.json", 60*time.Second)
	c.waitArtifact(id, "index.json", 30*time.Second)

	stages := []string{"ingest", "transcribe", "segment", "summarize", "index"}
	var spans []otlpSpan
	var traceID string
	// complete reports whether the trace of an ingest of the upload holds
	// a span of every stage, and every parent its spans name.
	complete := func(trace string) bool {
		ids := map[string]bool{}
		have := map[string]bool{}
		for _, s := range spans {
			if s.trace == trace {
				ids[s.id] = true
				have[s.service+" "+s.name] = true
			}
		}
		for _, st := range stages {
			if !have["transcept-"+st+" stage "+st] {
				return false
			}
		}
		// Each process exports on its own schedule: the broker's delivery
		// span ends after the stage's.
		for _, s := range spans {
			if s.trace == trace && s.parent != "" && !ids[s.parent] {
				return false
			}
		}
		return true
	}
	find := func() bool {
		spans = rcv.all()
		traceID = ""
		for _, s := range spans {
			if s.name == "stage ingest" && s.attrs["transcept.lecture_id"] == id && complete(s.trace) {
				traceID = s.trace
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(15 * time.Second)
	for !find() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}

	byID := map[string]otlpSpan{}
	traces := map[string][]string{} // trace id -> the upload's stage spans
	ingests := 0
	for _, s := range spans {
		if s.trace == traceID {
			byID[s.id] = s
		}
		if strings.HasPrefix(s.name, "stage ") && s.attrs["transcept.lecture_id"] == id {
			traces[s.trace] = append(traces[s.trace], s.service+": "+s.name)
		}
		if s.name == "stage ingest" && s.attrs["transcept.lecture_id"] == id {
			ingests++
		}
	}
	if traceID == "" {
		t.Fatalf("no complete trace of the upload (%d spans received; stage spans by trace: %v)", len(spans), traces)
	}
	// One trace per notification of the upload (MinIO may notify twice):
	// every stage span of the upload is in the trace of one of its ingests.
	if len(traces) != ingests {
		t.Fatalf("the upload's stage spans are in %d traces, for %d ingests: %v", len(traces), ingests, traces)
	}
	if ingests > 1 {
		t.Logf("MinIO notified %d times: %d traces", ingests, ingests)
	}
	services := map[string]bool{}
	for _, s := range byID {
		services[s.service] = true
	}
	for i, st := range stages {
		var mine []otlpSpan
		for _, s := range byID {
			if s.name == "stage "+st {
				mine = append(mine, s)
			}
		}
		if len(mine) == 0 {
			var have []string
			for s := range services {
				have = append(have, s)
			}
			sort.Strings(have)
			t.Fatalf("trace %s has no span \"stage %s\" (services: %v)", traceID, st, have)
		}
		for _, s := range mine {
			if s.service != "transcept-"+st {
				t.Errorf("stage %s span from service %q", st, s.service)
			}
			if s.attrs["transcept.lecture_id"] != id {
				t.Errorf("stage %s span: lecture id %q", st, s.attrs["transcept.lecture_id"])
			}
			if i == 0 {
				continue
			}
			// Later stages: the parent is the broker's delivery, whose
			// parent is the stage that emitted the event, in its process.
			p, ok := byID[s.parent]
			if !ok {
				t.Errorf("stage %s: parent span %s is not in the trace", st, s.parent)
				continue
			}
			if p.service != "transcept-broker" || !strings.HasPrefix(p.name, "deliver ") {
				t.Errorf("stage %s: parent %q of %s, want the broker's delivery", st, p.name, p.service)
				continue
			}
			if pp, ok := byID[p.parent]; !ok || !strings.HasPrefix(pp.name, "stage ") || pp.service == s.service || pp.service == p.service {
				t.Errorf("stage %s: the delivery's parent %q (%s) is not the emitting stage", st, pp.name, pp.service)
			}
		}
	}
	// Model runs and store calls are spans of their stage's process.
	want := map[string]string{"model summarize": "transcept-summarize", "store put": "transcept-segment", "store get": "transcept-summarize"}
	for name, svc := range want {
		found := false
		for _, s := range byID {
			found = found || (s.name == name && s.service == svc)
		}
		if !found {
			t.Errorf("no span %q from %s in the trace", name, svc)
		}
	}
	for _, s := range byID {
		if s.name == "model summarize" && (s.attrs["transcept.model.engine"] == "" || s.attrs["transcept.model.output_words"] == "") {
			t.Errorf("model span without engine or output size: %v", s.attrs)
		}
	}
	t.Logf("trace %s: %d spans from %d services", traceID, len(byID), len(services))
	if t.Failed() {
		for _, s := range byID {
			t.Logf("  %s %q %s <- %s %v", s.service, s.name, s.id, s.parent, s.attrs)
		}
	}
}
