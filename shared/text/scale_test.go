package text

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// Tokenised transcripts are full of "word , ." once the markers between
// are dropped; each used to copy the whole cleaned text so far.
func TestCleanIsLinear(t *testing.T) {
	unit := "we said so , . The {disfmarker} the model um works , OK ? "
	if got := Clean(strings.Repeat(unit, 2)); got != "we said so. The model works, OK? we said so. The model works, OK?" {
		t.Fatalf("Clean = %q", got)
	}
	a := allocated(func() { Clean(strings.Repeat(unit, 5000)) })
	b := allocated(func() { Clean(strings.Repeat(unit, 20000)) })
	t.Logf("allocated %d then %d bytes (×%.2f)", a, b, float64(b)/float64(a))
	if b > 5*a {
		t.Errorf("4× the text allocated ×%.1f (%d to %d bytes)", float64(b)/float64(a), a, b)
	}
}

// countingTokens is Estimate that counts the characters it is asked about.
type countingTokens struct{ chars *int }

func (c countingTokens) CountTokens(s string) int {
	*c.chars += len(s)
	return Estimate{}.CountTokens(s)
}

// splitToBudgetBisect is the previous splitToBudget: a binary search over
// the whole remaining sentence for every piece.
func splitToBudgetBisect(s string, budget int, tc TokenCounter) []string {
	words := strings.Fields(s)
	var out []string
	for len(words) > 0 {
		lo, hi := 1, len(words)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if tc.CountTokens(strings.Join(words[:mid], " ")) <= budget {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		out = append(out, strings.Join(words[:lo], " "))
		words = words[lo:]
	}
	return out
}

func TestSplitToBudgetSameAndLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vocab := strings.Fields("a an entropy of thermodynamics, x (y) 3.5 naïve supercalifragilistic — ok? 12345678901234567890")
	sentence := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[r.IntN(len(vocab))]
		}
		return strings.Join(ws, " ")
	}
	for range 300 {
		s, budget := sentence(1+r.IntN(200)), 1+r.IntN(40)
		got, want := splitToBudget(s, budget, Estimate{}), splitToBudgetBisect(s, budget, Estimate{})
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("budget %d, %q:\n got %q\nwant %q", budget, s, got, want)
		}
	}
	work := func(n int) int {
		chars := 0
		splitToBudget(sentence(n), 126, countingTokens{&chars})
		return chars
	}
	a, b := work(20000), work(80000)
	t.Logf("counted %d then %d characters (×%.2f)", a, b, float64(b)/float64(a))
	if b > 5*a {
		t.Errorf("4× the words counted ×%.1f the characters (%d to %d)", float64(b)/float64(a), a, b)
	}
}

func TestNormalizeInPiecesIsNFKC(t *testing.T) {
	defer func(n int) { nfkcPiece = n }(nfkcPiece)
	r := rand.New(rand.NewPCG(3, 4))
	runes := []rune("aeﬁ\u0301\u0308\u0323\u0327e\u0300한국어\u1100\u1161\u11a8ＡＢ①½ﬃ \t\u00a0Å\u212b\u0345\u0f73\u0fb3\u0f80")
	st := &stopper{ctx: context.Background()}
	for range 2000 {
		var b strings.Builder
		for range r.IntN(80) {
			if r.IntN(20) == 0 { // a long run of combining marks
				b.WriteString(strings.Repeat("\u0301", 20+r.IntN(40)))
			}
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		s := b.String()
		nfkcPiece = 1 + r.IntN(12)
		if got, want := normalize(s, st), normalize(s, nil); got != want {
			t.Fatalf("pieces of %d: %q normalises to\n%q, whole to\n%q", nfkcPiece, s, got, want)
		}
	}
}

func TestSentencesContextStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 16 MB segment")
	}
	// One huge segment, as a pasted text without blank lines arrives.
	tr := &lecture.Transcript{Segments: []lecture.Segment{{Start: 0, End: 3600, Text: strings.Repeat("So we 're on , . The {disfmarker} the model um works well for the data, OK ? ", 200000)}}}
	ctx, cancel := context.WithCancel(context.Background())
	var at time.Time
	go func() {
		time.Sleep(50 * time.Millisecond)
		at = time.Now()
		cancel()
	}()
	_, err := SentencesContext(ctx, tr)
	lag := time.Since(at)
	if !errors.Is(err, context.Canceled) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Fatalf("want a cancelled EUNAVAILABLE error, got %v", err)
	}
	t.Logf("returned %v after the cancel", lag)
	if lag > time.Second { // ~milliseconds; the bound leaves room for a loaded machine
		t.Errorf("returned %v after the cancel", lag)
	}
	small := &lecture.Transcript{Segments: []lecture.Segment{{Start: 0, End: 9, Text: tr.Segments[0].Text[:1<<16]}}}
	got, err := SentencesContext(context.Background(), small)
	if want := Sentences(small); err != nil || len(got) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d sentences, %v; Sentences gives %d", len(got), err, len(want))
	}
}
