package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	fce "knative.dev/func-go/cloudevents"
	fhttp "knative.dev/func-go/http"

	"github.com/transcept/transcept/cmd/transcept/lambda"
	"github.com/transcept/transcept/functions/gateway"
	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/functions/segment"
	"github.com/transcept/transcept/functions/transcribe"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
)

func cfg(dir string, extra ...string) map[string]string {
	m := map[string]string{"TRANSCEPT_STORE_DIR": dir, "TRANSCEPT_LOG_LEVEL": "error"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func TestStageFailureIs5xx(t *testing.T) {
	f := transcribe.New()
	if ready, _ := f.Ready(context.Background()); ready {
		t.Fatal("ready before Start")
	}
	if err := f.Start(context.Background(), cfg(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fce.New(f).Handler)
	defer srv.Close()
	ce, _ := eventing.ToCloudEvent(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "nope", Bucket: "raw-inputs", Key: "nope/x.txt", ContentHash: "h"}))
	c, _ := cloudevents.NewClientHTTP()
	_, res := c.Request(cloudevents.ContextWithTarget(context.Background(), srv.URL), ce)
	if ok, code := eventing.Delivered(res); ok || code != 500 {
		t.Fatalf("a failing stage answered %d", code)
	}
	// Not our event: 400, retrying cannot help.
	other := cloudevents.NewEvent()
	other.SetID("1")
	other.SetSource("/x")
	other.SetType("com.example.other")
	_, res = c.Request(cloudevents.ContextWithTarget(context.Background(), srv.URL), other)
	if _, code := eventing.Delivered(res); code != 400 {
		t.Errorf("foreign event: %d", code)
	}
}

// The stages chain through CloudEvents replies: uploaded -> transcript -> chunks.
func TestStagesReplyWithTheNextEvent(t *testing.T) {
	dir := t.TempDir()
	gw := gateway.New()
	if err := gw.Start(context.Background(), cfg(dir)); err != nil {
		t.Fatal(err)
	}
	// Upload through the gateway's API (it writes raw-inputs; in the
	// cluster MinIO's notification then reaches ingest).
	rec := httptest.NewRecorder()
	gw.Handle(rec, httptest.NewRequest("POST", "/lectures?name=l.txt", strings.NewReader("Prof: Entropy never decreases.\nProf: Heat flows from hot to cold.\n")))
	if rec.Code != 202 {
		t.Fatalf("gateway upload: %d %s", rec.Code, rec.Body)
	}
	var up struct{ ID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &up)

	tr, sg := transcribe.New(), segment.New()
	for _, f := range []interface {
		Start(context.Context, map[string]string) error
	}{tr, sg} {
		if err := f.Start(context.Background(), cfg(dir)); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := eventing.ToCloudEvent(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: up.ID, Bucket: "raw-inputs", Key: up.ID + "/l.txt", ContentHash: "etag:x"}))
	out, err := tr.Handle(context.Background(), in)
	if err != nil || out == nil || out.Type() != lecture.TranscriptReady {
		t.Fatalf("transcribe: %v %v", out, err)
	}
	out2, err := sg.Handle(context.Background(), *out)
	if err != nil || out2 == nil || out2.Type() != lecture.ChunksReady {
		t.Fatalf("segment: %v %v", out2, err)
	}
	var ref lecture.Ref
	_ = out2.DataAs(&ref)
	if ref.LectureID != up.ID || ref.Key != up.ID+"/chunks.json" || ref.ContentHash != "etag:x" {
		t.Errorf("reply reference %+v", ref)
	}
	if _, err := os.Stat(filepath.Join(dir, "preprocessed", up.ID, "chunks.json")); err != nil {
		t.Errorf("chunks.json not written: %v", err)
	}
}

// MinIO's notification JSON, as its webhook target posts it.
const minioNotification = `{"EventName":"s3:ObjectCreated:Put","Key":"raw-inputs/lec-1/My%20Lecture%2B1.txt","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-27T01:00:00.000Z","eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"minioadmin"},"requestParameters":{"principalId":"minioadmin","region":"","sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-id-2":"dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8","x-amz-request-id":"17F0A1","x-minio-deployment-id":"a1","x-minio-origin-endpoint":"http://127.0.0.1:9000"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"raw-inputs","ownerIdentity":{"principalId":"minioadmin"},"arn":"arn:aws:s3:::raw-inputs"},"object":{"key":"lec-1%2FMy+Lecture%2B1.txt","size":40,"eTag":"6b1d0ab4b0e1b4a5b1c8d0f00e1a2b3c","contentType":"text/plain","userMetadata":{"content-type":"text/plain"},"sequencer":"17F0A1"}},"source":{"host":"127.0.0.1","port":"","userAgent":"MinIO (linux; amd64) minio-go/v7.0.70"}}]}`

