package wire

import (
	"context"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/transcript"
)

// The fault settings make the summary engine slow or failing; unset, the
// engine is the one configured, unwrapped.
func TestFaultSettings(t *testing.T) {
	tr, err := transcript.Parse([]byte("Entropy never decreases in an isolated system. Heat flows from hot to cold. The Carnot cycle bounds efficiency."), transcript.Text)
	if err != nil {
		t.Fatal(err)
	}
	sents := text.Sentences(tr)
	run := func(env map[string]string) (time.Duration, error, lecture.Summarizer) {
		c, err := config.FromMap(env)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Summarizer(c)
		if err != nil {
			t.Fatal(err)
		}
		sum, _ = withFaults(c, sum, nil)
		start := time.Now()
		_, err = sum.Summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 0.5})
		return time.Since(start), err, sum
	}
	if _, err, sum := run(nil); err != nil {
		t.Fatalf("no fault: %v", err)
	} else if _, wrapped := sum.(faultySummarizer); wrapped {
		t.Error("the engine is wrapped with the fault settings unset")
	}
	if took, err, _ := run(map[string]string{"TRANSCEPT_FAULT_DELAY": "150ms"}); err != nil || took < 150*time.Millisecond {
		t.Errorf("delay 150ms: took %v, err %v", took, err)
	}
	_, err, _ = run(map[string]string{"TRANSCEPT_FAULT_ERROR_RATE": "1"})
	if lecture.ErrorCode(err) != lecture.EINTERNAL {
		t.Errorf("error rate 1: %v, want an internal error", err)
	}
	if _, err := config.FromMap(map[string]string{"TRANSCEPT_FAULT_ERROR_RATE": "1.5"}); err == nil {
		t.Error("TRANSCEPT_FAULT_ERROR_RATE=1.5 accepted")
	}
}
