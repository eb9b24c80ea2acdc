package extractive

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/text"
)

// syllables and glue build a deterministic vocabulary of made-up content
// words mixed with English function words, so that generated sentences
// differ from one another the way a long lecture's do.
var (
	syllables = strings.Fields("ka lo mi ne tra vel qui son dor pha ble zin cur mo ta ri gen sul ex pan")
	glue      = strings.Fields("the of and to in is that it for on as with this we by at from so but which")
)

// largeTranscript returns a timed transcript of about mb megabytes of
// varied sentences, paragraphs of 40 sentences per segment.
func largeTranscript(mb float64) *lecture.Transcript {
	r := rand.New(rand.NewPCG(11, 3))
	vocab := make([]string, 20000)
	for i := range vocab {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		vocab[i] = b.String()
	}
	limit := int(mb * (1 << 20))
	var (
		tr   lecture.Transcript
		seg  strings.Builder
		size int
		t    float64
	)
	for n := 0; size < limit; n++ {
		words := 8 + r.IntN(18)
		for k := range words {
			var w string
			if r.IntN(3) == 0 {
				w = glue[r.IntN(len(glue))]
			} else {
				f := r.Float64()
				w = vocab[int(f*f*float64(len(vocab)))] // skewed: some words recur often
			}
			if k == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			seg.WriteString(w)
			if k < words-1 {
				seg.WriteByte(' ')
			}
		}
		seg.WriteString(". ")
		if n%40 == 39 {
			s := seg.String()
			size += len(s)
			tr.Segments = append(tr.Segments, lecture.Segment{Start: t, End: t + 120, Text: s})
			t += 120
			seg.Reset()
		}
	}
	return &tr
}

func largeSentences(tb testing.TB, mb float64) []lecture.Sentence {
	tb.Helper()
	return text.Sentences(largeTranscript(mb))
}

// BenchmarkSummarizeLarge times text.Sentences and Summarize on generated
// transcripts of 5, 20 and 50 MB; cpu-s/op is the process's CPU time, a
// steadier figure than ns/op on a shared machine.
func BenchmarkSummarizeLarge(b *testing.B) {
	if testing.Short() {
		b.Skip("large inputs: not under -short")
	}
	for _, mb := range []float64{5, 20, 50} {
		b.Run(fmt.Sprintf("%gMB", mb), func(b *testing.B) {
			tr := largeTranscript(mb)
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				sents := text.Sentences(tr)
				sum, err := New().Summarize(context.Background(), sents, lecture.SummarizeOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(sents)), "sentences")
				b.ReportMetric(float64(len(sum.Bullets)), "bullets")
			}
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// generatedSentences is largeTranscript's text as sentences, without the
// cleaning pass (faster, for the tests that count work).
func generatedSentences(n int) []lecture.Sentence {
	var out []lecture.Sentence
	for _, seg := range largeTranscript(float64(n) * 160 / (1 << 20)).Segments {
		for _, p := range strings.SplitAfter(seg.Text, ". ") {
			if p = strings.TrimSpace(p); p != "" && len(out) < n {
				out = append(out, lecture.Sentence{Index: len(out), Text: p, Span: lecture.Span{Start: float64(len(out)), End: float64(len(out)) + 1}})
			}
		}
	}
	return out
}

// cosine is the plain merge of two term lists that pickIndex replaces.
func cosine(a, b *sent) float64 {
	if a.norm == 0 || b.norm == 0 {
		return 0
	}
	var dot float64
	i, j := 0, 0
	for i < len(a.ids) && j < len(b.ids) {
		switch {
		case a.ids[i] == b.ids[j]:
			dot += a.w[i] * b.w[j]
			i++
			j++
		case a.ids[i] < b.ids[j]:
			i++
		default:
			j++
		}
	}
	return dot / (a.norm * b.norm)
}

func TestPickIndexMatchesCosine(t *testing.T) {
	sents := append(generatedSentences(3000), lectureSentences()...)
	ss, nterms, err := New().vectorise(context.Background(), sents)
	if err != nil {
		t.Fatal(err)
	}
	px := newPickIndex(nterms)
	var picked []int
	for i := 0; i < len(ss); i += 7 {
		px.add(&ss[i], len(picked))
		picked = append(picked, i)
	}
	for c := 3; c < len(ss); c += 5 {
		from := c % len(picked)
		var want float64
		for _, p := range picked[from:] {
			want = max(want, cosine(&ss[p], &ss[c]))
		}
		if got, _ := px.maxCosine(ss, picked, &ss[c], from); got != want {
			t.Fatalf("sentence %d from pick %d: index gives %v, cosines %v", c, from, got, want)
		}
	}
}

// TestSelectionWorkIsLinear counts the similarity work of the selection
// (postings visited). Each candidate meets only the picks, which grow with
// the input up to MaxBullets, so the work per sentence stays bounded: no
// size costs more than perSentence visits a sentence, and from 6,000
// sentences (near the cap) on, four times the sentences cost at most five
// times the work. (Below, 1,500 to 6,000 sentences is ×10.7 as the picks
// grow, from 39 to 103 visits a sentence.)
func TestSelectionWorkIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100k sentences")
	}
	const perSentence = 200
	work := func(n int) int64 {
		sents := generatedSentences(n)
		c0 := selectionWork.Load()
		if _, err := New().Summarize(context.Background(), sents, lecture.SummarizeOptions{}); err != nil {
			t.Fatal(err)
		}
		w := selectionWork.Load() - c0
		t.Logf("%6d sentences: %8d visits, %.0f a sentence", n, w, float64(w)/float64(n))
		if w > perSentence*int64(n) {
			t.Errorf("%d sentences cost %d visits, over %d a sentence", n, w, perSentence)
		}
		return w
	}
	work(1500)
	prev := work(6000)
	for _, n := range []int{24000, 96000} {
		w := work(n)
		if w > 5*prev {
			t.Errorf("selection work grew from %d to %d (×%.1f) for 4× the sentences (%d to %d)", prev, w, float64(w)/float64(prev), n/4, n)
		}
		prev = w
	}
}

func TestSummarizeStopsWhenCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20 MB input")
	}
	sents := largeSentences(t, 20)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancelled = time.Now()
		cancel()
	}()
	_, err := New().Summarize(ctx, sents, lecture.SummarizeOptions{})
	lag := time.Since(cancelled)
	if !errors.Is(err, context.Canceled) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Fatalf("want a cancelled EUNAVAILABLE error, got %v", err)
	}
	t.Logf("returned %v after the cancel", lag)
	// ~200 ms is the aim; the bound leaves room for a loaded machine.
	if lag > time.Second {
		t.Errorf("returned %v after the cancel", lag)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	_, err = New().Summarize(dctx, sents, lecture.SummarizeOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Fatalf("want a deadline EUNAVAILABLE error, got %v", err)
	}
}

func TestSummaryCappedAtMaxBullets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 30k sentences")
	}
	sum, err := New().Summarize(context.Background(), generatedSentences(30000), lecture.SummarizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Bullets) != MaxBullets {
		t.Errorf("%d bullets; want the cap, %d", len(sum.Bullets), MaxBullets)
	}
}