// sink records the CloudEvents ingest sends.
type sink struct {
	mu  sync.Mutex
	got []cloudevents.Event
	srv *httptest.Server
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, *e)
		s.mu.Unlock()
		w.WriteHeader(202)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func startIngest(t *testing.T, sinkURL string) (*ingest.Function, string) {
	dir := t.TempDir()
	f := ingest.New()
	if err := f.Start(context.Background(), cfg(dir, "K_SINK", sinkURL)); err != nil {
		t.Fatal(err)
	}
	// The object the notification names.
	p := filepath.Join(dir, "raw-inputs", "lec-1", "My Lecture+1.txt")
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	_ = os.WriteFile(p, []byte("Prof: Entropy never decreases in isolation."), 0o644)
	return f, dir
}

func TestIngestMinIOWebhook(t *testing.T) {
	s := newSink(t)
	f, _ := startIngest(t, s.srv.URL)
	srv := httptest.NewServer(fhttp.New(f).Handler)
	defer srv.Close()

	// MinIO probes the target first.
	req, _ := http.NewRequest("HEAD", srv.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD probe: %v %v", resp, err)
	}
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(minioNotification))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("notification: %v %v", resp, err)
	}
	if len(s.got) != 1 {
		t.Fatalf("sink got %d events", len(s.got))
	}
	e, err := eventing.FromCloudEvent(s.got[0])
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != lecture.LectureUploaded || e.Data.LectureID != "lec-1" || e.Data.Key != "lec-1/My Lecture+1.txt" || e.Data.ContentHash != "etag:6b1d0ab4b0e1b4a5b1c8d0f00e1a2b3c" {
		t.Errorf("event %+v", e)
	}
	// Garbage is a 400, not a retry loop.
	resp, _ = http.Post(srv.URL, "application/json", strings.NewReader("{not json"))
	if resp.StatusCode != 400 {
		t.Errorf("garbage notification: %d", resp.StatusCode)
	}
	// A hostile key is skipped, not sent.
	hostile := strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `..%2F..%2Fetc%2Fpasswd`)
	resp, _ = http.Post(srv.URL, "application/json", strings.NewReader(hostile))
	if resp.StatusCode != 200 || len(s.got) != 1 {
		t.Errorf("hostile key: %d, %d events", resp.StatusCode, len(s.got))
	}
}

func TestIngestBrokerDownIs5xx(t *testing.T) {
	s := newSink(t)
	f, _ := startIngest(t, s.srv.URL)
	s.srv.Close() // the Broker is gone: MinIO must retry
	rec := httptest.NewRecorder()
	f.Handle(rec, httptest.NewRequest("POST", "/", strings.NewReader(minioNotification)))
	if rec.Code/100 != 5 {
		t.Errorf("broker down: %d", rec.Code)
	}
}

func TestLambdaS3Event(t *testing.T) {
	s := newSink(t)
	f, _ := startIngest(t, s.srv.URL)
	var e awsevents.S3Event
	if err := json.Unmarshal([]byte(minioNotification), &e); err != nil {
		t.Fatal(err)
	}
	if err := lambda.S3(f)(context.Background(), e); err != nil || len(s.got) != 1 {
		t.Fatalf("S3 event: %v, %d events", err, len(s.got))
	}
}

