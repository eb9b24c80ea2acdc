package functions_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	fce "knative.dev/func-go/cloudevents"

	"github.com/transcept/transcept/functions/transcribe"
	"github.com/transcept/transcept/shared/events"
)

func TestStageFailureIs5xx(t *testing.T) {
	f := transcribe.New()
	if ready, _ := f.Ready(context.Background()); ready {
		t.Fatal("ready before Start")
	}
	if err := f.Start(context.Background(), map[string]string{"TRANSCEPT_STORE_DIR": t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fce.New(f).Handler)
	defer srv.Close()
	ce, _ := events.ToCloudEvent(events.New(events.LectureUploaded, events.Ref{LectureID: "nope", Bucket: "raw-inputs", Key: "nope/x.txt", ContentHash: "h"}))
	c, _ := cloudevents.NewClientHTTP()
	_, res := c.Request(cloudevents.ContextWithTarget(context.Background(), srv.URL), ce)
	if ok, code := events.Delivered(res); ok || code != 500 {
		t.Fatalf("a failing stage answered %v", res)
	}
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
	resp, _ := http.DefaultClient.Do(req)
	t.Logf("garbage: %d", resp.StatusCode)
}
