package retrieval

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

func manySentences(n int) []lecture.Sentence {
	topics := []string{"entropy", "energy", "momentum", "temperature", "pressure", "volume", "work", "heat"}
	sents := make([]lecture.Sentence, n)
	for i := range sents {
		sents[i] = lecture.Sentence{Index: i, Text: fmt.Sprintf("In example %d the %s of the gas changes its %s under load.", i, topics[i%8], topics[(i*3+1)%8]), Span: lecture.Span{Start: float64(i), End: float64(i) + 1}}
	}
	return sents
}

func TestNewIndexContext(t *testing.T) {
	sents := manySentences(20000)
	ix, err := NewIndexContext(context.Background(), "l", sents)
	if err != nil {
		t.Fatal(err)
	}
	plain := NewIndex("l", sents)
	if len(ix.Passages) != len(plain.Passages) || fmt.Sprint(ix.Search("entropy of the gas in example 77", 3)) != fmt.Sprint(plain.Search("entropy of the gas in example 77", 3)) {
		t.Errorf("NewIndexContext differs from NewIndex")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewIndexContext(ctx, "l", sents); !errors.Is(err, context.Canceled) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("cancelled: want a cancelled EUNAVAILABLE error, got %v", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if err := plain.BuildContext(dctx); !errors.Is(err, context.DeadlineExceeded) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("past deadline: want a deadline EUNAVAILABLE error, got %v", err)
	}
}
