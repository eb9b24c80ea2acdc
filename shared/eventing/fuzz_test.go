package eventing

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/transcept/transcept/shared/lecture"
)

// FuzzFromCloudEvent: a structured-mode CloudEvent (the JSON a Broker or a
// dead-letter sink delivers), and a binary-mode one with arbitrary data,
// read with FromCloudEvent: never a panic; what it accepts is one of our
// types with a lecture id and the event's id (as the SDK's setters trim
// it), and survives ToCloudEvent and back unchanged.
func FuzzFromCloudEvent(f *testing.F) {
	for _, s := range []struct{ doc, data string }{
		{`{"specversion":"1.0","id":"a1","source":"/transcept/pipeline","type":"transcept.lecture.uploaded","subject":"lec-1","time":"2026-11-27T01:00:00Z","datacontenttype":"application/json","data":{"lecture_id":"lec-1","bucket":"raw-inputs","key":"lec-1/x.txt","content_hash":"etag:abc","size":40}}`,
			`{"lecture_id":"lec-1","bucket":"raw-inputs","key":"lec-1/x.txt","content_hash":"etag:abc"}`},
		{`{"specversion":"1.0","id":"b2","source":"/x","type":"transcept.summary.ready","data_base64":"eyJsZWN0dXJlX2lkIjoibDIifQ=="}`,
			`{"lecture_id":"l2","model_version":"bart@1"}`},
		{`{"specversion":"1.0","id":"c3","source":"/x","type":"com.example.other","data":{}}`, `{}`},
		{`{"specversion":"1.0","id":"d4","source":"/x","type":"transcept.lecture.failed","data":{"lecture_id":""}}`, `{"lecture_id":1}`},
		{`{"specversion":"0.3","id":"e5","source":"/x","type":"transcept.chunks.ready","datacontenttype":"text/plain","data":"lecture_id"}`, `null`},
		{`{`, `[`},
	} {
		f.Add([]byte(s.doc), []byte(s.data), uint8(0))
	}
	f.Fuzz(func(t *testing.T, doc, data []byte, typ uint8) {
		var structured cloudevents.Event
		if json.Unmarshal(doc, &structured) == nil {
			checkCloudEvent(t, structured)
		}
		binary := cloudevents.New()
		binary.SetID("fuzz")
		binary.SetSource("/fuzz")
		binary.SetType(lecture.EventTypes[int(typ)%len(lecture.EventTypes)])
		if binary.SetData(cloudevents.ApplicationJSON, data) == nil {
			checkCloudEvent(t, binary)
		}
	})
}

func checkCloudEvent(t *testing.T, ce cloudevents.Event) {
	e, err := FromCloudEvent(ce)
	if err != nil {
		return
	}
	known := false
	for _, typ := range lecture.EventTypes {
		known = known || typ == e.Type
	}
	if !known || e.Data.LectureID == "" || e.ID != strings.TrimSpace(ce.ID()) || e.Type != ce.Type() {
		t.Fatalf("FromCloudEvent accepted %+v from %s", e, ce)
	}
	back, err := ToCloudEvent(e)
	if err != nil {
		return // an id or source the CloudEvents spec refuses; not ours to make
	}
	e2, err := FromCloudEvent(back)
	if err != nil {
		t.Fatalf("FromCloudEvent(ToCloudEvent(%+v)): %v", e, err)
	}
	if !e2.Time.Equal(e.Time) {
		t.Fatalf("time changed: %v -> %v", e.Time, e2.Time)
	}
	e2.Time = e.Time
	if !reflect.DeepEqual(e2, e) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", e2, e)
	}
}
