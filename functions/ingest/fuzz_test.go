package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/cmd/transcept/lambda"
	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
)

// minioNotification is MinIO's webhook body for one upload.
const minioNotification = `{"EventName":"s3:ObjectCreated:Put","Key":"raw-inputs/lec-1/My%20Lecture%2B1.txt","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-27T01:00:00.000Z","eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"minioadmin"},"requestParameters":{"principalId":"minioadmin","region":"","sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"17F0A1"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"raw-inputs","ownerIdentity":{"principalId":"minioadmin"},"arn":"arn:aws:s3:::raw-inputs"},"object":{"key":"lec-1%2FMy+Lecture%2B1.txt","size":40,"eTag":"6b1d0ab4b0e1b4a5b1c8d0f00e1a2b3c","contentType":"text/plain","sequencer":"17F0A1"}},"source":{"host":"127.0.0.1","port":"","userAgent":"MinIO (linux; amd64) minio-go/v7.0.70"}}]}`

// objects are the uploads that exist in the store: the only keys a
// notification can make ingest announce.
var objects = []string{"lec-1/My Lecture+1.txt", "20261127-005212-3f9a1c2e/notes.srt", "_reserved/x.txt"}

// recorder is the Broker: it keeps the CloudEvents ingest sends.
type recorder struct {
	mu  sync.Mutex
	got []cloudevents.Event
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	e, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, *e)
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (r *recorder) take() []cloudevents.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// FuzzNotification feeds S3 event notifications to ingest, as MinIO's
// webhook posts them (Handle) and as a Lambda receives them (lambda.S3,
// decoded the way the Lambda runtime does): never a panic or a 5xx; every
// event sent names an object that exists, by a key that passes
// lecture.ValidateKey, in raw-inputs, with its lecture id.
func FuzzNotification(f *testing.F) {
	dir := f.TempDir()
	for _, k := range objects {
		p := filepath.Join(dir, lecture.BucketRaw, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("Prof: Entropy never decreases."), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	rec := &recorder{}
	sink := httptest.NewServer(rec)
	f.Cleanup(sink.Close)
	fn := ingest.New()
	cfg := map[string]string{"TRANSCEPT_STORE_DIR": dir, "TRANSCEPT_LOG_LEVEL": "error", "K_SINK": sink.URL}
	if err := fn.Start(context.Background(), cfg); err != nil {
		f.Fatal(err)
	}
	s3 := lambda.S3(fn)

	for _, s := range []string{
		minioNotification,
		strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `..%2F..%2Fetc%2Fpasswd`),
		strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `20261127-005212-3f9a1c2e/notes.srt`),
		strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `_reserved%2Fx.txt`),
		strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `lec-1%2F..%2Flec-1%2FMy+Lecture%2B1.txt`),
		strings.ReplaceAll(minioNotification, `lec-1%2FMy+Lecture%2B1.txt`, `lec-1%2FMy%ZZ`),
		strings.ReplaceAll(minioNotification, `"name":"raw-inputs"`, `"name":"preprocessed"`),
		strings.ReplaceAll(minioNotification, `"eventName":"s3:ObjectCreated:Put"`, `"eventName":"s3:ObjectRemoved:Delete"`),
		`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"raw-inputs"},"object":{"key":"lec-1/My Lecture+1.txt"}}}]}`,
		`{"Records":[]}`,
		`{"Records":null}`,
		`{not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec.take()
		w := httptest.NewRecorder()
		fn.Handle(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body))))
		if w.Code >= 500 {
			t.Fatalf("Handle: %d %s", w.Code, w.Body)
		}
		got := rec.take()
		if w.Code == http.StatusOK {
			var res struct {
				Sent int `json:"events_sent"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Sent != len(got) {
				t.Fatalf("Handle answered %s, the sink got %d events", w.Body, len(got))
			}
		} else if len(got) > 0 {
			t.Fatalf("Handle answered %d after sending %d events", w.Code, len(got))
		}
		checkSent(t, got)

		var n awsevents.S3Event
		if json.Unmarshal(body, &n) != nil {
			return
		}
		if err := s3(context.Background(), n); err != nil {
			t.Fatalf("lambda.S3: %v", err)
		}
		checkSent(t, rec.take())
	})
}

func checkSent(t *testing.T, sent []cloudevents.Event) {
	t.Helper()
	for _, ce := range sent {
		e, err := eventing.FromCloudEvent(ce)
		if err != nil {
			t.Fatalf("ingest sent %s: %v", ce, err)
		}
		d := e.Data
		if err := lecture.ValidateKey(d.Key); err != nil {
			t.Fatalf("ingest sent key %q: %v", d.Key, err)
		}
		known := false
		for _, k := range objects {
			known = known || k == d.Key
		}
		if !known || e.Type != lecture.LectureUploaded || d.Bucket != lecture.BucketRaw ||
			!strings.HasPrefix(d.Key, d.LectureID+"/") || strings.HasPrefix(d.LectureID, "_") {
			t.Fatalf("ingest sent %+v", e)
		}
	}
}
