package wire

import (
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
)

// The local process subscribes its stages as the Knative Triggers of
// infra/eventing do, under the names its journal keys jobs by.
func TestLocalTriggersFromInfra(t *testing.T) {
	want := []struct{ name, typ string }{
		{"transcribe", lecture.LectureUploaded},
		{"segment", lecture.TranscriptReady},
		{"summarize", lecture.ChunksReady},
		{"index", lecture.ChunksReady},
	}
	got := localTriggers(&pipeline.Service{})
	if len(got) != len(want) {
		t.Fatalf("%d local triggers, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Handler == nil {
			t.Errorf("trigger %d: %q, want %q", i, got[i].Name, w.name)
		}
		for _, typ := range lecture.EventTypes {
			if m := got[i].Match(lecture.NewEvent(typ, lecture.Ref{LectureID: "l"})); m != (typ == w.typ) {
				t.Errorf("trigger %s matches %s: %v", w.name, typ, m)
			}
		}
	}
}
