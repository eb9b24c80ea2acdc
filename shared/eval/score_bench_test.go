package eval

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
)

func academicMeeting(b *testing.B) QMSumMeeting {
	m, err := LoadQMSumFile(filepath.Join(dataDir(b), "qmsum", "Academic", "val", "Bed002.json"))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkExtractiveSummary: a ~10k-word academic meeting, cleaning,
// segmentation and selection included (goal ≤ 20 ms on one core).
func BenchmarkExtractiveSummary(b *testing.B) {
	tr := QMSumTranscript(academicMeeting(b))
	sm := extractive.New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sm.Summarize(context.Background(), text.Sentences(tr), lecture.SummarizeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(text.WordCount(tr.Text())), "words")
}

// BenchmarkBM25Answer: one question over one indexed lecture (goal ≤ 2 ms).
func BenchmarkBM25Answer(b *testing.B) {
	ix := retrieval.NewIndex("", text.Sentences(QMSumTranscript(academicMeeting(b))))
	a := retrieval.NewAnswerer()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Answer(context.Background(), ix, "What did they decide about the XML format of the data?"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetrieval3h: BM25 search and a full extractive answer over a
// three-hour lecture (27k words at 150 words a minute: QMSum academic
// meetings back to back). Goal: retrieval ≤ 5 ms.
func BenchmarkRetrieval3h(b *testing.B) {
	ms, err := LoadQMSum(filepath.Join(dataDir(b), "qmsum", "Academic", "val"))
	if err != nil {
		b.Fatal(err)
	}
	var sents []lecture.Sentence
	words := 0
	for _, m := range ms {
		for _, s := range text.Sentences(QMSumTranscript(m)) {
			s.Index = len(sents)
			sents = append(sents, s)
			words += text.WordCount(s.Text)
		}
		if words >= 27000 {
			break
		}
	}
	ix := retrieval.NewIndex("", sents)
	a := retrieval.NewAnswerer()
	b.Run("search", func(b *testing.B) {
		for b.Loop() {
			ix.Search("What did they decide about the XML format of the data?", 5)
		}
		b.ReportMetric(float64(words), "words")
	})
	b.Run("answer", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.Answer(context.Background(), ix, "What did they decide about the XML format of the data?"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