// An API Gateway HTTP API (payload 2.0) event, as AWS sends it.
const apiGatewayEvent = `{"version":"2.0","routeKey":"POST /summarize","rawPath":"/summarize","rawQueryString":"","headers":{"content-type":"application/json","host":"abc.execute-api.eu-west-1.amazonaws.com"},"requestContext":{"accountId":"123456789012","apiId":"abc","domainName":"abc.execute-api.eu-west-1.amazonaws.com","http":{"method":"POST","path":"/summarize","protocol":"HTTP/1.1","sourceIp":"192.0.2.1","userAgent":"curl/8.0"},"requestId":"id","routeKey":"POST /summarize","stage":"$default","time":"27/Nov/2026:01:00:00 +0000","timeEpoch":1795740000000},"body":"eyJ0ZXh0IjogIlRvZGF5IHdlIHN0dWR5IGVudHJvcHkuIFRoZSBzZWNvbmQgbGF3IHNheXMgZW50cm9weSBuZXZlciBkZWNyZWFzZXMgaW4gYW4gaXNvbGF0ZWQgc3lzdGVtLiBIZWF0IGZsb3dzIGZyb20gaG90IHRvIGNvbGQuIn0=","isBase64Encoded":true}`

func TestLambdaAPIGateway(t *testing.T) {
	gw := gateway.New()
	if err := gw.Start(context.Background(), cfg(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	var req awsevents.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(apiGatewayEvent), &req); err != nil {
		t.Fatal(err)
	}
	resp, err := lambda.HTTP(http.HandlerFunc(gw.Handle))(context.Background(), req)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"bullets"`) || !strings.Contains(resp.Headers["Content-Type"], "json") {
		t.Fatalf("lambda /summarize: %v %+v", err, resp)
	}
	req.RawPath, req.RequestContext.HTTP.Method, req.Body, req.IsBase64Encoded = "/lectures/nope-1", "GET", "", false
	resp, _ = lambda.HTTP(http.HandlerFunc(gw.Handle))(context.Background(), req)
	if resp.StatusCode != 404 {
		t.Errorf("unknown lecture through lambda: %d", resp.StatusCode)
	}
}

func TestDeadLetterRecorded(t *testing.T) {
	dir := t.TempDir()
	gw := gateway.New()
	if err := gw.Start(context.Background(), cfg(dir)); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	gw.Handle(rec, httptest.NewRequest("POST", "/lectures?name=l.txt", strings.NewReader("Some lecture text here.")))
	var up struct{ ID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &up)
	ce, _ := eventing.ToCloudEvent(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: up.ID, Bucket: "raw-inputs", Key: up.ID + "/l.txt"}))
	ce.SetExtension("knativeerrorcode", "500")
	ce.SetExtension("knativeerrordata", "dHJhbnNjcmliZTogbW9kZWwgbWlzc2luZw==") // "transcribe: model missing"
	req, _ := http.NewRequest("POST", "/dead-letter", nil)
	if err := cehttp.WriteRequest(context.Background(), binaryMessage(ce), req); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	gw.Handle(rec, req)
	if rec.Code != 202 {
		t.Fatalf("dead letter: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	gw.Handle(rec, httptest.NewRequest("GET", "/lectures/"+up.ID, nil))
	var l lecture.Lecture
	_ = json.Unmarshal(rec.Body.Bytes(), &l)
	if l.Status != lecture.StatusFailed || !strings.Contains(l.Error.Message, "model missing") {
		t.Errorf("status after dead letter: %+v %+v", l.Status, l.Error)
	}
}

func TestStopDrainsAndRefusesNewWork(t *testing.T) {
	f := segment.New()
	if err := f.Start(context.Background(), cfg(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	done, err := f.Enter()
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- f.Stop(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("Stop returned with work in flight")
	default:
	}
	if ready, _ := f.Ready(context.Background()); ready {
		t.Error("ready while stopping")
	}
	if _, err := f.Enter(); err == nil {
		t.Error("new work accepted while stopping")
	}
	done()
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

func TestEveryFunctionStarts(t *testing.T) {
	for _, name := range functionNames() {
		inst, m := registry[name].New()
		extra := []string{}
		if name == "ingest" {
			extra = []string{"K_SINK", "http://127.0.0.1:1"}
		}
		if err := inst.Start(context.Background(), cfg(t.TempDir(), extra...)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if ready, _ := inst.Ready(context.Background()); !ready || m == nil {
			t.Errorf("%s not ready after Start", name)
		}
		_ = inst.Stop(context.Background())
	}
	if err := ingest.New().Start(context.Background(), cfg(t.TempDir())); err == nil || !strings.Contains(err.Error(), "K_SINK") {
		t.Errorf("ingest without K_SINK: %v", err)
	}
	_ = fmt.Sprint
	_ = io.Discard
	_ = bytes.MinRead
}
