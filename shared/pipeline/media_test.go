package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
)

// Documents named as recordings are refused by their first bytes, with
// what they are; real recordings are not taken for documents.
func TestNotMedia(t *testing.T) {
	for head, want := range map[string]string{
		"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj":  "a PDF document",
		"PK\x03\x04\x14\x00\x06\x00\x08\x00":    "an archive or office document",
		"\x7fELF\x02\x01\x01\x00\x00\x00\x00":   "a program",
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR":   "an image",
		"<!DOCTYPE html><html><body>hi":         "a web page",
		"Today we study entropy and heat flow.": "text (upload transcripts as .txt, .srt, .vtt or .json)",
	} {
		if got := pipeline.NotMedia([]byte(head)); got != want {
			t.Errorf("NotMedia(%.12q) = %q, want %q", head, got, want)
		}
	}
	dir := filepath.Join(eval.DataDir(), "audio")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("evaluation clips: %v", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || len(b) < 512 {
			continue
		}
		if got := pipeline.NotMedia(b[:512]); got != "" {
			t.Errorf("the recording %s is taken for %s", e.Name(), got)
		}
	}
	for _, head := range [][]byte{{0xFF, 0xFB, 0x90, 0x44, 0x00}, []byte("ID3\x04\x00\x00\x00\x00\x00\x23"), []byte("OggS\x00\x02"), []byte("fLaC\x00\x00\x00\x22"), []byte("RIFF\x24\x08\x00\x00WAVEfmt "), []byte("\x00\x00\x00\x18ftypmp42")} {
		if got := pipeline.NotMedia(head); got != "" {
			t.Errorf("the recording header %q is taken for %s", head, got)
		}
	}
	svc, _, _ := newService(t, nil)
	svc.Transcriber = &blockingTranscriber{release: make(chan struct{})}
	_, _, err = svc.CreateMediaLecture(context.Background(), "slides.mp3", "", "", strings.NewReader("%PDF-1.4\n"+strings.Repeat("x", 2000)))
	if lecture.ErrorCode(err) != lecture.EUNSUPPORTED || !strings.Contains(err.Error(), "slides.mp3 is a PDF document, not a recording") {
		t.Errorf("a PDF named .mp3: %v", err)
	}
}
