package eval

import (
	"context"
	"os"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

// echoTranscriber "hears" the reference (or nothing): WER 0 (or 1).
type echoTranscriber struct {
	refs  map[string]string
	empty bool
}

func (e *echoTranscriber) Name() string  { return "echo" }
func (e *echoTranscriber) Model() string { return "" }
func (e *echoTranscriber) Transcribe(ctx context.Context, path string, o lecture.TranscribeOptions, p lecture.Progress) (*lecture.Transcript, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	text := e.refs[path]
	if e.empty {
		text = ""
	}
	return &lecture.Transcript{Segments: []lecture.Segment{{Start: 0, End: 1, Text: text}}}, nil
}

func TestWEROverTheSpeechClips(t *testing.T) {
	clips, err := SpeechClips(dataDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) < 11 {
		t.Fatalf("found %d clips, want jfk and 10 FLEURS at least", len(clips))
	}
	refs := map[string]string{}
	for _, c := range clips {
		refs[c.Path] = c.Reference
	}
	rows, err := TranscriptionWER(context.Background(), &echoTranscriber{refs: refs}, clips, "en")
	if err != nil {
		t.Fatal(err)
	}
	if all := rows[len(rows)-1]; all.Set != "all" || all.Clips != len(clips) || all.Result.WER != 0 {
		t.Errorf("perfect transcriber: %+v", all)
	}
	rows, _ = TranscriptionWER(context.Background(), &echoTranscriber{refs: refs, empty: true}, clips, "en")
	if all := rows[len(rows)-1]; all.Result.WER != 1 {
		t.Errorf("deaf transcriber: %+v", all)
	}
}
